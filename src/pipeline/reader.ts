import type { Issues } from './issues.js';
import type { SourcePos } from './types.js';
import { describeNode, isBroken, type YEntry, type YMap, type YNode } from './yaml-tree.js';

/** What may appear in one kind of mapping. */
export interface KeySpec {
  /** How the mapping is named in messages: `job`, `step`, `pipeline`. */
  context: string;
  known: readonly string[];
  /** Azure Pipelines keys Slipway refuses, by name, rather than calling them unknown. */
  unsupported?: readonly string[];
}

export interface Located<T> {
  value: T;
  pos: SourcePos;
}

const MAX_COUNT = 1_000_000;

export function notSupported(feature: string): string {
  return `'${feature}' is not supported yet by Slipway`;
}

export function checkKeys(issues: Issues, map: YMap, spec: KeySpec): void {
  for (const { key, keyPos } of map.entries) {
    if (spec.known.includes(key)) continue;
    if (spec.unsupported?.includes(key)) issues.add(keyPos, notSupported(key));
    else issues.add(keyPos, `unknown key '${key}' in ${spec.context}${didYouMean(key, spec.known)}`);
  }
}

/** The known key a typo most likely meant: another case, or one or two letters off (`stpes` → `steps`). */
function didYouMean(key: string, known: readonly string[]): string {
  const lower = key.toLowerCase();
  const limit = lower.length < 6 ? 1 : 2;
  let best: { key: string; distance: number } | undefined;
  for (const k of known) {
    const distance = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase(), limit);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { key: k, distance };
  }
  return best === undefined ? '' : ` (did you mean '${best.key}'?)`;
}

/** Optimal string alignment distance (a swap of neighbours counts as one edit); above `limit` is limit + 1. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = previous;
    previous = row;
  }
  return Math.min(previous[b.length]!, limit + 1);
}

export function entryOf(map: YMap, key: string): YEntry | undefined {
  return map.entries.find((e) => e.key === key);
}

/** An empty value has no text of its own to point at; its key is the useful place. */
export function valuePos(entry: YEntry): SourcePos {
  return entry.value.kind === 'null' ? entry.keyPos : entry.value.pos;
}

export function mismatch(issues: Issues, entry: YEntry, expected: string): undefined {
  if (isBroken(entry.value)) return undefined;
  issues.add(valuePos(entry), `'${entry.key}' must be ${expected}, found ${describeNode(entry.value)}`);
  return undefined;
}

/** A mapping where one is required; `what` names it in the message. */
export function expectMap(issues: Issues, node: YNode, what: string): YMap | undefined {
  if (node.kind === 'map') return node;
  if (isBroken(node)) return undefined;
  issues.add(node.pos, `${what} must be a mapping, found ${describeNode(node)}`);
  return undefined;
}

export function readString(
  issues: Issues,
  entry: YEntry,
  options: { allowEmpty?: boolean } = {},
): string | undefined {
  const { value } = entry;
  if (value.kind !== 'scalar') return mismatch(issues, entry, 'a string');
  if (value.value.trim() === '' && !options.allowEmpty) return mismatch(issues, entry, 'a non-empty string');
  return value.value;
}

/**
 * `''` written where a value is optional (`dependsOn: ''`, `condition: ''`): what templates pass
 * to mean "none", so it reads as if the key were absent, as in Azure.
 */
export function isBlankScalar(entry: YEntry | undefined): boolean {
  return entry?.value.kind === 'scalar' && entry.value.value.trim() === '';
}

/** Like readString, but an empty value is the empty string (variables, env). */
export function readText(issues: Issues, entry: YEntry): string | undefined {
  return entry.value.kind === 'null' ? '' : readString(issues, entry, { allowEmpty: true });
}

export function readBoolean(issues: Issues, entry: YEntry): boolean | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && /^(true|false)$/i.test(value.value))
    return value.value.toLowerCase() === 'true';
  return mismatch(issues, entry, 'true or false');
}

export function readCount(issues: Issues, entry: YEntry): number | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && /^\d+$/.test(value.value) && Number(value.value) <= MAX_COUNT) {
    return Number(value.value);
  }
  return mismatch(issues, entry, `a whole number from 0 to ${MAX_COUNT}`);
}

/**
 * A duration in minutes. Azure Pipelines writes whole numbers; fractions are accepted too
 * (`0.5` is thirty seconds), which short-lived jobs and tests want.
 */
export function readMinutes(issues: Issues, entry: YEntry): number | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && /^\d+(\.\d+)?$/.test(value.value) && Number(value.value) <= MAX_COUNT) {
    return Number(value.value);
  }
  return mismatch(issues, entry, `a number of minutes from 0 to ${MAX_COUNT}`);
}

/** A string or a list of strings (`dependsOn`, `demands`); an empty value is an empty list. */
export function readStringList(issues: Issues, entry: YEntry): Array<Located<string>> | undefined {
  const { value } = entry;
  if (value.kind === 'null') return [];
  if (value.kind === 'scalar') return readString(issues, entry) === undefined ? undefined : [located(value)];
  if (value.kind === 'map') return mismatch(issues, entry, 'a string or a list of strings');
  const list: Array<Located<string>> = [];
  for (const item of value.items) {
    if (isBroken(item)) continue;
    if (item.kind !== 'scalar' || item.value.trim() === '') {
      issues.add(item.pos, `'${entry.key}' items must be non-empty strings, found ${describeNode(item)}`);
    } else {
      list.push(located(item));
    }
  }
  return list;
}

/** A mapping of names to strings (`env`); empty values are empty strings. */
export function readStringMap(issues: Issues, entry: YEntry): Record<string, string> | undefined {
  if (entry.value.kind === 'null') return {};
  if (entry.value.kind !== 'map') return mismatch(issues, entry, 'a mapping of names to strings');
  const pairs: Array<[string, string]> = [];
  for (const item of entry.value.entries) {
    const text = readText(issues, item);
    if (text !== undefined) pairs.push([item.key, text]);
  }
  // fromEntries defines own properties, so a key named `__proto__` stays a plain key.
  return Object.fromEntries(pairs);
}

function located(node: { value: string; pos: SourcePos }): Located<string> {
  return { value: node.value, pos: node.pos };
}
