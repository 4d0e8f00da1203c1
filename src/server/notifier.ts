import { EventEmitter } from 'node:events';

/**
 * Wake-ups between the parts of the coordinator: run feeds (`run:<id>`), cancellation
 * (`job:<id>`), pools with new work (`pool:<name>`) and agents asked to drain (`agent:<id>`).
 * A notification carries no data and may be lost or arrive twice: every waiter re-reads the
 * store when woken and also re-checks on a timer, so an implementation only has to make the
 * common case fast. In-process for one coordinator; over PostgreSQL LISTEN/NOTIFY for replicas
 * (`postgres-notifier.ts`), chosen where the server is composed.
 */
export interface Notifier {
  /** Wakes every current waiter on `topic`; returns without waiting for them. */
  notify(topic: string): void;
  /** Resolves on the next notification of `topic`, after `timeoutMs`, or when `signal` aborts; never rejects. */
  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Calls `listener` on every notification of `topic` until the returned function is called. */
  subscribe(topic: string, listener: () => void): () => void;
}

/** Local waiters of a notifier, by topic: what every implementation wakes at once. */
export class LocalTopics {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(topic: string): void {
    this.emitter.emit(topic);
  }

  /** Topics someone waits on now (a reconnected listener wakes them all: it may have missed some). */
  topics(): string[] {
    return this.emitter.eventNames().filter((t): t is string => typeof t === 'string');
  }

  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(topic, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.emitter.once(topic, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  subscribe(topic: string, listener: () => void): () => void {
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }
}

/** Wakes waiters inside this process only: right for one coordinator. */
export class InProcessNotifier implements Notifier {
  private readonly local = new LocalTopics();

  notify(topic: string): void {
    this.local.emit(topic);
  }

  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.local.wait(topic, timeoutMs, signal);
  }

  subscribe(topic: string, listener: () => void): () => void {
    return this.local.subscribe(topic, listener);
  }
}
