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
 * Table entries (nodes × distinct code units) the dense part of a matcher may take: about 4 MB.
 * The shallow nodes, where ordinary text keeps the matcher, always fit; the deep ones of very
 * long secrets take the slower map-and-fail-link path.
 */
const DENSE_TABLE_ENTRIES = 1 << 20;

/**
 * Aho–Corasick over UTF-16 code units: one pass over the text whatever the number of patterns,
 * and, unlike one combined regex, it sees overlapping matches and cannot backtrack badly on
 * output that almost matches many patterns. The shallow nodes' transitions are a flat table over
 * the code units patterns use (every other code unit leads back to the root), so the usual step
 * is two array reads: a log of millions of lines spends its time here.
 */
class PatternMatcher {
  readonly maxLength: number;
  private readonly next: Map<number, number>[] = [new Map()];
  private readonly fail: number[] = [0];
  /** Length of the longest pattern that ends at this node (itself or via its fail chain), or 0. */
  private readonly longest: Int32Array;
  /** Length of the text a node stands for: how much of a pattern the text ending here has begun. */
  private readonly depth: number[] = [0];
  /** Code unit → its column in `table`; 0 for the code units no pattern has. */
  private readonly column = new Uint16Array(0x10000);
  private readonly columns: number;
  /** Node → offset of its row in `table`, or -1 for a node without one. */
  private readonly row: Int32Array;
  /** Next node = table[row[node] + column[code]], for nodes with a row. */
  private readonly table: Int32Array;
  /**
   * Whether any pattern occurs at all, by one native scan (code unit for code unit, no `u` flag):
   * most text holds no secret, and then the table walk is not needed. Only ever asked yes or no,
   * so overlapping matches (the walk's job) do not matter here. None for patterns too long for
   * one expression: then the walk does it all.
   */
  private readonly any?: RegExp;

  constructor(patterns: readonly string[]) {
    this.maxLength = patterns.reduce((max, p) => Math.max(max, p.length), 0);
    this.any = anyOf(patterns);
    const longest = [0];
    const codes = [0];
    for (const pattern of patterns) {
      let node = 0;
      for (let i = 0; i < pattern.length; i++) {
        const code = pattern.charCodeAt(i);
        if (this.column[code] === 0) {
          this.column[code] = codes.length;
          codes.push(code);
        }
        const edges = this.next[node]!;
        let child = edges.get(code);
        if (child === undefined) {
          child = this.next.length;
          edges.set(code, child);
          this.next.push(new Map());
          this.fail.push(0);
          longest.push(0);
          this.depth.push(i + 1);
        }
        node = child;
      }
      longest[node] = Math.max(longest[node]!, pattern.length);
    }
    const order = [0];
    for (let head = 0; head < order.length; head++) {
      const node = order[head]!;
      for (const [code, child] of this.next[node]!) {
        this.fail[child] = node === 0 ? 0 : this.slowStep(this.fail[node]!, code);
        longest[child] = Math.max(longest[child]!, longest[this.fail[child]!]!);
        order.push(child);
      }
    }
    this.longest = Int32Array.from(longest);
    // Rows for the shallowest nodes first (breadth-first order), as many as the budget allows.
    this.columns = codes.length;
    const rows = Math.max(1, Math.min(order.length, Math.floor(DENSE_TABLE_ENTRIES / this.columns)));
    this.row = new Int32Array(this.next.length).fill(-1);
    this.table = new Int32Array(rows * this.columns);
    for (let r = 0; r < rows; r++) {
      const node = order[r]!;
      const base = r * this.columns;
      this.row[node] = base;
      // Column 0 stays 0: a code unit in no pattern leads back to the root from anywhere.
      for (let c = 1; c < this.columns; c++) {
        const child = this.next[node]!.get(codes[c]!);
        // The fail node is shallower, so its row (if it has one) is already filled.
        this.table[base + c] = child ?? (node === 0 ? 0 : this.step(this.fail[node]!, codes[c]!));
      }
    }
  }

  /** Sorted, disjoint `[start, end)` ranges covered by any match; touching ranges are merged. */
  coveredRanges(text: string): [number, number][] {
    const ranges: [number, number][] = [];
    if (this.any && !this.any.test(text)) return ranges;
    const { longest, row, table, column } = this;
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const base = row[node]!;
      node = base >= 0 ? table[base + column[code]!]! : this.slowStep(node, code);
      const length = longest[node]!;
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
   * need holding back, so ordinary output is not delayed by a long secret. That part is never
   * longer than the longest pattern, so only that much of the end is read.
   */
  openSuffix(text: string): number {
    let node = 0;
    for (let i = Math.max(0, text.length - this.maxLength); i < text.length; i++)
      node = this.step(node, text.charCodeAt(i));
    return this.depth[node]!;
  }

  private step(node: number, code: number): number {
    const base = this.row[node]!;
    return base >= 0 ? this.table[base + this.column[code]!]! : this.slowStep(node, code);
  }

  /** The transition by trie edges and fail links, for nodes without a table row. */
  private slowStep(node: number, code: number): number {
    let current = node;
    for (;;) {
      const child = this.next[current]!.get(code);
      if (child !== undefined) return child;
      if (current === 0) return 0;
      current = this.fail[current]!;
    }
  }
}

/** Characters of patterns one expression takes; far below where V8 refuses one as too large. */
const MAX_EXPRESSION_CHARS = 16 * 1024;

/** One expression that matches wherever any of `patterns` occurs; undefined past the size above. */
function anyOf(patterns: readonly string[]): RegExp | undefined {
  if (patterns.length === 0 || patterns.reduce((n, p) => n + p.length, 0) > MAX_EXPRESSION_CHARS)
    return undefined;
  try {
    return new RegExp(patterns.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'));
  } catch {
    return undefined;
  }
}

/**
 * The matchers built most recently, by their patterns. A job masks its state, its setup log and
 * each step's log with the same secrets: one build serves them all (building one is most of a
 * warm job's start). Kept small, so a long-lived agent holds no job's secrets for long after it.
 */
const recentMatchers = new Map<string, PatternMatcher>();
const RECENT_MATCHERS = 2;

function sharedMatcher(patterns: string[]): PatternMatcher {
  const key = patterns.join('\0');
  let matcher = recentMatchers.get(key);
  if (matcher) recentMatchers.delete(key);
  else matcher = new PatternMatcher(patterns);
  recentMatchers.set(key, matcher);
  while (recentMatchers.size > RECENT_MATCHERS) recentMatchers.delete(recentMatchers.keys().next().value!);
  return matcher;
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
    this.matcher = sharedMatcher([...patterns]);
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
