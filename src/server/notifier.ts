import { EventEmitter } from 'node:events';

/**
 * Wake-ups between the parts of the coordinator: run feeds (`run:<id>`), cancellation
 * (`job:<id>`) and pools with new work (`pool:<name>`). A notification carries no data and may
 * be lost or arrive twice: every waiter re-reads the store when woken and also re-checks on a
 * timer, so an implementation only has to make the common case fast. In-process now; replicas
 * sharing PostgreSQL add one over LISTEN/NOTIFY, chosen where the server is composed.
 */
export interface Notifier {
  /** Wakes every current waiter on `topic`; returns without waiting for them. */
  notify(topic: string): void;
  /** Resolves on the next notification of `topic`, after `timeoutMs`, or when `signal` aborts; never rejects. */
  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/** Wakes waiters inside this process only: right for one coordinator. */
export class InProcessNotifier implements Notifier {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notify(topic: string): void {
    this.emitter.emit(topic);
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
}
