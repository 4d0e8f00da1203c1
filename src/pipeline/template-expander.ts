import { evaluateExpression } from './evaluate.js';
import { type Expr, ExpressionError, parseExpression } from './expression-parser.js';
import { fileStart, type Issues } from './issues.js';
import { entryOf } from './reader.js';
import type { TemplateFiles } from './template-files.js';
import { resolveTemplatePath } from './template-files.js';
import {
  acceptsUndeclared,
  bindParameters,
  contextOfType,
  type GivenValue,
  type ParameterDeclaration,
  readDeclarations,
} from './template-parameters.js';
import {
  type Directive,
  hasTemplateExpression,
  OPEN,
  readDirective,
  type Segment,
  splitTemplateText,
  wholeExpression,
} from './template-text.js';
import { PIPELINE_KEYS } from './top-level-keys.js';
import type { SourcePos } from './types.js';
import { Dict, describeValue, List, toBoolean, toNode, toText, type Value } from './values.js';
import { describeNode, type YEntry, type YMap, type YNode, type YScalar } from './yaml-tree.js';

/** Templates including templates: deeper than this is a mistake (or a template including itself). */
export const MAX_TEMPLATE_DEPTH = 50;
/**
 * Nodes the pipeline may grow to once templates, loops and inserted parameters are expanded
 * (plus one per expression evaluated and per loop turn), so a template bomb ends in an error.
 */
export const MAX_EXPANSION = 500_000;
/** Nesting of the expanded pipeline, across templates: bounds recursion in every later pass. */
export const MAX_EXPANDED_NESTING = 200;
/** Text that expressions may put into the pipeline in total (each function result is bounded on its own). */
export const MAX_CREATED_TEXT = 32 * 1024 * 1024;

/** The lists whose `- template:` items are includes, and the key a template of that kind holds. */
const TEMPLATE_CONTEXTS = ['steps', 'jobs', 'stages', 'variables'] as const;
type TemplateContext = (typeof TEMPLATE_CONTEXTS)[number];
/** What an `extends` template may hold beside its body. */
/** Keys whose value names a job or stage. */
const NAME_KEYS = new Set(['job', 'deployment', 'stage']);
/** `parameters.name` or `parameters['name']` in an expression's text. */
const PARAMETER_REFERENCE = /\bparameters(?:\.([A-Za-z0-9_-]+)|\[\s*'([^']*)'\s*\])/g;

const isEmptyScalar = (node: YNode) =>
  node.kind === 'null' || (node.kind === 'scalar' && node.value.trim() === '');

const EXTENDS_KEYS = ['parameters', 'extends', ...PIPELINE_KEYS];
const TEMPLATE_NAMES = ['parameters', 'variables'];
const RUNTIME_ONLY: Record<string, string> = Object.fromEntries(
  ['dependencies', 'stageDependencies'].map((name) => [
    name.toLowerCase(),
    `'${name}' is only known while the run runs: use it in a condition or a runtime expression ('$[ ]')`,
  ]),
);

export interface TemplateOptions {
  /** Values for the pipeline's own `parameters`, as text (objects and lists as JSON). */
  parameters?: Record<string, string>;
  /** Queue-time variables: `${{ variables.x }}` sees them over the pipeline's own. */
  variables?: Record<string, string>;
}

export interface ExpandedPipeline {
  root: YMap;
  /** An `extends` failed (reported): the pipeline has no body of its own to complain about. */
  incomplete: boolean;
  /** A bound was hit (reported): what was expanded is partial, so nothing more is checked. */
  stopped: boolean;
  /** The pipeline's parameters with their values. */
  parameters: Dict;
}

interface Scope {
  parameters: Value;
  variables: Dict;
  /** `each` loop variables, by lower-case name. */
  locals: ReadonlyMap<string, { name: string; value: Value }>;
  depth: number;
}

/** Where a map is expanded: in a sequence (under `key`), or a mapping value. */
interface MapOptions {
  inSeq?: { key: string | undefined };
  /** The key a value's list context is named by; default the entry's own key. */
  contextOf?: (key: string) => string | undefined;
  skip?: readonly string[];
  /** An if-chain left open by the previous list item (an `if` item, then an `else` item). */
  chain?: Chain;
}

type Chain = { taken: boolean } | undefined;

class MapBuilder {
  readonly entries: YEntry[] = [];
  readonly items: YNode[] = [];
  /** Only `${{ }}` keys: when they insert nothing, the mapping disappears from its list. */
  directivesOnly = true;
  /** The if-chain after the last key, for the next list item. */
  chain: Chain;
  /** A key could not be expanded (already reported): the mapping is incomplete. */
  failed = false;
  private readonly seen = new Set<string>();

  constructor(private readonly issues: Issues) {}

  add(entry: YEntry): void {
    if (this.seen.has(entry.key)) {
      this.issues.add(entry.keyPos, `duplicate key '${entry.key}'`);
      return;
    }
    this.seen.add(entry.key);
    this.entries.push(entry);
  }
}

const FAILED = Symbol('failed');
type Evaluated = Value | typeof FAILED;

/**
 * Compile-time expansion: `template:` includes and `extends`, typed `parameters`, and `${{ }}`
 * expressions (values, interpolation, `if`/`elseif`/`else`, `each`, `insert`). The result is
 * plain YAML the readers turn into a plan; every node keeps the file and place it was written at.
 */
export class TemplateExpander {
  private work = 0;
  private createdText = 0;
  private nesting = 0;
  private stopped = false;
  private repositories = new Map<string, string>();
  private readonly sizes = new WeakMap<YNode, number>();

  constructor(
    private readonly issues: Issues,
    private readonly files: TemplateFiles,
    private readonly file: string,
    private readonly options: TemplateOptions = {},
  ) {}

  expandPipeline(root: YMap): ExpandedPipeline {
    this.repositories = repositoryNames(root);
    const declarationsEntry = entryOf(root, 'parameters');
    const declarations = declarationsEntry ? readDeclarations(this.issues, declarationsEntry) : [];
    const parameters = this.bindPipelineParameters(declarations);
    let scope: Scope = { parameters, variables: new Dict([]), locals: new Map(), depth: 0 };
    let map = this.mapNode(this.expandMap(root, scope, { skip: ['parameters', 'extends'] }), root.pos);
    let extension = entryOf(root, 'extends');
    let incomplete = false;
    while (extension !== undefined && !this.stopped) {
      const extended = this.extend(map, extension, scope);
      if (extended === undefined) {
        incomplete = true;
        break;
      }
      ({ map, scope, extension } = extended);
    }
    return { root: map, parameters, incomplete, stopped: this.stopped };
  }

  private bindPipelineParameters(declarations: readonly ParameterDeclaration[]): Dict {
    const given = new Map<string, { name: string; value: GivenValue }>();
    for (const [name, text] of Object.entries(this.options.parameters ?? {})) {
      const declared = declarations.find((d) => d.name.toLowerCase() === name.toLowerCase());
      given.set(name.toLowerCase(), { name, value: { text, pos: declared?.pos ?? fileStart() } });
    }
    return bindParameters(
      this.issues,
      declarations,
      given,
      (d) => ({ pos: d.pos, detail: `parameter '${d.name}' has no default: give it a value` }),
      (name) => `the pipeline has no parameter '${name}'`,
    );
  }

  // ── extends ──────────────────────────────────────────────────────────────────────────────

  private extend(
    base: YMap,
    extension: YEntry,
    scope: Scope,
  ): { map: YMap; scope: Scope; extension: YEntry | undefined } | undefined {
    const reference = extension.value;
    if (reference.kind !== 'map' || !entryOf(reference, 'template')) {
      this.issues.add(
        reference.kind === 'null' ? extension.keyPos : reference.pos,
        "'extends' needs 'template: <file>' (and optionally 'parameters')",
      );
      return undefined;
    }
    const opened = this.openTemplate(reference, scope, 'extends');
    if (opened === undefined) return undefined;
    for (const e of opened.tree.entries) {
      if (!EXTENDS_KEYS.includes(e.key) && readDirectiveSafe(e.key) === undefined)
        this.issues.add(e.keyPos, `unknown key '${e.key}' in a template a pipeline extends`);
    }
    const body = this.expandMap(opened.tree, opened.scope, { skip: ['parameters', 'extends'] });
    const map = this.mergeExtended(base, this.mapNode(body, opened.tree.pos));
    return { map, scope: opened.scope, extension: entryOf(opened.tree, 'extends') };
  }

  /** The pipeline's own keys (trigger, variables, …) beside the template's body. */
  private mergeExtended(base: YMap, body: YMap): YMap {
    const entries = [...base.entries];
    for (const entry of body.entries) {
      const at = entries.findIndex((e) => e.key === entry.key);
      const existing = entries[at];
      if (existing === undefined) {
        entries.push(entry);
      } else if (entry.key === 'variables') {
        // The pipeline's own variables come last, so they win over the template's.
        const items = [...variableItems(entry.value), ...variableItems(existing.value)];
        entries[at] = { ...existing, value: { kind: 'seq', items, pos: existing.value.pos } };
      } else {
        this.issues.add(
          entry.keyPos,
          `'${entry.key}' is set both by the pipeline and by the template it extends`,
        );
      }
    }
    return { kind: 'map', entries, pos: base.pos };
  }

  // ── includes ─────────────────────────────────────────────────────────────────────────────

  /** Reads the template an item names and binds its parameters (given in the caller's scope). */
  private openTemplate(
    item: YMap,
    scope: Scope,
    kind: TemplateContext | 'extends',
  ): { tree: YMap; scope: Scope } | undefined {
    const templateEntry = entryOf(item, 'template');
    if (templateEntry === undefined) return undefined;
    for (const e of item.entries) {
      if (e.key !== 'template' && e.key !== 'parameters')
        this.issues.add(
          e.keyPos,
          `a template reference holds only 'template' and 'parameters', found '${e.key}'`,
        );
    }
    const refNode = this.expandValue(templateEntry.value, scope, undefined);
    if (refNode.kind !== 'scalar' || refNode.value.trim() === '') {
      if (!isBrokenNode(refNode))
        this.issues.add(refNode.pos, `'template' must be a file path, found ${describeNode(refNode)}`);
      return undefined;
    }
    const ref = refNode.value.trim();
    const at = ref.lastIndexOf('@');
    const [path, repository] = at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, undefined];
    if (repository !== undefined && repository.toLowerCase() !== 'self') {
      this.issues.add(refNode.pos, this.otherRepository(ref, repository));
      return undefined;
    }
    if (scope.depth >= MAX_TEMPLATE_DEPTH) {
      this.stop(
        refNode.pos,
        `templates nest more than ${MAX_TEMPLATE_DEPTH} levels deep (does '${path}' include itself?)`,
      );
      return undefined;
    }
    if (!this.spend(10, refNode.pos)) return undefined;
    const resolved = resolveTemplatePath(refNode.pos.file ?? this.file, path);
    const tree = this.files.load(resolved, path, refNode.pos);
    if (tree === undefined) return undefined;
    if (kind !== 'extends') this.checkTemplateKeys(tree, kind, resolved);
    const declarationsEntry = entryOf(tree, 'parameters');
    const declarations = declarationsEntry ? readDeclarations(this.issues, declarationsEntry) : [];
    const given = this.givenParameters(entryOf(item, 'parameters'), declarations, scope);
    // A parameter whose value failed to expand was reported; going on would only add noise.
    if (given === undefined || this.stopped) return undefined;
    const parameters = bindParameters(
      this.issues,
      declarations,
      given,
      (d) => ({
        pos: refNode.pos,
        detail: `template '${path}' needs parameter '${d.name}' (it has no default)`,
      }),
      (name) => `template '${path}' has no parameter '${name}'`,
      acceptsUndeclared(declarationsEntry),
    );
    return {
      tree,
      scope: { parameters, variables: scope.variables, locals: new Map(), depth: scope.depth + 1 },
    };
  }

  private otherRepository(ref: string, alias: string): string {
    const name = this.repositories.get(alias.toLowerCase());
    const where = name === undefined ? `repository '${alias}'` : `repository '${name}' (alias '${alias}')`;
    return (
      `template '${ref}' is in ${where}: templates from other repositories are not supported yet by ` +
      'Slipway; copy the template beside the pipeline'
    );
  }

  private checkTemplateKeys(tree: YMap, kind: TemplateContext, path: string): void {
    for (const e of tree.entries) {
      if (e.key === 'parameters' || e.key === kind) continue;
      this.issues.add(
        e.keyPos,
        `unknown key '${e.key}' in a ${kind} template (one included under '${kind}' holds 'parameters' and '${kind}')`,
      );
    }
    if (!entryOf(tree, kind)) this.issues.add(fileStart(path), `a ${kind} template needs '${kind}'`);
  }

  /** The values a caller gives, expanded in its scope; list-typed ones as the lists they become. */
  private givenParameters(
    entry: YEntry | undefined,
    declarations: readonly ParameterDeclaration[],
    scope: Scope,
  ): Map<string, { name: string; value: GivenValue }> | undefined {
    const given = new Map<string, { name: string; value: GivenValue }>();
    if (entry === undefined) return given;
    const typeOf = (key: string) =>
      declarations.find((d) => d.name.toLowerCase() === key.toLowerCase())?.type;
    const contextOf = (key: string) => contextOfType(typeOf(key)) ?? key;
    const node =
      entry.value.kind === 'map'
        ? this.mapNode(this.expandMap(entry.value, scope, { contextOf }), entry.value.pos)
        : this.expandValue(entry.value, scope, undefined);
    if (isBrokenNode(node)) return undefined;
    if (node.kind === 'null') return given;
    if (node.kind !== 'map') {
      this.issues.add(
        node.pos,
        `'parameters' must be a mapping of names to values, found ${describeNode(node)}`,
      );
      return undefined;
    }
    for (const e of node.entries) {
      if (isBrokenNode(e.value)) return undefined;
      given.set(e.key.toLowerCase(), { name: e.key, value: { node: e.value, pos: e.keyPos } });
    }
    return given;
  }

  /** Splices in what a template's list holds; a template that failed leaves a broken node, already reported. */
  private include(item: YMap, scope: Scope, kind: TemplateContext, out: YNode[]): void {
    const opened = this.openTemplate(item, scope, kind);
    const body = opened && entryOf(opened.tree, kind);
    if (opened === undefined || body === undefined) {
      out.push(broken(item.pos));
      return;
    }
    if (body.value.kind === 'seq') {
      this.expandSeqItems(body.value.items, opened.scope, kind, out);
      return;
    }
    const value = this.expandValue(body.value, opened.scope, kind);
    if (value.kind === 'seq') out.push(...value.items);
    else if (kind === 'variables' && value.kind === 'map') out.push(...variableItems(value));
    else if (value.kind !== 'null' && !isBrokenNode(value))
      this.issues.add(value.pos, `'${kind}' in a template must be a list, found ${describeNode(value)}`);
  }

  // ── nodes ────────────────────────────────────────────────────────────────────────────────

  /** Any node; `key` names the list context of a sequence (`steps`, `jobs`, …). */
  private expandValue(node: YNode, scope: Scope, key: string | undefined): YNode {
    if (this.stopped) return broken(node.pos);
    switch (node.kind) {
      case 'scalar':
        return this.expandScalar(node, scope);
      case 'null':
        return node;
      case 'map':
        return this.mapNode(this.expandMap(node, scope, {}), node.pos);
      case 'seq': {
        const items: YNode[] = [];
        if (!this.enter(node.pos)) return broken(node.pos);
        this.expandSeqItems(node.items, scope, key, items);
        this.nesting--;
        return { kind: 'seq', items, pos: node.pos };
      }
      default:
        return node satisfies never;
    }
  }

  private expandScalar(node: YScalar, scope: Scope): YNode {
    if (!this.spend(1, node.pos)) return broken(node.pos);
    if (!hasTemplateExpression(node.value)) return node;
    const segments = this.segments(node.value, (offset) => valueAt(node, offset));
    if (segments === undefined) return broken(node.pos);
    const whole = wholeExpression(segments);
    if (whole !== undefined) {
      const value = this.evaluate(whole.source, scope, valueAt(node, whole.offset));
      if (value === FAILED || (typeof value === 'string' && !this.countText(value.length, node.pos)))
        return broken(node.pos);
      return this.inserted(value, node.pos);
    }
    const text = this.interpolate(segments, scope, (offset) => valueAt(node, offset));
    return text === undefined ? broken(node.pos) : { kind: 'scalar', value: text, pos: node.pos };
  }

  private expandSeqItems(items: readonly YNode[], scope: Scope, key: string | undefined, out: YNode[]): void {
    let chain: Chain;
    for (const item of items) {
      if (this.stopped) return;
      const open = chain;
      chain = undefined;
      if (item.kind === 'scalar' && hasTemplateExpression(item.value)) {
        const node = this.expandScalar(item, scope);
        // `- ${{ parameters.steps }}` inserts a list's items; `- ${{ parameters.nothing }}` nothing.
        if (node.kind === 'seq') out.push(...node.items);
        else if (!(node.kind === 'null' && !isBrokenNode(node))) out.push(node);
        continue;
      }
      if (item.kind !== 'map') {
        out.push(this.expandValue(item, scope, undefined));
        continue;
      }
      if (isTemplateContext(key) && entryOf(item, 'template')) {
        this.include(item, scope, key, out);
        continue;
      }
      if (this.stopped) {
        out.push(broken(item.pos));
        return;
      }
      const built = this.expandMap(item, scope, { inSeq: { key }, chain: open });
      if (this.stopped) {
        out.push(broken(item.pos));
        return;
      }
      if (built.directivesOnly) chain = built.chain;
      if (built.items.length > 0 && built.entries.length > 0) {
        this.issues.add(
          item.pos,
          'a mapping cannot mix keys with a conditional or loop that inserts list items',
        );
      } else if (built.items.length > 0) {
        out.push(...built.items);
      } else if (built.failed && built.entries.length === 0) {
        out.push(broken(item.pos));
      } else if (built.entries.length > 0 || !built.directivesOnly) {
        const map = this.mapNode(built, item.pos);
        // `- ${{ if … }}:` holding `template: x` includes once the condition is known.
        if (isTemplateContext(key) && entryOf(map, 'template')) this.include(map, scope, key, out);
        else out.push(map);
      }
    }
  }

  private expandMap(map: YMap, scope: Scope, options: MapOptions): MapBuilder {
    const built = new MapBuilder(this.issues);
    if (!this.enter(map.pos)) return built;
    const skip = options.skip ?? [];
    // `${{ variables.x }}` sees the variables defined beside it, whatever their order.
    const variablesEntry = skip.includes('variables') ? undefined : entryOf(map, 'variables');
    const variables = variablesEntry && this.expandValue(variablesEntry.value, scope, 'variables');
    const inner = variables ? withVariables(scope, variables) : scope;
    let chain = options.chain;
    for (const entry of map.entries) {
      if (this.stopped) break;
      if (skip.includes(entry.key)) continue;
      const directive = this.directive(entry);
      if (directive === undefined) {
        chain = undefined;
        built.directivesOnly = false;
        if (entry === variablesEntry && variables) {
          built.add({ ...entry, value: variables });
          continue;
        }
        const key = this.expandKey(entry, inner);
        if (key === undefined) {
          built.failed = true;
          continue;
        }
        const context = options.contextOf ? options.contextOf(key) : key;
        const value = this.expandValue(entry.value, inner, context);
        if (NAME_KEYS.has(key) && isEmptyScalar(value)) this.checkUnboundName(entry, key, inner);
        built.add({ key, keyPos: entry.keyPos, value });
        continue;
      }
      if (directive === FAILED) {
        chain = { taken: true };
        continue;
      }
      chain = this.applyDirective(directive, entry, inner, { ...options, chain: undefined }, built, chain);
    }
    built.chain = chain;
    this.nesting--;
    return built;
  }

  /**
   * `job: ${{ parameters.name }}` with nothing bound to `name` would become a job with a made-up
   * name; the parameter is what the author needs to hear of.
   */
  private checkUnboundName(entry: YEntry, key: string, scope: Scope): void {
    if (entry.value.kind !== 'scalar' || !hasTemplateExpression(entry.value.value)) return;
    for (const match of entry.value.value.matchAll(PARAMETER_REFERENCE)) {
      const name = match[1] ?? match[2] ?? '';
      if (scope.parameters instanceof Dict && scope.parameters.has(name)) continue;
      this.issues.add(
        entry.value.pos,
        `'${key}' is empty: parameter '${name}' has no value (it is neither given nor declared with a default)`,
      );
      return;
    }
  }

  /** Runs one directive; returns the if-chain state for the next key. */
  private applyDirective(
    directive: Directive,
    entry: YEntry,
    scope: Scope,
    options: MapOptions,
    built: MapBuilder,
    chain: Chain,
  ): Chain {
    const at = keyAt(entry, 0);
    switch (directive.kind) {
      case 'if':
      case 'elseif': {
        if (directive.kind === 'elseif' && chain === undefined) {
          this.issues.add(at, `'${OPEN} elseif }}' must follow '${OPEN} if }}' or '${OPEN} elseif }}'`);
          return undefined;
        }
        if (chain?.taken && directive.kind === 'elseif') return chain;
        const holds = this.evaluate(directive.condition, scope, keyAt(entry, directive.conditionOffset));
        if (holds === FAILED) return { taken: true };
        const taken = toBoolean(holds);
        if (taken) this.splice(entry, scope, options, built);
        return { taken };
      }
      case 'else':
        if (chain === undefined)
          this.issues.add(at, `'${OPEN} else }}' must follow '${OPEN} if }}' or '${OPEN} elseif }}'`);
        else if (!chain.taken) this.splice(entry, scope, options, built);
        return undefined;
      case 'each':
        this.each(directive, entry, scope, options, built);
        return undefined;
      case 'insert':
        this.splice(entry, scope, options, built);
        return undefined;
      default:
        return directive satisfies never;
    }
  }

  private each(
    directive: Extract<Directive, { kind: 'each' }>,
    entry: YEntry,
    scope: Scope,
    options: MapOptions,
    built: MapBuilder,
  ): void {
    const collection = this.evaluate(directive.collection, scope, keyAt(entry, directive.collectionOffset));
    if (collection === FAILED || collection === null) return;
    let items: readonly Value[];
    if (collection instanceof List) items = collection.items;
    else if (collection instanceof Dict)
      items = collection.entries().map(
        ([key, value]) =>
          new Dict([
            ['key', key],
            ['value', value],
          ]),
      );
    else {
      this.issues.add(
        keyAt(entry, directive.collectionOffset),
        `'each' needs an array or an object, found ${describeValue(collection)}`,
      );
      return;
    }
    const name = directive.variable;
    for (const value of items) {
      if (!this.spend(1, entry.keyPos)) return;
      const locals = new Map(scope.locals);
      locals.set(name.toLowerCase(), { name, value });
      this.splice(entry, { ...scope, locals }, options, built);
    }
  }

  /** Inserts what a directive holds: keys into the mapping, or items into the enclosing list. */
  private splice(entry: YEntry, scope: Scope, options: MapOptions, built: MapBuilder): void {
    const { value } = entry;
    if (value.kind === 'map') {
      const inner = this.expandMap(value, scope, { ...options, skip: [] });
      for (const e of inner.entries) built.add(e);
      built.items.push(...inner.items);
      return;
    }
    if (value.kind === 'seq') {
      if (options.inSeq === undefined) {
        this.issues.add(
          value.pos,
          'a conditional or loop inside a mapping must hold a mapping, found a sequence',
        );
        return;
      }
      if (!this.enter(value.pos)) return;
      this.expandSeqItems(value.items, scope, options.inSeq.key, built.items);
      this.nesting--;
      return;
    }
    const node = value.kind === 'scalar' ? this.expandScalar(value, scope) : value;
    if (node.kind === 'map') for (const e of node.entries) built.add(e);
    else if (node.kind === 'seq' && options.inSeq !== undefined) built.items.push(...node.items);
    else if (node.kind !== 'null')
      this.issues.add(
        node.pos,
        `a conditional or loop must hold a mapping or a list, found ${describeNode(node)}`,
      );
  }

  private directive(entry: YEntry): Directive | undefined | typeof FAILED {
    if (!entry.key.trimStart().startsWith('${{')) return undefined;
    try {
      return readDirective(entry.key);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      this.issues.add(keyAt(entry, error.offset), `invalid template expression: ${error.detail}`);
      return FAILED;
    }
  }

  private expandKey(entry: YEntry, scope: Scope): string | undefined {
    if (!hasTemplateExpression(entry.key)) return entry.key;
    const segments = this.segments(entry.key, (offset) => keyAt(entry, offset));
    if (segments === undefined) return undefined;
    const key = this.interpolate(segments, scope, (offset) => keyAt(entry, offset));
    if (key !== undefined && key.trim() === '') {
      this.issues.add(entry.keyPos, 'a mapping key must not be empty once expanded');
      return undefined;
    }
    return key;
  }

  // ── expressions ──────────────────────────────────────────────────────────────────────────

  private segments(text: string, at: (offset: number) => SourcePos): Segment[] | undefined {
    try {
      return splitTemplateText(text);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      this.issues.add(at(error.offset), `invalid template expression: ${error.detail}`);
      return undefined;
    }
  }

  private interpolate(
    segments: readonly Segment[],
    scope: Scope,
    at: (offset: number) => SourcePos,
  ): string | undefined {
    let text = '';
    for (const segment of segments) {
      if (segment.kind === 'text') {
        text += segment.text;
        continue;
      }
      const value = this.evaluate(segment.source, scope, at(segment.offset));
      if (value === FAILED) return undefined;
      const part = toText(value);
      if (part === undefined) {
        this.issues.add(
          at(segment.offset - OPEN.length),
          `cannot insert ${describeValue(value)} into text (use convertToJson() for its JSON)`,
        );
        return undefined;
      }
      text += part;
    }
    return this.countText(text.length, at(0)) ? text : undefined;
  }

  private countText(length: number, at: SourcePos): boolean {
    this.createdText += length;
    if (this.createdText <= MAX_CREATED_TEXT) return true;
    this.stop(at, `template expressions create more than ${MAX_CREATED_TEXT / 1024 / 1024} MiB of text`);
    return false;
  }

  private evaluate(source: string, scope: Scope, at: SourcePos): Evaluated {
    if (!this.spend(1, at)) return FAILED;
    const names = [...TEMPLATE_NAMES, ...[...scope.locals.values()].map((l) => l.name)];
    let expr: Expr;
    try {
      expr = parseExpression(source, { names, unavailable: RUNTIME_ONLY });
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      this.issues.add({ ...at, col: at.col + error.offset }, `invalid template expression: ${error.detail}`);
      return FAILED;
    }
    try {
      return evaluateExpression(expr, { named: (name) => this.named(scope, name) });
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      this.issues.add({ ...at, col: at.col + error.offset }, `template expression failed: ${error.detail}`);
      return FAILED;
    }
  }

  private named(scope: Scope, name: string): Value {
    const local = scope.locals.get(name.toLowerCase());
    if (local !== undefined) return local.value;
    if (name === 'parameters') return scope.parameters;
    const queued = Object.entries(this.options.variables ?? {});
    return new Dict([...scope.variables.entries(), ...queued]);
  }

  /** A value placed into the pipeline; what it brings along counts against the expansion bound. */
  private inserted(value: Value, pos: SourcePos): YNode {
    const node = toNode(value, pos);
    if (node.kind === 'map' || node.kind === 'seq') this.spend(this.sizeOf(node), pos);
    return this.stopped ? broken(pos) : node;
  }

  private sizeOf(node: YNode): number {
    const known = this.sizes.get(node);
    if (known !== undefined) return known;
    let size = 1;
    if (node.kind === 'map') for (const e of node.entries) size += 1 + this.sizeOf(e.value);
    if (node.kind === 'seq') for (const item of node.items) size += this.sizeOf(item);
    this.sizes.set(node, size);
    return size;
  }

  // ── bounds ───────────────────────────────────────────────────────────────────────────────

  private spend(units: number, at: SourcePos): boolean {
    if (this.stopped) return false;
    this.work += units;
    if (this.work <= MAX_EXPANSION) return true;
    this.stop(
      at,
      `the pipeline expands too far (more than ${MAX_EXPANSION} nodes once templates, loops and ` +
        'parameters are expanded): refusing a possible template bomb',
    );
    return false;
  }

  private enter(at: SourcePos): boolean {
    if (this.stopped) return false;
    this.nesting++;
    if (this.nesting <= MAX_EXPANDED_NESTING) return true;
    this.nesting--;
    this.stop(
      at,
      `the pipeline nests deeper than ${MAX_EXPANDED_NESTING} levels once templates are expanded`,
    );
    return false;
  }

  private stop(at: SourcePos, detail: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.issues.add(at, detail);
  }

  private mapNode(built: MapBuilder, pos: SourcePos): YMap {
    return { kind: 'map', entries: built.entries, pos };
  }
}

function isTemplateContext(key: string | undefined): key is TemplateContext {
  return (TEMPLATE_CONTEXTS as readonly (string | undefined)[]).includes(key);
}

function readDirectiveSafe(key: string): Directive | undefined {
  try {
    return readDirective(key);
  } catch {
    return undefined;
  }
}

function broken(pos: SourcePos): YNode {
  return { kind: 'null', pos, broken: true };
}

function isBrokenNode(node: YNode): boolean {
  return node.kind === 'null' && node.broken === true;
}

/** Where character `offset` of a scalar is, when it is written verbatim on one line. */
function valueAt(node: YScalar, offset: number): SourcePos {
  return node.valueCol === undefined ? node.pos : { ...node.pos, col: node.valueCol + offset };
}

function keyAt(entry: YEntry, offset: number): SourcePos {
  return entry.keyValueCol === undefined
    ? entry.keyPos
    : { ...entry.keyPos, col: entry.keyValueCol + offset };
}

/** `variables` as list items, whichever form it was written in. */
function variableItems(node: YNode): YNode[] {
  if (node.kind === 'seq') return node.items;
  if (node.kind !== 'map') return [];
  return node.entries.map((e) => ({
    kind: 'map',
    pos: e.keyPos,
    entries: [
      { key: 'name', keyPos: e.keyPos, value: { kind: 'scalar', value: e.key, pos: e.keyPos } },
      { key: 'value', keyPos: e.keyPos, value: e.value },
    ],
  }));
}

/** The variables with literal values a `variables:` block defines, for `${{ variables.x }}`. */
function withVariables(scope: Scope, node: YNode): Scope {
  const found: Array<[string, Value]> = [];
  const add = (name: YNode | undefined, value: YNode | undefined) => {
    if (name?.kind !== 'scalar') return;
    const text = value?.kind === 'scalar' ? value.value : '';
    if (!text.trimStart().startsWith('$[')) found.push([name.value, text]);
  };
  if (node.kind === 'map')
    for (const e of node.entries) add({ kind: 'scalar', value: e.key, pos: e.keyPos }, e.value);
  if (node.kind === 'seq') {
    for (const item of node.items) {
      if (item.kind === 'map') add(entryOf(item, 'name')?.value, entryOf(item, 'value')?.value);
    }
  }
  if (found.length === 0) return scope;
  return { ...scope, variables: new Dict([...scope.variables.entries(), ...found]) };
}

/** `resources.repositories` aliases → repository names, read as written, for error messages. */
function repositoryNames(root: YMap): Map<string, string> {
  const names = new Map<string, string>();
  const resources = entryOf(root, 'resources')?.value;
  const repositories = resources?.kind === 'map' ? entryOf(resources, 'repositories')?.value : undefined;
  if (repositories?.kind !== 'seq') return names;
  for (const item of repositories.items) {
    if (item.kind !== 'map') continue;
    const alias = entryOf(item, 'repository')?.value;
    const name = entryOf(item, 'name')?.value;
    if (alias?.kind === 'scalar' && name?.kind === 'scalar') names.set(alias.value.toLowerCase(), name.value);
  }
  return names;
}
