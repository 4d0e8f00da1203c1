import type { Issues } from './issues.js';
import { checkKeys, entryOf, expectMap, mismatch, readBoolean, readString, readText } from './reader.js';
import type { SourcePos } from './types.js';
import type { YEntry, YNode } from './yaml-tree.js';

export interface Variable {
  name: string;
  value: string;
  readonly: boolean;
}

/** Copied into every job of the plan; see MAX_JOBS. */
export const MAX_VARIABLES = 1000;
const ITEM_KEYS = {
  context: 'variable',
  known: ['name', 'value', 'readonly'],
  unsupported: ['group', 'template'],
};
const NAME = /^[A-Za-z0-9_.-]+$/;
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
  checkKeys(issues, map, ITEM_KEYS);
  if (entryOf(map, 'group') || entryOf(map, 'template')) return undefined;
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

function readVariable(
  issues: Issues,
  name: string,
  namePos: SourcePos,
  valueEntry: YEntry | undefined,
  readonly: boolean,
): Variable | undefined {
  const nameOk = checkName(issues, name, namePos);
  const value = valueEntry ? readText(issues, valueEntry) : '';
  if (value?.trimStart().startsWith('$[') && valueEntry) {
    issues.add(valueEntry.value.pos, "runtime expressions ('$[ ]') are not supported yet by Slipway");
    return undefined;
  }
  return nameOk && value !== undefined ? { name, value, readonly } : undefined;
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
    byName.delete(variable.name.toLowerCase());
    byName.set(variable.name.toLowerCase(), variable);
  }
  return [...byName.values()];
}

export function variableRecord(variables: readonly Variable[]): Record<string, string> {
  return Object.fromEntries(variables.map((v) => [v.name, v.value]));
}
