import { EventEmitter } from 'node:events';

/**
 * Wakes waiters inside this process: run feeds (`run:<id>`), cancellation (`job:<id>`) and
 * pools with new work (`pool:<name>`). Replicas sharing PostgreSQL will add LISTEN/NOTIFY
 * behind the same three calls; until then every waiter also re-checks on a timer.
 */
export class Notifier {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  notify(topic: string): void {
    this.emitter.emit(topic);
  }

  /** Resolves on the next notification of `topic`, after `timeoutMs`, or when `signal` aborts. */
  wait(topic: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
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
