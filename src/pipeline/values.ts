import { assertNever } from '../shared/errors.js';
import type { JsonValue, SourcePos } from './types.js';
import type { YEntry, YMap, YNode, YSeq } from './yaml-tree.js';

/**
 * What an expression computes: Azure's string, number, boolean and null, plus objects and
 * arrays (parameters, dependencies, `split` results). Objects read keys case-insensitively.
 * Values that came from YAML remember their node, so inserting one back into the pipeline keeps
 * the file, line and column it was written at.
 */
export type Literal = string | number | boolean | null;
export type Value = Literal | Dict | List;

type Slot = { key: string; value: Value } | { key: string; node: YNode };

export class Dict {
  private readonly byKey = new Map<string, Slot>();

  constructor(
    entries: Iterable<[string, Value]>,
    /** The mapping this object was read from, when it was. */
    readonly source?: YMap,
  ) {
    for (const [key, value] of entries) this.set({ key, value });
  }

  static fromMap(map: YMap): Dict {
    const dict = new Dict([], map);
    // Children are converted when read: a large parameter object costs nothing until used.
    for (const { key, value } of map.entries) dict.set({ key, node: value });
    return dict;
  }

  private set(slot: Slot): void {
    const lower = slot.key.toLowerCase();
    this.byKey.delete(lower);
    this.byKey.set(lower, slot);
  }

  get(key: string): Value {
    const slot = this.byKey.get(key.toLowerCase());
    return slot === undefined ? null : slotValue(slot);
  }

  has(key: string): boolean {
    return this.byKey.has(key.toLowerCase());
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Entries in the order written, keys as spelled. */
  entries(): Array<[string, Value]> {
    return [...this.byKey.values()].map((slot) => [slot.key, slotValue(slot)]);
  }
}

function slotValue(slot: Slot): Value {
  return 'node' in slot ? fromNode(slot.node) : slot.value;
}

export class List {
  constructor(
    readonly items: readonly Value[],
    /** The sequence this array was read from, when it was. */
    readonly source?: YSeq,
  ) {}
}

/** YAML → value: scalars are strings (Azure reads YAML text untyped), empty is null. */
export function fromNode(node: YNode): Value {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'null':
      return null;
    case 'map':
      return Dict.fromMap(node);
    case 'seq':
      return new List(node.items.map(fromNode), node);
    default:
      return assertNever(node);
  }
}

/** Value → YAML, at `pos` for what has no position of its own. Booleans read `True`/`False`. */
export function toNode(value: Value, pos: SourcePos): YNode {
  if (value === null) return { kind: 'null', pos };
  if (value instanceof Dict) {
    if (value.source) return value.source;
    const entries: YEntry[] = value
      .entries()
      .map(([key, v]) => ({ key, keyPos: pos, value: toNode(v, pos) }));
    return { kind: 'map', entries, pos };
  }
  if (value instanceof List)
    return value.source ?? { kind: 'seq', items: value.items.map((v) => toNode(v, pos)), pos };
  return { kind: 'scalar', value: toText(value) ?? '', pos };
}

export function toJson(value: Value): JsonValue {
  if (value instanceof Dict) return Object.fromEntries(value.entries().map(([k, v]) => [k, toJson(v)]));
  if (value instanceof List) return value.items.map(toJson);
  return value;
}

export function fromJson(json: JsonValue): Value {
  if (Array.isArray(json)) return new List(json.map(fromJson));
  if (json !== null && typeof json === 'object')
    return new Dict(Object.entries(json).map(([k, v]) => [k, fromJson(v)]));
  return json;
}

export function toBoolean(value: Value): boolean {
  if (value === null) return false;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return value !== '';
  return typeof value === 'boolean' ? value : true;
}

/** Azure converts text to a number leniently (spaces around, sign, decimal point); '' is 0. */
export function toNumber(value: Value): number {
  if (value === null) return 0;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  const text = value.trim();
  if (text === '') return 0;
  return /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i.test(text) ? Number(text) : Number.NaN;
}

/** Text of a literal; undefined for objects and arrays, which have none. */
export function toText(value: Value): string | undefined {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? value : undefined;
}

/** .NET's OrdinalIgnoreCase, which Azure uses for every string comparison. */
export function fold(text: string): string {
  return text.toUpperCase();
}

/** Azure converts the right value to the left value's type; a failed conversion is not equal. */
export function equals(left: Value, right: Value): boolean {
  if (left === null) return right === null || right === '';
  if (typeof left === 'boolean') return toBoolean(right) === left;
  if (typeof left === 'number') return toNumber(right) === left;
  if (typeof left === 'string') {
    const text = toText(right);
    return text !== undefined && fold(text) === fold(left);
  }
  return left === right;
}

export function describeValue(value: Value): string {
  if (value instanceof Dict) return 'an object';
  if (value instanceof List) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'string'
    ? `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`
    : String(value);
}
