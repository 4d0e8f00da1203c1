import { type FeedFrame, feedFrame, type RunEvent } from './schemas.js';

/**
 * The raw feed's framing, both ends: one line of JSON per frame, and after a log frame's line
 * the `bytes` bytes of log it announces. Log text is never put inside JSON, so a job printing
 * hundreds of megabytes costs a line of JSON per chunk, not an encode and decode of every byte.
 */
const NEWLINE = 0x0a;

/**
 * What a reader takes out of the stream: an event, or where the page ended. A log event also
 * carries its bytes as they came: its text is decoded only if asked for, so a consumer that
 * can pass bytes on as they are never turns them into a string.
 */
export type FeedItem = { event: RunEvent; bytes?: Buffer } | { next: number; done: boolean };

/** The frame's line (JSON cannot hold a raw newline, so the line ends where the JSON does). */
export function encodeFrameHead(head: object): Buffer {
  return Buffer.from(`${JSON.stringify(head)}\n`);
}

/**
 * Reads frames from a byte stream cut anywhere: `push` takes the next piece and answers the
 * items it completed. Frame lines are checked against `feedFrame`; a malformed one throws.
 */
export class FeedFrameReader {
  #pieces: Buffer[] = [];
  #held = 0;
  /** The log frame whose bytes are being read, and how many of them are still to come. */
  #log?: { head: Extract<FeedFrame, { bytes: number }>; missing: number };

  push(piece: Uint8Array): FeedItem[] {
    this.#pieces.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    this.#held += piece.byteLength;
    const items: FeedItem[] = [];
    for (;;) {
      if (this.#log) {
        if (this.#held < this.#log.missing) return items;
        const body = this.#take(this.#log.missing);
        const { bytes: _, ...head } = this.#log.head;
        this.#log = undefined;
        items.push({ event: { ...head, data: lazyText(body) }, bytes: body });
        continue;
      }
      const line = this.#line();
      if (line === undefined) return items;
      const frame = feedFrame.parse(JSON.parse(line));
      if ('bytes' in frame) this.#log = { head: frame, missing: frame.bytes };
      else if ('kind' in frame) items.push({ event: frame });
      else items.push(frame);
    }
  }

  /** Bytes held but not yet a whole frame: a stream that ends with some was cut short. */
  get pending(): number {
    return this.#held;
  }

  /** The next whole line, without its newline; undefined until one has arrived. */
  #line(): string | undefined {
    let seen = 0;
    for (const piece of this.#pieces) {
      const at = piece.indexOf(NEWLINE);
      if (at >= 0) {
        const line = this.#take(seen + at + 1);
        return line.toString('utf8', 0, line.length - 1);
      }
      seen += piece.length;
    }
    return undefined;
  }

  #take(n: number): Buffer {
    const first = this.#pieces[0];
    let out: Buffer;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#pieces.shift();
      else this.#pieces[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.#pieces);
      out = all.subarray(0, n);
      this.#pieces = all.length > n ? [all.subarray(n)] : [];
    }
    this.#held -= n;
    return out;
  }
}

/** A log event's data whose text is decoded from `body` when first read. */
function lazyText(body: Buffer): { text: string } {
  let text: string | undefined;
  return {
    get text() {
      // Chunks end on character boundaries (the agent and the cap cut there): each decodes alone.
      text ??= body.toString('utf8');
      return text;
    },
  };
}
