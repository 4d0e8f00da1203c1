import { ExpressionError, parseExpression } from './expression-parser.js';
import type { Issues } from './issues.js';
import { checkKeys, entryOf, expectMap, mismatch, readBoolean, readString, readText } from './reader.js';
import type { SourcePos } from './types.js';
import type { YEntry, YNode } from './yaml-tree.js';

export interface Variable {
  name: string;
  /** The value, or for a runtime variable the expression inside `$[ ]`. */
  value: string;
  readonly: boolean;
  /** Defined by a runtime expression (`$[ … ]`), evaluated when the job starts. */
  runtime?: true;
  /** `- group: NAME`: a variable group kept on the coordinator; `name` is the group's, `value` empty. */
  group?: true;
}

/** Copied into every job of the plan; see MAX_JOBS. */
export const MAX_VARIABLES = 1000;
const ITEM_KEYS = {
  context: 'variable',
  known: ['name', 'value', 'readonly'],
};
const NAME = /^[A-Za-z0-9_.-]+$/;
const GROUP_KEYS = { context: 'variable group reference', known: ['group'] };
/** As Azure allows them: words with spaces between. */
export const GROUP_NAME = /^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$/;
/** Azure reserves these prefixes for the agent's own variables. */
const RESERVED_PREFIXES = ['endpoint', 'input', 'secret', 'path', 'securefile'];

/** `variables:` as a mapping `{ K: V }` or as a list of `- name: K / value: V` items. */
export function readVariables(issues: Issues, entry: YEntry): Variable[] {
  const { value } = entry;
  if (value.kind === 'null') return [];
  const extra = beyondLimit(value);
  if (extra) {
    issues.add(extra, `a variables block may define at most ${MAX_VARIABLES} variables`);
    return [];
  }
  if (value.kind === 'map') {
    return value.entries.flatMap((item) => {
      const variable = readVariable(issues, item.key, item.keyPos, item, false);
      return variable ? [variable] : [];
    });
  }
  if (value.kind === 'seq') return value.items.flatMap((item) => readListItem(issues, item) ?? []);
  mismatch(issues, entry, 'a mapping of names to values or a list of name/value items');
  return [];
}

function beyondLimit(node: YNode): SourcePos | undefined {
  if (node.kind === 'map') return node.entries[MAX_VARIABLES]?.keyPos;
  return node.kind === 'seq' ? node.items[MAX_VARIABLES]?.pos : undefined;
}

function readListItem(issues: Issues, node: YNode): Variable | undefined {
  const map = expectMap(issues, node, 'a variables item');
  if (!map) return undefined;
  const group = entryOf(map, 'group');
  if (group) {
    checkKeys(issues, map, GROUP_KEYS);
    const name = readString(issues, group);
    if (name === undefined) return undefined;
    if (!GROUP_NAME.test(name)) {
      issues.add(
        group.value.pos,
        `invalid variable group name '${name}': use letters, digits, spaces, '.', '_' and '-'`,
      );
      return undefined;
    }
    return { name, value: '', readonly: false, group: true };
  }
  const template = entryOf(map, 'template');
  if (template) {
    issues.add(template.keyPos, "a variables 'template' can only be included in a list under 'variables'");
    return undefined;
  }
  checkKeys(issues, map, ITEM_KEYS);
  const nameEntry = entryOf(map, 'name');
  if (!nameEntry) {
    issues.add(map.pos, "a variables item needs a 'name'");
    return undefined;
  }
  const name = readString(issues, nameEntry);
  const valueEntry = entryOf(map, 'value');
  const readonlyEntry = entryOf(map, 'readonly');
  const readonly = readonlyEntry ? readBoolean(issues, readonlyEntry) : false;
  if (name === undefined) return undefined;
  return readVariable(issues, name, nameEntry.value.pos, valueEntry, readonly ?? false);
}

export function readVariable(
  issues: Issues,
  name: string,
  namePos: SourcePos,
  valueEntry: YEntry | undefined,
  readonly: boolean,
  options: { runtime: boolean } = { runtime: true },
): Variable | undefined {
  const nameOk = checkName(issues, name, namePos);
  const value = valueEntry ? readText(issues, valueEntry) : '';
  if (value === undefined || !nameOk) return undefined;
  if (!valueEntry || !isRuntimeExpression(value)) return { name, value, readonly };
  if (!options.runtime) {
    issues.add(valueEntry.value.pos, "a runtime expression ('$[ ]') cannot be used here");
    return undefined;
  }
  const source = readRuntimeExpression(issues, valueEntry, value);
  return source === undefined ? undefined : { name, value: source, readonly, runtime: true };
}

/** `$[ … ]` taking the whole value, as Azure requires for runtime expressions. */
export function isRuntimeExpression(value: string): boolean {
  return value.trimStart().startsWith('$[');
}

/** The expression inside `$[ ]`, checked now so a typo fails the pipeline, not the job. */
function readRuntimeExpression(issues: Issues, entry: YEntry, value: string): string | undefined {
  const node = entry.value;
  const start = value.indexOf('$[') + 2;
  const end = value.trimEnd().endsWith(']') ? value.trimEnd().length - 1 : -1;
  const at = (offset: number): SourcePos =>
    node.kind === 'scalar' && node.valueCol !== undefined
      ? { ...node.pos, col: node.valueCol + offset }
      : node.pos;
  if (end < start) {
    issues.add(at(0), "a runtime expression must be written '$[ <expression> ]', taking the whole value");
    return undefined;
  }
  const source = value.slice(start, end);
  try {
    parseExpression(source);
    return source.trim();
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    issues.add(at(start + error.offset), `invalid runtime expression: ${error.detail}`);
    return undefined;
  }
}

function checkName(issues: Issues, name: string, pos: SourcePos): boolean {
  if (!NAME.test(name)) {
    issues.add(pos, `invalid variable name '${name}': use letters, digits, '.', '_' and '-'`);
    return false;
  }
  const reserved = RESERVED_PREFIXES.find((p) => name.toLowerCase().startsWith(p));
  if (reserved === undefined) return true;
  issues.add(pos, `invalid variable name '${name}': names starting with '${reserved}' are reserved`);
  return false;
}

/** Later definitions win, and names match case-insensitively, as Azure variables do. */
export function overlayVariables(base: readonly Variable[], over: readonly Variable[]): Variable[] {
  const byName = new Map<string, Variable>();
  for (const variable of [...base, ...over]) {
    // A group and a variable of the same name are different things.
    const key = `${variable.group ? 'group:' : ''}${variable.name.toLowerCase()}`;
    byName.delete(key);
    byName.set(key, variable);
  }
  return [...byName.values()];
}

/** The variables with values known now. */
export function variableRecord(variables: readonly Variable[]): Record<string, string> {
  return Object.fromEntries(variables.filter((v) => !v.runtime && !v.group).map((v) => [v.name, v.value]));
}

/** The variable groups referenced, in definition order; the coordinator fills in their values. */
export function groupNames(variables: readonly Variable[]): string[] {
  return variables.filter((v) => v.group).map((v) => v.name);
}

/** Runtime variables, name → expression source, in definition order. */
export function runtimeRecord(variables: readonly Variable[]): Record<string, string> {
  return Object.fromEntries(variables.filter((v) => v.runtime).map((v) => [v.name, v.value]));
}
