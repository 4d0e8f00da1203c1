import type { Issues } from './issues.js';
import { checkKeys, entryOf, expectMap, readString } from './reader.js';
import type { SourcePos } from './types.js';
import { Dict, fromNode, List, toText, type Value } from './values.js';
import { describeNode, type YEntry, type YNode } from './yaml-tree.js';

/** Azure's parameter types; `any` is the untyped `name: default` form of older templates. */
export const PARAMETER_TYPES = [
  'string',
  'number',
  'boolean',
  'object',
  'step',
  'stepList',
  'job',
  'jobList',
  'deployment',
  'deploymentList',
  'stage',
  'stageList',
  'container',
  'containerList',
  'filePath',
  'pool',
  'environment',
  'secureFile',
  'serviceConnection',
] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number] | 'any';

export interface ParameterDeclaration {
  name: string;
  type: ParameterType;
  default?: YNode;
  /** Allowed values, for scalar types. */
  values?: YNode[];
  pos: SourcePos;
}

const DECLARATION_KEYS = {
  context: 'parameter',
  known: ['name', 'displayName', 'type', 'default', 'values'],
};
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const TYPES_BY_LOWER = new Map(PARAMETER_TYPES.map((t) => [t.toLowerCase(), t]));

/** Where the values of list-typed parameters go, so `- template:` items in them are included. */
export function contextOfType(type: ParameterType | undefined): string | undefined {
  switch (type) {
    case 'stepList':
      return 'steps';
    case 'jobList':
    case 'deploymentList':
      return 'jobs';
    case 'stageList':
      return 'stages';
    default:
      return undefined;
  }
}

/** Whether a template's `parameters:` (or its absence) takes parameters it does not declare: all but the list form. */
export function acceptsUndeclared(entry: YEntry | undefined): boolean {
  return entry === undefined || entry.value.kind !== 'seq';
}

/** `parameters:` as a list of `{ name, type, default, values }`, or the older `{ name: default }`. */
export function readDeclarations(issues: Issues, entry: YEntry): ParameterDeclaration[] {
  const { value } = entry;
  if (value.kind === 'null') return [];
  if (value.kind === 'map') {
    return value.entries.map((e) => ({ name: e.key, type: 'any', default: e.value, pos: e.keyPos }));
  }
  if (value.kind !== 'seq') {
    issues.add(value.pos, `'parameters' must be a list of parameters, found ${describeNode(value)}`);
    return [];
  }
  const declarations: ParameterDeclaration[] = [];
  const seen = new Set<string>();
  for (const item of value.items) {
    const declaration = readDeclaration(issues, item);
    if (declaration === undefined) continue;
    if (seen.has(declaration.name.toLowerCase())) {
      issues.add(declaration.pos, `duplicate parameter '${declaration.name}'`);
      continue;
    }
    seen.add(declaration.name.toLowerCase());
    declarations.push(declaration);
  }
  return declarations;
}

function readDeclaration(issues: Issues, node: YNode): ParameterDeclaration | undefined {
  const map = expectMap(issues, node, 'a parameter');
  if (!map) return undefined;
  checkKeys(issues, map, DECLARATION_KEYS);
  const nameEntry = entryOf(map, 'name');
  if (!nameEntry) {
    issues.add(map.pos, "a parameter needs a 'name'");
    return undefined;
  }
  const name = readString(issues, nameEntry);
  if (name === undefined) return undefined;
  if (!NAME.test(name)) {
    issues.add(
      nameEntry.value.pos,
      `invalid parameter name '${name}': use letters, digits, '_', '.' and '-'`,
    );
    return undefined;
  }
  const typeEntry = entryOf(map, 'type');
  let type: ParameterType = 'string';
  if (typeEntry) {
    const written = readString(issues, typeEntry);
    const known = written === undefined ? undefined : TYPES_BY_LOWER.get(written.toLowerCase());
    if (written !== undefined && known === undefined) {
      issues.add(
        typeEntry.value.pos,
        `unknown parameter type '${written}' (one of ${PARAMETER_TYPES.join(', ')})`,
      );
      return undefined;
    }
    type = known ?? 'string';
  }
  const declaration: ParameterDeclaration = { name, type, pos: nameEntry.value.pos };
  const defaultEntry = entryOf(map, 'default');
  if (defaultEntry) declaration.default = defaultEntry.value;
  const valuesEntry = entryOf(map, 'values');
  if (valuesEntry) {
    if (valuesEntry.value.kind === 'seq') declaration.values = valuesEntry.value.items;
    else
      issues.add(valuesEntry.value.pos, `'values' must be a list, found ${describeNode(valuesEntry.value)}`);
  }
  return declaration;
}

/** A value given for a parameter: YAML where a template is included, text from the command line. */
export type GivenValue = { node: YNode; pos: SourcePos } | { text: string; pos: SourcePos };

/**
 * The parameters a template (or the pipeline) sees: each declared one with its given value or
 * default, converted to its type. `missing` says what to report for one without either.
 */
export function bindParameters(
  issues: Issues,
  declarations: readonly ParameterDeclaration[],
  given: ReadonlyMap<string, { name: string; value: GivenValue }>,
  missing: (declaration: ParameterDeclaration) => { pos: SourcePos; detail: string },
  unknown: (name: string) => string,
  /**
   * Whether values for undeclared names are taken as given: so for a template with no
   * `parameters:` or with the older map form, as Azure has always run them. Default false.
   */
  open = false,
): Dict {
  const declared = new Set(declarations.map((d) => d.name.toLowerCase()));
  const bound: Array<[string, Value]> = [];
  for (const [lower, { name, value }] of given) {
    if (declared.has(lower)) continue;
    if (!open) issues.add(value.pos, unknown(name));
    else {
      const typed = convert(issues, { name, type: 'any', pos: value.pos }, value);
      if (typed !== undefined) bound.push([name, typed]);
    }
  }
  for (const declaration of declarations) {
    const value = given.get(declaration.name.toLowerCase())?.value;
    const fallback = declaration.default;
    if (value === undefined && fallback === undefined) {
      const problem = missing(declaration);
      issues.add(problem.pos, problem.detail);
      // Bound, as nothing: reported once here, not again where it is used.
      bound.push([declaration.name, null]);
      continue;
    }
    const typed =
      value === undefined
        ? convert(issues, declaration, { node: fallback as YNode, pos: (fallback as YNode).pos })
        : convert(issues, declaration, value);
    if (typed !== undefined) bound.push([declaration.name, typed]);
  }
  return new Dict(bound);
}

function convert(issues: Issues, declaration: ParameterDeclaration, given: GivenValue): Value | undefined {
  const { name, type } = declaration;
  const wrong = (expected: string, found: string): undefined => {
    issues.add(given.pos, `parameter '${name}' must be ${expected}, found ${found}`);
    return undefined;
  };
  const node = 'node' in given ? given.node : fromText(given.text, type);
  if (node === undefined) return wrong('JSON for its type', `'${'text' in given ? given.text : ''}'`);
  const value = convertNode(node, type, wrong);
  if (value === undefined || declaration.values === undefined) return value;
  const allowed = declaration.values.map((v) => (v.kind === 'scalar' ? v.value : ''));
  if (allowed.some((a) => isAllowed(value, a))) return value;
  return wrong(`one of ${allowed.join(', ')}`, describeNode(node));
}

type Wrong = (expected: string, found: string) => undefined;

function convertNode(node: YNode, type: ParameterType, wrong: Wrong): Value | undefined {
  const scalar = node.kind === 'scalar' ? node.value : node.kind === 'null' ? '' : undefined;
  switch (type) {
    case 'string':
    case 'filePath':
    case 'secureFile':
    case 'serviceConnection':
      return scalar ?? wrong('a string', describeNode(node));
    case 'number': {
      const number = scalar === undefined || scalar.trim() === '' ? Number.NaN : Number(scalar);
      return Number.isFinite(number) ? number : wrong('a number', describeNode(node));
    }
    case 'boolean':
      if (scalar !== undefined && /^(true|false)$/i.test(scalar.trim()))
        return scalar.trim().toLowerCase() === 'true';
      return wrong('true or false', describeNode(node));
    case 'step':
    case 'job':
    case 'deployment':
    case 'stage':
    case 'container':
      return node.kind === 'map' ? fromNode(node) : wrong(`a ${type} (a mapping)`, describeNode(node));
    case 'stepList':
    case 'jobList':
    case 'deploymentList':
    case 'stageList':
    case 'containerList':
      if (node.kind === 'null') return new List([]);
      return node.kind === 'seq' ? fromNode(node) : wrong(`a ${type} (a list)`, describeNode(node));
    case 'pool':
    case 'environment':
      return node.kind === 'scalar' || node.kind === 'map'
        ? fromNode(node)
        : wrong('a name or a mapping', describeNode(node));
    case 'object':
    case 'any':
      return fromNode(node);
    default:
      return type satisfies never;
  }
}

/** A value given as text (on the command line): scalars as they are, objects and lists as JSON. */
function fromText(text: string, type: ParameterType): YNode | undefined {
  const pos = { line: 1, col: 1 };
  const scalarTypes: readonly ParameterType[] = [
    'string',
    'number',
    'boolean',
    'filePath',
    'secureFile',
    'serviceConnection',
    'pool',
    'environment',
  ];
  if (scalarTypes.includes(type)) return { kind: 'scalar', value: text, pos };
  try {
    return jsonNode(JSON.parse(text), pos);
  } catch {
    return type === 'any' ? { kind: 'scalar', value: text, pos } : undefined;
  }
}

function jsonNode(json: unknown, pos: SourcePos): YNode {
  if (json === null || json === undefined) return { kind: 'null', pos };
  if (Array.isArray(json)) return { kind: 'seq', items: json.map((j) => jsonNode(j, pos)), pos };
  if (typeof json === 'object') {
    const entries = Object.entries(json).map(([key, v]) => ({ key, keyPos: pos, value: jsonNode(v, pos) }));
    return { kind: 'map', entries, pos };
  }
  return { kind: 'scalar', value: typeof json === 'boolean' ? (json ? 'True' : 'False') : String(json), pos };
}

/** `values:` are written as text; numbers and booleans compare by value, text exactly. */
function isAllowed(value: Value, allowed: string): boolean {
  if (typeof value === 'number') return allowed.trim() !== '' && Number(allowed) === value;
  if (typeof value === 'boolean') return allowed.trim().toLowerCase() === String(value);
  return toText(value) === allowed;
}
