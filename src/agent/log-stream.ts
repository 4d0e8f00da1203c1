import { type ApiClient, HttpError, withRetry } from '../protocol/client.js';
import { SecretMasker } from './secret-masker.js';

const FLUSH_DELAY_MS = 100;
const MAX_CHUNK_BYTES = 256 * 1024;

export interface LogStreamOptions {
  client: ApiClient;
  jobId: string;
  epoch: number;
  /** -1 for job-level lines, else the step index. */
  step: number;
  leaseToken: () => string;
  secrets: Iterable<string>;
  /** Keep retrying a chunk this long (the lease): a short network cut loses nothing. */
  retryForMs: number;
  /** Called once when the server refuses our epoch: the lease is gone. */
  onLeaseLost: () => void;
}

/**
 * One step's log on its way to the server: masked first, batched, sent in order with the byte
 * offset of each chunk so a resend after a timeout or reconnect is harmless.
 */
export class LogStream {
  private readonly masker: SecretMasker;
  private pending = '';
  private offset = 0;
  private timer?: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private dead = false;

  constructor(private readonly o: LogStreamOptions) {
    this.masker = new SecretMasker(o.secrets);
  }

  addSecret(secret: string): void {
    this.masker.addSecret(secret);
  }

  write(text: string): void {
    this.pending += this.masker.write(text);
    if (Buffer.byteLength(this.pending) >= MAX_CHUNK_BYTES) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), FLUSH_DELAY_MS);
  }

  /** Sends what is safe to send now and waits until the server has it; the stream stays open. */
  async sync(): Promise<void> {
    this.flushNow();
    await this.sending;
  }

  /** Sends everything still held back, and waits until the server has it. */
  async close(): Promise<void> {
    this.pending += this.masker.flush();
    this.flushNow();
    await this.sending;
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '') return;
    const data = this.pending;
    this.pending = '';
    this.sending = this.sending.then(() => this.send(data));
  }

  private async send(data: string): Promise<void> {
    if (this.dead) return;
    const offset = this.offset;
    this.offset += Buffer.byteLength(data);
    try {
      await withRetry(
        () =>
          this.o.client.request(`jobs/${this.o.jobId}/logs`, {
            token: this.o.leaseToken(),
            body: { epoch: this.o.epoch, step: this.o.step, offset, data },
          }),
        { deadlineMs: this.o.retryForMs },
      );
    } catch (err) {
      this.dead = true;
      if (err instanceof HttpError && (err.status === 409 || err.status === 401)) this.o.onLeaseLost();
    }
  }
}
