import { type ApiClient, answerDetail } from '../protocol/index.js';
import { sleep } from '../shared/clock.js';
import { AuthError, LeaseLostError, NotFoundError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface LeaseKeeperOptions {
  client: ApiClient;
  jobId: string;
  epoch: number;
  leaseToken: string;
  leaseTtlMs: number;
  logger: Logger;
  /** The server asked to cancel the job. */
  onCancel: () => void;
  /** The lease is gone (refused, or not renewed within its lifetime): stop the job at once. */
  onLost: (reason: string) => void;
}

/**
 * Renews the job's lease for as long as the job runs. Each heartbeat is held open by the
 * server, so a cancel arrives the moment it is asked for rather than at the next beat.
 */
export class LeaseKeeper {
  private readonly stopped = new AbortController();
  private done: Promise<void> = Promise.resolve();
  private renewedAt = Date.now();

  constructor(private readonly o: LeaseKeeperOptions) {}

  /**
   * Starts renewing. The claim has just granted the lease, so the first beat may wait for
   * `settled` (the job's setup is done), or a third of the lease, whichever comes first: at a
   * warm start it would only compete with the setup's own requests.
   */
  start(settled?: Promise<unknown>): void {
    this.done = this.loop(settled);
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    await this.done;
  }

  private async loop(settled?: Promise<unknown>): Promise<void> {
    const waitMs = Math.min(30_000, Math.max(0, Math.floor(this.o.leaseTtlMs / 3)));
    if (settled) await Promise.race([settled.catch(() => undefined), sleep(waitMs, this.stopped.signal)]);
    let canceled = false;
    let failures = 0;
    while (!this.stopped.signal.aborted) {
      try {
        const beat = await this.o.client.heartbeat(
          this.o.jobId,
          { epoch: this.o.epoch, waitMs: canceled ? 0 : waitMs },
          { token: this.o.leaseToken, timeoutMs: waitMs + 10_000, signal: this.stopped.signal },
        );
        this.renewedAt = Date.now();
        failures = 0;
        if (beat.cancel && !canceled) {
          canceled = true;
          this.o.onCancel();
        }
        // Once canceled the server answers at once; keep the lease alive at a calm pace while steps stop.
        if (canceled) await sleep(Math.min(waitMs, 2_000), this.stopped.signal);
      } catch (err) {
        if (this.stopped.signal.aborted) return;
        if (err instanceof LeaseLostError || err instanceof AuthError || err instanceof NotFoundError) {
          this.o.onLost(`the server refused the lease: ${answerDetail(err) ?? err.message}`);
          return;
        }
        // Unreachable server: keep trying while the lease may still be valid, then give up the job.
        if (Date.now() - this.renewedAt >= this.o.leaseTtlMs) {
          this.o.onLost('the lease expired while the server was unreachable');
          return;
        }
        failures++;
        this.o.logger.warn({ err: (err as Error).message, failures }, 'heartbeat failed; retrying');
        await sleep(
          Math.min(5_000, 250 * 2 ** Math.min(failures, 5)) * Math.random() + 100,
          this.stopped.signal,
        );
      }
    }
  }
}
