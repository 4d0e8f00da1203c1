import { identifierProblem } from './identifiers.js';
import type { Issues } from './issues.js';
import { DEFAULT_CONDITION, readCondition } from './read-condition.js';
import {
  checkKeys,
  entryOf,
  expectMap,
  mismatch,
  notSupported,
  readBoolean,
  readMinutes,
  readString,
  readStringMap,
} from './reader.js';
import type { StepKind, StepPlan } from './types.js';
import type { YEntry, YMap, YNode } from './yaml-tree.js';

const KINDS: readonly StepKind[] = ['script', 'bash'];
/** Azure step types Slipway cannot run yet; a step of one of them is refused as a whole. */
const UNSUPPORTED_KINDS = [
  'task',
  'checkout',
  'pwsh',
  'powershell',
  'template',
  'download',
  'downloadBuild',
  'getPackage',
  'publish',
  'reviewApp',
];
const STEP_KEYS = {
  context: 'step',
  known: [
    ...KINDS,
    'displayName',
    'name',
    'env',
    'workingDirectory',
    'continueOnError',
    'timeoutInMinutes',
    'condition',
    'enabled',
  ],
  unsupported: ['failOnStderr', 'noProfile', 'noRc', 'retryCountOnTaskFailure', 'target', 'inputs'],
};
const DISPLAY_NAME_MAX = 60;
export const MAX_STEPS = 1000;

/** `steps:` of one job; steps with `enabled: false` are checked, then left out. */
export function readSteps(issues: Issues, entry: YEntry): StepPlan[] | undefined {
  const { value } = entry;
  if (value.kind !== 'seq') return mismatch(issues, entry, 'a list of steps');
  if (value.items.length === 0) {
    issues.add(value.pos, "'steps' must list at least one step");
    return undefined;
  }
  const extra = value.items[MAX_STEPS];
  if (extra) {
    issues.add(extra.pos, `a job may have at most ${MAX_STEPS} steps`);
    return undefined;
  }
  const steps: StepPlan[] = [];
  const names = new Map<string, string>();
  for (const item of value.items) {
    const read = readStep(issues, item);
    if (read?.step.name !== undefined) checkUnique(issues, names, read.step);
    if (read?.enabled) steps.push(read.step);
  }
  return steps;
}

function checkUnique(issues: Issues, names: Map<string, string>, step: StepPlan): void {
  const name = step.name ?? '';
  const earlier = names.get(name.toLowerCase());
  if (earlier !== undefined)
    issues.add(step.pos, `duplicate step name '${name}' (already used by a step at ${earlier})`);
  else names.set(name.toLowerCase(), `${step.pos.line}:${step.pos.col}`);
}

function readStep(issues: Issues, node: YNode): { step: StepPlan; enabled: boolean } | undefined {
  const map = expectMap(issues, node, 'a step');
  if (!map) return undefined;
  const refused = map.entries.filter((e) => UNSUPPORTED_KINDS.includes(e.key));
  if (refused.length > 0) {
    for (const e of refused) issues.add(e.keyPos, notSupported(e.key));
    return undefined;
  }
  checkKeys(issues, map, STEP_KEYS);
  const kindEntry = readKind(issues, map);
  const field = (key: string) => entryOf(map, key);
  const script = kindEntry && readString(issues, kindEntry);
  const name = optional(field('name'), (e) => readName(issues, e));
  const displayName = optional(field('displayName'), (e) => readString(issues, e));
  const env = optional(field('env'), (e) => readStringMap(issues, e)) ?? {};
  const workingDirectory = optional(field('workingDirectory'), (e) => readString(issues, e));
  const continueOnError = optional(field('continueOnError'), (e) => readBoolean(issues, e)) ?? false;
  const timeoutInMinutes = optional(field('timeoutInMinutes'), (e) => readMinutes(issues, e)) ?? 0;
  const condition = optional(field('condition'), (e) => readCondition(issues, e)) ?? DEFAULT_CONDITION;
  const enabled = optional(field('enabled'), (e) => readBoolean(issues, e)) ?? true;
  if (kindEntry === undefined || script === undefined) return undefined;
  const step: StepPlan = {
    kind: kindEntry.key as StepKind,
    script,
    displayName: displayName ?? defaultDisplayName(script),
    env,
    continueOnError,
    timeoutInMinutes,
    condition,
    pos: map.pos,
  };
  if (name !== undefined) step.name = name;
  if (workingDirectory !== undefined) step.workingDirectory = workingDirectory;
  return { step, enabled };
}

function readKind(issues: Issues, map: YMap): YEntry | undefined {
  const kinds = map.entries.filter((e) => (KINDS as readonly string[]).includes(e.key));
  const [first, second] = kinds;
  if (first === undefined) issues.add(map.pos, "a step needs 'script' or 'bash'");
  if (second !== undefined) issues.add(second.keyPos, "a step has one of 'script' or 'bash', not both");
  return kinds.length === 1 ? first : undefined;
}

function readName(issues: Issues, entry: YEntry): string | undefined {
  const name = readString(issues, entry);
  const problem = name === undefined ? undefined : identifierProblem('step', name);
  if (problem) issues.add(entry.value.pos, problem);
  return problem ? undefined : name;
}

function optional<T>(entry: YEntry | undefined, read: (entry: YEntry) => T | undefined): T | undefined {
  return entry === undefined ? undefined : read(entry);
}

/** What the UI shows for a step without `displayName`: its first line of script. */
export function defaultDisplayName(script: string): string {
  const firstLine = script.split('\n').find((line) => line.trim() !== '') ?? '';
  const text = `Run: ${firstLine.trim()}`;
  return text.length > DISPLAY_NAME_MAX ? `${text.slice(0, DISPLAY_NAME_MAX - 1)}…` : text;
}
