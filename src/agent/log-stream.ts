import { type ApiClient, ConnectionError, MAX_LOG_CHUNK_BYTES, withRetry } from '../protocol/index.js';
import { AuthError, LeaseLostError, LogGapError } from '../shared/errors.js';
import { SecretMasker } from '../shared/index.js';

const FLUSH_DELAY_MS = 100;
/** Chunks are sent at most this big, whatever a step prints without a newline. */
export const MAX_CHUNK_BYTES = Math.min(256 * 1024, MAX_LOG_CHUNK_BYTES);
/** The latest chunks sent are kept this long (in bytes): a server that lost them gets them again. */
const RESEND_WINDOW_BYTES = 4 * MAX_CHUNK_BYTES;
/** Times one chunk may be answered `log_gap` before the log counts as not stored. */
const MAX_GAP_RESENDS = 3;

interface Chunk {
  offset: number;
  data: string;
  bytes: number;
}

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
  private pendingBytes = 0;
  private offset = 0;
  private timer?: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private dead = false;
  private truncated = false;
  private failed?: string;
  /** The latest chunks sent, oldest first, at most RESEND_WINDOW_BYTES (and always the last one). */
  private recent: Chunk[] = [];
  private recentBytes = 0;

  constructor(private readonly o: LogStreamOptions) {
    this.masker = new SecretMasker(o.secrets);
  }

  /** Why this log could not be stored, if it could not: the step it belongs to has failed. */
  get failure(): string | undefined {
    return this.failed;
  }

  addSecret(secret: string): void {
    this.masker.addSecret(secret);
  }

  write(text: string): void {
    const masked = this.masker.write(text);
    this.pending += masked;
    // Counted as it grows: measuring the whole pending text on each line made a log of short
    // lines cost quadratic time.
    this.pendingBytes += Buffer.byteLength(masked);
    if (this.pendingBytes >= MAX_CHUNK_BYTES) this.flushNow();
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
    this.pendingBytes = 0;
    this.sending = this.sending.then(() => this.send(data));
  }

  private async send(data: string): Promise<void> {
    for (const piece of splitUtf8(data, MAX_CHUNK_BYTES)) {
      if (this.dead) return;
      const chunk = { offset: this.offset, data: piece, bytes: Buffer.byteLength(piece) };
      this.offset += chunk.bytes;
      // Past the pool's cap the server keeps nothing more: there is no point sending it.
      if (this.truncated) continue;
      this.keep(chunk);
      try {
        await this.append(chunk);
      } catch (err) {
        this.dead = true;
        // A server out of reach for a whole lease has let the lease go (or will, when it is back):
        // the attempt is lost, not failed, so the job runs again where it may.
        if (err instanceof LeaseLostError || err instanceof AuthError || err instanceof ConnectionError) {
          this.o.onLeaseLost();
        } else this.failed = (err as Error).message;
      }
    }
  }

  /**
   * Sends one chunk. A `log_gap` answer means the server has less of this log than was sent
   * before (it lost the latest chunks): those go again from its stored length, then this one.
   */
  private async append(chunk: Chunk, gaps = 0): Promise<void> {
    try {
      const res = await withRetry(
        () =>
          this.o.client.appendLog(
            this.o.jobId,
            { epoch: this.o.epoch, step: this.o.step, offset: chunk.offset, data: chunk.data },
            { token: this.o.leaseToken() },
          ),
        { deadlineMs: this.o.retryForMs },
      );
      if (res.truncated) this.truncated = true;
    } catch (err) {
      if (!(err instanceof LogGapError) || gaps >= MAX_GAP_RESENDS) throw err;
      const from = this.recent.findIndex((c) => c.offset + c.bytes > err.length);
      const first = this.recent[from];
      if (!first || first.offset > err.length) {
        throw new Error(
          `the server has ${err.length} bytes of this log and lost what came after; only bytes from ${first?.offset ?? chunk.offset} are still held`,
        );
      }
      // Resending from a chunk's own start is harmless: the server skips what it has.
      for (const c of this.recent.slice(from)) await this.append(c, gaps + 1);
    }
  }

  private keep(chunk: Chunk): void {
    this.recent.push(chunk);
    this.recentBytes += chunk.bytes;
    while (this.recent.length > 1 && this.recentBytes > RESEND_WINDOW_BYTES)
      this.recentBytes -= this.recent.shift()!.bytes;
  }
}

/** Cuts text into pieces of at most `max` UTF-8 bytes, never inside a character. */
export function splitUtf8(text: string, max: number): string[] {
  if (Buffer.byteLength(text) <= max) return [text];
  const bytes = Buffer.from(text, 'utf8');
  const pieces: string[] = [];
  for (let start = 0; start < bytes.length; ) {
    let end = Math.min(start + max, bytes.length);
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    pieces.push(bytes.toString('utf8', start, end));
    start = end;
  }
  return pieces;
}
