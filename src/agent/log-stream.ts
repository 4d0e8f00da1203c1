import { type ApiClient, ConnectionError, MAX_LOG_CHUNK_BYTES, withRetry } from '../protocol/index.js';
import { AuthError, LeaseLostError, LogGapError } from '../shared/errors.js';
import { SecretMasker } from '../shared/index.js';

const FLUSH_DELAY_MS = 100;
/** Chunks are sent at most this big, whatever a step prints without a newline. */
export const MAX_CHUNK_BYTES = MAX_LOG_CHUNK_BYTES;
/**
 * Held back this much, an append goes out as soon as the one before it is answered: a job that
 * prints fast gets batches as big as what it printed meanwhile, one round trip per batch.
 */
const EAGER_BYTES = 64 * 1024;
/** The latest chunks sent are kept this long (in bytes): a server that lost them gets them again. */
const RESEND_WINDOW_BYTES = 4 * MAX_CHUNK_BYTES;
/** Times one chunk may be answered `log_gap` before the log counts as not stored. */
const MAX_GAP_RESENDS = 3;

interface Chunk {
  offset: number;
  data: Buffer;
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
 * One step's log on its way to the server: masked first, batched, sent in order as raw bytes
 * with the byte offset of each chunk so a resend after a timeout or reconnect is harmless. One
 * append is in flight at a time; what the step prints meanwhile goes in the next one.
 */
export class LogStream {
  private readonly masker: SecretMasker;
  private pending = '';
  private pendingBytes = 0;
  private offset = 0;
  private timer?: NodeJS.Timeout;
  /** The sender while it runs: it takes what is pending until nothing is. */
  private sending?: Promise<void>;
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
    if (masked === '') return;
    this.pending += masked;
    // Counted as it grows: measuring the whole pending text on each line made a log of short
    // lines cost quadratic time.
    this.pendingBytes += Buffer.byteLength(masked);
    if (this.pendingBytes >= EAGER_BYTES) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), FLUSH_DELAY_MS);
  }

  /** Sends what is safe to send now and waits until the server has it; the stream stays open. */
  async sync(): Promise<void> {
    await this.drained();
  }

  /** Sends everything still held back, and waits until the server has it. */
  async close(): Promise<void> {
    const rest = this.masker.flush();
    this.pending += rest;
    this.pendingBytes += Buffer.byteLength(rest);
    await this.drained();
  }

  /** Until everything written so far is sent (the sender leaves small leftovers to its timer). */
  private async drained(): Promise<void> {
    for (;;) {
      this.flushNow();
      if (!this.sending) return;
      await this.sending;
    }
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending === '' || this.sending) return;
    this.sending = this.pump().finally(() => {
      this.sending = undefined;
    });
  }

  /** Sends what is pending, in order, until nothing is; small leftovers wait for the timer. */
  private async pump(): Promise<void> {
    while (this.pending !== '') {
      const data = Buffer.from(this.pending);
      this.pending = '';
      this.pendingBytes = 0;
      await this.send(data);
      if (this.pendingBytes < EAGER_BYTES) break;
    }
    if (this.pending !== '') this.timer ??= setTimeout(() => this.flushNow(), FLUSH_DELAY_MS);
  }

  private async send(data: Buffer): Promise<void> {
    for (const piece of splitUtf8Bytes(data, MAX_CHUNK_BYTES)) {
      if (this.dead) return;
      const chunk = { offset: this.offset, data: piece, bytes: piece.length };
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
  return splitUtf8Bytes(Buffer.from(text, 'utf8'), max).map((piece) => piece.toString('utf8'));
}

/** Cuts UTF-8 bytes into pieces of at most `max` bytes, never inside a character (views, not copies). */
export function splitUtf8Bytes(bytes: Buffer, max: number): Buffer[] {
  if (bytes.length <= max) return [bytes];
  const pieces: Buffer[] = [];
  for (let start = 0; start < bytes.length; ) {
    let end = Math.min(start + max, bytes.length);
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    pieces.push(bytes.subarray(start, end));
    start = end;
  }
  return pieces;
}
