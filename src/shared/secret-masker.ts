import { ValidationError } from './errors.js';

/**
 * Secrets shorter than this are refused: masking `abc` would shred ordinary log text, and a
 * value that short is no secret anyway.
 */
export const MIN_SECRET_LENGTH = 4;

/** What every masked run of text becomes. */
export const MASK = '***';

/**
 * Refuses a secret value that cannot be masked usefully. The message names the secret and never
 * shows its value, because validation errors end up in logs and API answers.
 */
export function validateSecretValue(name: string, value: string): void {
  if (characterCount(value) < MIN_SECRET_LENGTH) {
    throw new ValidationError(
      `secret ${JSON.stringify(name)} is too short: secrets must be at least ${MIN_SECRET_LENGTH} characters`,
    );
  }
}

/**
 * Every string that gives a secret away in a log: the raw value, its base64 encoding at each of
 * the three byte alignments, its URL-encoded and JSON-escaped forms, and the same for each line
 * of a multi-line secret.
 *
 * Known limit: only these single transforms are covered. Double base64, hex, base64url, gzip,
 * reversed or otherwise re-encoded values, and a secret printed one character at a time with
 * other text in between, all pass through. Masking is a safety net, not a guarantee.
 */
export function secretForms(secret: string): string[] {
  const forms = new Set<string>();
  const values = [secret];
  const lines = secret.split(/\r\n|\r|\n/);
  if (lines.length > 1) values.push(...lines.filter((line) => characterCount(line) >= MIN_SECRET_LENGTH));
  for (const value of values) {
    forms.add(value);
    forms.add(JSON.stringify(value).slice(1, -1));
    try {
      forms.add(encodeURIComponent(value));
    } catch {
      // A lone surrogate has no URL encoding, so nothing can print the secret that way.
    }
    for (const form of base64Forms(value)) forms.add(form);
  }
  forms.delete('');
  return [...forms];
}

/**
 * The secret's bytes may start at any offset of a longer base64 stream, so for each of the three
 * alignments keep only the characters made entirely of the secret's own bits: the ones that
 * also carry a neighbouring byte change with the surrounding data.
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    // Trailing zero bytes keep `=` padding out of the characters we keep.
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes, Buffer.alloc(3)]).toString('base64');
    const first = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * (offset + bytes.length)) / 6);
    if (end > first) forms.push(encoded.slice(first, end));
  }
  return forms;
}

function characterCount(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/**
 * Aho–Corasick over UTF-16 code units: one pass over the text whatever the number of patterns,
 * and, unlike one combined regex, it sees overlapping matches and cannot backtrack badly on
 * output that almost matches many patterns.
 */
class PatternMatcher {
  readonly maxLength: number;
  private readonly next: Map<number, number>[] = [new Map()];
  private readonly fail: number[] = [0];
  /** Length of the longest pattern that ends at this node (itself or via its fail chain), or 0. */
  private readonly longest: number[] = [0];
  /** Length of the text a node stands for: how much of a pattern the text ending here has begun. */
  private readonly depth: number[] = [0];

  constructor(patterns: readonly string[]) {
    this.maxLength = patterns.reduce((max, p) => Math.max(max, p.length), 0);
    for (const pattern of patterns) {
      let node = 0;
      for (let i = 0; i < pattern.length; i++) {
        const code = pattern.charCodeAt(i);
        const edges = this.next[node]!;
        let child = edges.get(code);
        if (child === undefined) {
          child = this.next.length;
          edges.set(code, child);
          this.next.push(new Map());
          this.fail.push(0);
          this.longest.push(0);
          this.depth.push(i + 1);
        }
        node = child;
      }
      this.longest[node] = Math.max(this.longest[node]!, pattern.length);
    }
    const queue = [...this.next[0]!.values()];
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head]!;
      for (const [code, child] of this.next[node]!) {
        this.fail[child] = this.step(this.fail[node]!, code);
        this.longest[child] = Math.max(this.longest[child]!, this.longest[this.fail[child]!]!);
        queue.push(child);
      }
    }
  }

  /** Sorted, disjoint `[start, end)` ranges covered by any match; touching ranges are merged. */
  coveredRanges(text: string): [number, number][] {
    const ranges: [number, number][] = [];
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      node = this.step(node, text.charCodeAt(i));
      const length = this.longest[node]!;
      if (length === 0) continue;
      // Ends only grow, so a new range can only swallow ranges at the top of the stack.
      let start = i + 1 - length;
      const end = i + 1;
      while (ranges.length > 0 && ranges[ranges.length - 1]![1] >= start) {
        start = Math.min(start, ranges.pop()![0]);
      }
      ranges.push([start, end]);
    }
    return ranges;
  }

  /**
   * How many characters at the end of `text` could still be the start of a pattern: only those
   * need holding back, so ordinary output is not delayed by a long secret.
   */
  openSuffix(text: string): number {
    let node = 0;
    for (let i = 0; i < text.length; i++) node = this.step(node, text.charCodeAt(i));
    return this.depth[node]!;
  }

  private step(node: number, code: number): number {
    let current = node;
    for (;;) {
      const child = this.next[current]!.get(code);
      if (child !== undefined) return child;
      if (current === 0) return 0;
      current = this.fail[current]!;
    }
  }
}

/**
 * Masks secrets in a stream of log text. Output is exactly what `maskText` gives for the whole
 * stream, whatever the chunk boundaries: `write` holds back only the end of the text that could
 * still begin a secret (at most the longest pattern's length), one more rather than split a
 * surrogate pair, and `flush` releases them.
 *
 * Every run of characters covered by any match, overlapping or touching, becomes one `***`.
 * A secret that itself contains `*` next to masked text can still show; that is inherent to the
 * mask and not worth a different token.
 */
export class SecretMasker {
  private readonly secrets = new Set<string>();
  private matcher: PatternMatcher | undefined;
  /** Text already emitted, kept so that a match starting before `pending` is still found. */
  private context = '';
  /** Text not emitted yet. */
  private pending = '';
  /** Whether the last emitted character was masked, so a run crossing a write gets one `***`. */
  private lastMasked = false;

  constructor(secrets: Iterable<string> = []) {
    this.addSecrets(secrets);
  }

  /** Adds a secret from now on; text already returned by `write` cannot be recalled. */
  addSecret(secret: string): void {
    this.addSecrets([secret]);
  }

  private addSecrets(secrets: Iterable<string>): void {
    const added = [...secrets];
    if (added.some((secret) => characterCount(secret) < MIN_SECRET_LENGTH)) {
      throw new ValidationError(`secrets must be at least ${MIN_SECRET_LENGTH} characters`);
    }
    const before = this.secrets.size;
    for (const secret of added) this.secrets.add(secret);
    if (this.secrets.size === before) return;
    const patterns = new Set<string>();
    for (const secret of this.secrets) for (const form of secretForms(secret)) patterns.add(form);
    this.matcher = new PatternMatcher([...patterns]);
  }

  /** Returns the part of the stream so far that is safe to emit now. */
  write(chunk: string): string {
    this.pending += chunk;
    return this.drain(false);
  }

  /** Returns everything still held back; the masker can then start a new stream. */
  flush(): string {
    const out = this.drain(true);
    this.context = '';
    this.lastMasked = false;
    return out;
  }

  private drain(final: boolean): string {
    const matcher = this.matcher;
    if (matcher === undefined) {
      const out = this.pending;
      this.pending = '';
      return out;
    }
    const text = this.context + this.pending;
    const start = this.context.length;
    let cut = final ? text.length : text.length - matcher.openSuffix(text);
    // Never end a write between the halves of a surrogate pair: a consumer that encodes each
    // piece to UTF-8 on its own would turn both halves into U+FFFD.
    if (!final && cut > start && isHighSurrogate(text.charCodeAt(cut - 1))) cut--;
    if (cut <= start) return '';

    let out = '';
    let position = start;
    let lastMasked = this.lastMasked;
    for (const [rangeStart, rangeEnd] of matcher.coveredRanges(text)) {
      if (rangeEnd <= start) continue;
      if (rangeStart >= cut) break;
      const from = Math.max(rangeStart, start);
      if (from > position) {
        out += text.slice(position, from);
        lastMasked = false;
      }
      if (!lastMasked) out += MASK;
      position = Math.min(rangeEnd, cut);
      lastMasked = true;
    }
    if (position < cut) {
      out += text.slice(position, cut);
      lastMasked = false;
    }

    this.lastMasked = lastMasked;
    this.context = text.slice(Math.max(0, cut - (matcher.maxLength - 1)), cut);
    this.pending = text.slice(cut);
    return out;
  }
}

/** Masks `secrets` in one piece of text (error messages, summaries). */
export function maskText(text: string, secrets: Iterable<string>): string {
  const masker = new SecretMasker(secrets);
  return masker.write(text) + masker.flush();
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
