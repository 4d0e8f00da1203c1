import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, type Scalar } from 'yaml';
import { assertNever } from '../shared/errors.js';
import type { Issues } from './issues.js';
import type { LoadedYaml } from './load-yaml.js';
import type { SourcePos } from './types.js';

/**
 * The YAML as the pipeline readers see it: only strings, mappings and sequences (Azure reads
 * every scalar as text and converts where a field needs a number or boolean), each with the
 * position it was written at. Aliases are resolved to the anchored node itself, so the tree is a
 * DAG whose expanded size is bounded when it is built.
 */
export type YNode = YScalar | YNull | YMap | YSeq;

export interface YScalar {
  kind: 'scalar';
  value: string;
  pos: SourcePos;
  /** Column of `value[0]` when the value is written verbatim on one line, to point inside it. */
  valueCol?: number;
}

/** An empty value, `~` or `null` written without quotes. */
export interface YNull {
  kind: 'null';
  pos: SourcePos;
  /** An alias that could not be resolved, already reported: readers say nothing more about it. */
  broken?: true;
}

export interface YMap {
  kind: 'map';
  entries: YEntry[];
  pos: SourcePos;
}

export interface YEntry {
  key: string;
  keyPos: SourcePos;
  value: YNode;
  /** Column of `key[0]` when the key is written verbatim, to point inside it. */
  keyValueCol?: number;
}

export interface YSeq {
  kind: 'seq';
  items: YNode[];
  pos: SourcePos;
}

/** As yaml's own `maxAliasCount` default: more alias expansions than this is an alias bomb. */
export const MAX_ALIAS_EXPANSIONS = 100;
/** Nodes that aliases may add to the document once expanded. */
export const MAX_ALIAS_NODES = 100_000;

const NULL_WORDS = new Set(['', '~', 'null', 'Null', 'NULL']);
const CORE_TAG = 'tag:yaml.org,2002:';
const ACCEPTED_TAGS = new Set([
  '!',
  ...['str', 'map', 'seq', 'int', 'float', 'bool', 'null'].map((t) => CORE_TAG + t),
]);

export function buildTree(loaded: LoadedYaml, issues: Issues): YNode | undefined {
  const contents = loaded.doc.contents;
  if (contents === null) return undefined;
  return new TreeBuilder(loaded, issues).build(contents).node;
}

interface Built {
  node: YNode;
  /** Nodes in this subtree with every alias expanded. */
  size: number;
  /** Alias expansions in this subtree, nested ones counted each time they are expanded. */
  aliases: number;
}

class TreeBuilder {
  private readonly anchors = new Map<string, Node>();
  private readonly anchored = new Map<Node, Built>();
  private readonly building = new Set<Node>();
  private expansions = 0;
  private expandedNodes = 0;
  private exhausted = false;

  constructor(
    private readonly loaded: LoadedYaml,
    private readonly issues: Issues,
  ) {}

  build(node: Node): Built {
    if (isAlias(node)) return this.buildAlias(node.source, this.startOf(node));
    const anchor = 'anchor' in node && typeof node.anchor === 'string' ? node.anchor : undefined;
    if (anchor !== undefined) {
      // Registered before the children: an alias inside its own anchor is caught as a cycle.
      this.anchors.set(anchor, node);
      this.building.add(node);
    }
    this.checkTag(node);
    const built = this.buildValue(node);
    if (anchor !== undefined) {
      this.building.delete(node);
      this.anchored.set(node, built);
    }
    return built;
  }

  private buildValue(node: Node): Built {
    const pos = this.startOf(node);
    if (isScalar(node)) return { node: this.scalar(node, pos), size: 1, aliases: 0 };
    if (isMap(node)) return this.buildMap(node.items, pos);
    if (isSeq(node)) return this.buildSeq(node.items, pos);
    return { node: { kind: 'null', pos }, size: 1, aliases: 0 };
  }

  private buildMap(pairs: Pair[], pos: SourcePos): Built {
    const built: Built = { node: { kind: 'map', entries: [], pos }, size: 1, aliases: 0 };
    const entries: YEntry[] = [];
    const seen = new Set<string>();
    for (const pair of pairs) {
      const key = this.buildChild(pair.key, pos);
      const value = this.buildChild(pair.value, key.node.pos);
      built.size += key.size + value.size;
      built.aliases += key.aliases + value.aliases;
      if (key.node.kind !== 'scalar') {
        this.issues.add(key.node.pos, `mapping keys must be strings, found ${describeNode(key.node)}`);
      } else if (seen.has(key.node.value)) {
        this.issues.add(key.node.pos, `duplicate key '${key.node.value}'`);
      } else {
        seen.add(key.node.value);
        const entry: YEntry = { key: key.node.value, keyPos: key.node.pos, value: value.node };
        if (key.node.valueCol !== undefined) entry.keyValueCol = key.node.valueCol;
        entries.push(entry);
      }
    }
    built.node = { kind: 'map', entries, pos };
    return built;
  }

  private buildSeq(items: unknown[], pos: SourcePos): Built {
    const built: Built = { node: { kind: 'seq', items: [], pos }, size: 1, aliases: 0 };
    const nodes: YNode[] = [];
    for (const item of items) {
      const child = this.buildChild(item, pos);
      built.size += child.size;
      built.aliases += child.aliases;
      nodes.push(child.node);
    }
    built.node = { kind: 'seq', items: nodes, pos };
    return built;
  }

  /** Flow pairs like `{ a }` have no value node at all; they read as null. */
  private buildChild(value: unknown, fallback: SourcePos): Built {
    if (isScalar(value) || isMap(value) || isSeq(value) || isAlias(value)) return this.build(value);
    return { node: { kind: 'null', pos: fallback }, size: 1, aliases: 0 };
  }

  private buildAlias(name: string, pos: SourcePos): Built {
    const nothing: Built = { node: { kind: 'null', pos, broken: true }, size: 1, aliases: 0 };
    const target = this.anchors.get(name);
    if (target === undefined) {
      this.issues.add(pos, `unknown alias '*${name}': no anchor '&${name}' before it`);
      return nothing;
    }
    if (this.building.has(target)) {
      this.issues.add(pos, `alias '*${name}' refers to a node that contains it`);
      return nothing;
    }
    const built = this.anchored.get(target);
    if (built === undefined || this.exhausted) return nothing;
    this.expansions += 1 + built.aliases;
    this.expandedNodes += built.size;
    if (this.expansions > MAX_ALIAS_EXPANSIONS || this.expandedNodes > MAX_ALIAS_NODES) {
      this.exhausted = true;
      this.issues.add(
        pos,
        `alias '*${name}' expands the document too far (more than ${MAX_ALIAS_EXPANSIONS} aliases ` +
          `or ${MAX_ALIAS_NODES} nodes): refusing a possible alias bomb`,
      );
      return nothing;
    }
    return { node: built.node, size: built.size, aliases: 1 + built.aliases };
  }

  private scalar(node: Scalar, pos: SourcePos): YScalar | YNull {
    const value = String(node.value);
    if (node.type === 'PLAIN' && NULL_WORDS.has(value)) return { kind: 'null', pos };
    const valueCol = this.valueCol(node, value, pos);
    return valueCol === undefined ? { kind: 'scalar', value, pos } : { kind: 'scalar', value, pos, valueCol };
  }

  private valueCol(node: Scalar, value: string, pos: SourcePos): number | undefined {
    if (!node.range || value.includes('\n')) return undefined;
    const raw = this.loaded.text.slice(node.range[0], node.range[1]);
    if (raw === value) return pos.col;
    if (raw.length === value.length + 2 && raw.slice(1, -1) === value) return pos.col + 1;
    return undefined;
  }

  private checkTag(node: Node): void {
    if (node.tag !== undefined && !ACCEPTED_TAGS.has(node.tag)) {
      this.issues.add(this.startOf(node), `unsupported YAML tag '${node.tag}'`);
    }
  }

  private startOf(node: Node): SourcePos {
    return this.loaded.posAt(node.range?.[0] ?? 0);
  }
}

export function isBroken(node: YNode): boolean {
  return node.kind === 'null' && node.broken === true;
}

/** How a value is named in messages: "a mapping", "a sequence", "null", "'text'". */
export function describeNode(node: YNode): string {
  switch (node.kind) {
    case 'map':
      return 'a mapping';
    case 'seq':
      return 'a sequence';
    case 'null':
      return 'null';
    case 'scalar':
      return quote(node.value);
    default:
      return assertNever(node);
  }
}

/** Quotes a user's value for a message, shortened so one bad value cannot flood the output. */
export function quote(value: string): string {
  const firstLine = value.split('\n', 1)[0] ?? '';
  const shown = firstLine.slice(0, 40);
  return `'${shown}${shown === value ? '' : '…'}'`;
}
