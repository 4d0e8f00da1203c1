import { identifierProblem } from './identifiers.js';
import type { Issues } from './issues.js';
import { isCacheTask, readCacheStep, readCacheTask } from './read-cache.js';
import { DEFAULT_CONDITION, readCondition } from './read-condition.js';
import { checkTaskKeys, readTaskCall } from './read-task.js';
import {
  checkKeys,
  entryOf,
  expectMap,
  mismatch,
  notSupported,
  readBoolean,
  readCount,
  readMinutes,
  readString,
  readStringMap,
} from './reader.js';
import type { CheckoutOptions, DownloadOptions, PublishOptions, StepKind, StepPlan } from './types.js';
import type { YEntry, YMap, YNode } from './yaml-tree.js';

/** The keys that say what a step does; `powershell` runs as `pwsh`, as Azure does on Linux. */
const KIND_KEYS = [
  'script',
  'bash',
  'pwsh',
  'powershell',
  'checkout',
  'publish',
  'download',
  'cache',
] as const;
/** `task` is a kind only for the tasks Slipway runs as its own steps (the cache tasks). */
type KindKey = (typeof KIND_KEYS)[number] | 'task';
/** Azure step types Slipway cannot run yet; a step of one of them is refused as a whole. */
const UNSUPPORTED_KINDS = ['template', 'downloadBuild', 'getPackage', 'reviewApp'];
const COMMON_KEYS = [
  'displayName',
  'name',
  'env',
  'continueOnError',
  'timeoutInMinutes',
  'condition',
  'enabled',
  'retryCountOnTaskFailure',
];
const KEYS_BY_KIND: Record<KindKey, readonly string[]> = {
  script: ['workingDirectory', 'failOnStderr'],
  bash: ['workingDirectory', 'failOnStderr'],
  pwsh: ['workingDirectory', 'failOnStderr', 'errorActionPreference', 'ignoreLASTEXITCODE'],
  powershell: ['workingDirectory', 'failOnStderr', 'errorActionPreference', 'ignoreLASTEXITCODE'],
  checkout: ['clean', 'fetchDepth', 'fetchTags', 'lfs', 'submodules', 'persistCredentials', 'path'],
  publish: ['artifact', 'publishLocation'],
  download: ['artifact', 'patterns', 'path'],
  cache: [],
  task: ['task', 'inputs'],
};
const UNSUPPORTED_KEYS = [
  'target',
  'inputs',
  'noProfile',
  'noRc',
  'warningPreference',
  'informationPreference',
  'verbosePreference',
  'debugPreference',
  'progressPreference',
  'sparseCheckoutDirectories',
  'sparseCheckoutPatterns',
  'workspaceRepo',
  'fileSharePath',
  'parallel',
  'parallelCount',
];
const ERROR_ACTIONS = { stop: 'stop', continue: 'continue', silentlycontinue: 'silentlyContinue' } as const;
const DISPLAY_NAME_MAX = 60;
export const MAX_STEPS = 1000;
/** Azure's limit for retryCountOnTaskFailure. */
export const MAX_STEP_RETRIES = 10;

export interface StepList {
  steps: StepPlan[];
  /** What the job's `checkout:` steps say about its sources, when any is written. */
  checkout?: 'self' | 'none';
}

/** `steps:` of one job; steps with `enabled: false` are checked, then left out. */
export function readSteps(issues: Issues, entry: YEntry): StepList | undefined {
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
  const list: StepList = { steps: [] };
  const names = new Map<string, string>();
  for (const item of value.items) {
    const read = readStep(issues, item);
    if (read === undefined) continue;
    if (read.step?.name !== undefined) checkUnique(issues, names, read.step);
    if (!read.enabled) continue;
    if (read.checkout !== undefined && list.checkout !== 'self') list.checkout = read.checkout;
    if (read.step) list.steps.push(read.step);
  }
  return list;
}

function checkUnique(issues: Issues, names: Map<string, string>, step: StepPlan): void {
  const name = step.name ?? '';
  const earlier = names.get(name.toLowerCase());
  if (earlier !== undefined)
    issues.add(step.pos, `duplicate step name '${name}' (already used by a step at ${earlier})`);
  else names.set(name.toLowerCase(), `${step.pos.line}:${step.pos.col}`);
}

interface ReadStep {
  /** Absent for steps that only switch something off (`checkout: none`, `download: none`). */
  step?: StepPlan;
  enabled: boolean;
  checkout?: 'self' | 'none';
}

function readStep(issues: Issues, node: YNode): ReadStep | undefined {
  const map = expectMap(issues, node, 'a step');
  if (!map) return undefined;
  const task = entryOf(map, 'task');
  // The Cache tasks compile to the cache step (below); every other task is Slipway's or refused.
  if (task && !(task.value.kind === 'scalar' && isCacheTask(task.value.value))) {
    return readTaskStep(issues, map, task);
  }
  const refused = map.entries.filter((e) => UNSUPPORTED_KINDS.includes(e.key));
  if (refused.length > 0) {
    for (const e of refused) issues.add(e.keyPos, notSupported(e.key));
    return undefined;
  }
  const kindEntry = readKind(issues, map);
  const kindKey = kindEntry?.key as KindKey | undefined;
  const known = [...KIND_KEYS, ...COMMON_KEYS, ...(kindKey ? KEYS_BY_KIND[kindKey] : [])];
  checkKeys(issues, map, {
    context: kindKey ? `${kindKey} step` : 'step',
    known,
    unsupported: UNSUPPORTED_KEYS,
  });
  const field = (key: string) => entryOf(map, key);
  const enabled = optional(field('enabled'), (e) => readBoolean(issues, e)) ?? true;
  const common = readCommon(issues, map);
  if (kindEntry === undefined || kindKey === undefined || common === undefined) return undefined;
  const body = readBody(issues, map, kindEntry, kindKey);
  if (body === undefined) return undefined;
  if ('off' in body) return { enabled, checkout: body.off === 'checkout' ? 'none' : undefined };
  const step: StepPlan = {
    kind: body.kind,
    script: body.script,
    displayName: common.displayName ?? body.displayName,
    env: common.env,
    continueOnError: common.continueOnError,
    timeoutInMinutes: common.timeoutInMinutes,
    condition: common.condition,
    pos: map.pos,
    ...body.extra,
  };
  if (common.name !== undefined) step.name = common.name;
  if (common.retries !== undefined) step.retryCountOnTaskFailure = common.retries;
  return body.kind === 'checkout' ? { step, enabled, checkout: 'self' } : { step, enabled };
}

/** A `task:` step: the task and its inputs, with the keys every step has. */
function readTaskStep(issues: Issues, map: YMap, taskEntry: YEntry): ReadStep | undefined {
  checkTaskKeys(issues, map, COMMON_KEYS);
  const enabled = optional(entryOf(map, 'enabled'), (e) => readBoolean(issues, e)) ?? true;
  const common = readCommon(issues, map);
  const call = readTaskCall(issues, map, taskEntry);
  if (common === undefined || call === undefined) return undefined;
  const step: StepPlan = {
    kind: 'task',
    script: '',
    displayName: common.displayName ?? call.displayName,
    env: common.env,
    continueOnError: common.continueOnError,
    timeoutInMinutes: common.timeoutInMinutes,
    condition: common.condition,
    pos: map.pos,
    task: call.task,
  };
  if (common.name !== undefined) step.name = common.name;
  if (common.retries !== undefined) step.retryCountOnTaskFailure = common.retries;
  return { step, enabled };
}

interface Common {
  name?: string;
  displayName?: string;
  env: Record<string, string>;
  continueOnError: boolean;
  timeoutInMinutes: number;
  condition: string;
  retries?: number;
}

function readCommon(issues: Issues, map: YMap): Common | undefined {
  const field = (key: string) => entryOf(map, key);
  const name = optional(field('name'), (e) => readName(issues, e));
  const displayName = optional(field('displayName'), (e) => readString(issues, e));
  const env = optional(field('env'), (e) => readStringMap(issues, e)) ?? {};
  const continueOnError = optional(field('continueOnError'), (e) => readBoolean(issues, e)) ?? false;
  const timeoutInMinutes = optional(field('timeoutInMinutes'), (e) => readMinutes(issues, e)) ?? 0;
  const condition = optional(field('condition'), (e) => readCondition(issues, e)) ?? DEFAULT_CONDITION;
  const retries = optional(field('retryCountOnTaskFailure'), (e) => readRetries(issues, e));
  const common: Common = { env, continueOnError, timeoutInMinutes, condition };
  if (name !== undefined) common.name = name;
  if (displayName !== undefined) common.displayName = displayName;
  if (retries !== undefined) common.retries = retries;
  return common;
}

type Body =
  | { kind: StepKind; script: string; displayName: string; extra: Partial<StepPlan> }
  | { off: 'checkout' | 'download' };

function readBody(issues: Issues, map: YMap, kindEntry: YEntry, kindKey: KindKey): Body | undefined {
  switch (kindKey) {
    case 'script':
    case 'bash':
    case 'pwsh':
    case 'powershell':
      return readScript(issues, map, kindEntry, kindKey);
    case 'checkout':
      return readCheckout(issues, map, kindEntry);
    case 'publish':
      return readPublish(issues, map, kindEntry);
    case 'download':
      return readDownload(issues, map, kindEntry);
    case 'cache':
      return readCacheStep(issues, kindEntry);
    case 'task':
      return readCacheTask(issues, kindEntry, entryOf(map, 'inputs'));
    default:
      return kindKey satisfies never;
  }
}

function readScript(issues: Issues, map: YMap, kindEntry: YEntry, kindKey: KindKey): Body | undefined {
  const field = (key: string) => entryOf(map, key);
  const script = readString(issues, kindEntry);
  const extra: Partial<StepPlan> = {};
  const workingDirectory = optional(field('workingDirectory'), (e) => readString(issues, e));
  const failOnStderr = optional(field('failOnStderr'), (e) => readBoolean(issues, e));
  const errorAction = optional(field('errorActionPreference'), (e) => readErrorAction(issues, e));
  const ignoreExit = optional(field('ignoreLASTEXITCODE'), (e) => readBoolean(issues, e));
  if (workingDirectory !== undefined) extra.workingDirectory = workingDirectory;
  if (failOnStderr !== undefined) extra.failOnStderr = failOnStderr;
  const kind: StepKind = kindKey === 'powershell' ? 'pwsh' : (kindKey as StepKind);
  if (kind === 'pwsh') {
    extra.errorActionPreference = errorAction ?? 'stop';
    if (ignoreExit !== undefined) extra.ignoreLASTEXITCODE = ignoreExit;
  }
  return script === undefined ? undefined : { kind, script, displayName: defaultDisplayName(script), extra };
}

/** A value that is (or holds) a `$(name)` macro. */
const MACRO_VALUE = /\$\([A-Za-z0-9._-]+\)/;

function readCheckout(issues: Issues, map: YMap, kindEntry: YEntry): Body | undefined {
  const repository = readString(issues, kindEntry);
  if (repository === undefined) return undefined;
  const field = (key: string) => entryOf(map, key);
  const options: CheckoutOptions = {};
  // `fetchDepth: $(fetchDepth)`: a macro is the agent's to resolve, so it is kept as written.
  const orMacro =
    <T>(reader: (e: YEntry) => T | undefined) =>
    (e: YEntry): T | string | undefined =>
      e.value.kind === 'scalar' && MACRO_VALUE.test(e.value.value) ? e.value.value : reader(e);
  const clean = optional(
    field('clean'),
    orMacro((e) => readBoolean(issues, e)),
  );
  const fetchDepth = optional(
    field('fetchDepth'),
    orMacro((e) => readCount(issues, e)),
  );
  const fetchTags = optional(
    field('fetchTags'),
    orMacro((e) => readBoolean(issues, e)),
  );
  const lfs = optional(
    field('lfs'),
    orMacro((e) => readBoolean(issues, e)),
  );
  const submodules = optional(
    field('submodules'),
    orMacro((e) => readSubmodules(issues, e)),
  );
  const persistCredentials = optional(
    field('persistCredentials'),
    orMacro((e) => readBoolean(issues, e)),
  );
  const path = optional(field('path'), (e) => readString(issues, e));
  if (repository === 'none') return { off: 'checkout' };
  if (repository !== 'self') {
    issues.add(
      kindEntry.value.pos,
      `checking out repository '${repository}' is not supported yet by Slipway (only 'self', the run's workspace, and 'none')`,
    );
    return undefined;
  }
  if (clean !== undefined) options.clean = clean;
  if (fetchDepth !== undefined) options.fetchDepth = fetchDepth;
  if (fetchTags !== undefined) options.fetchTags = fetchTags;
  if (lfs !== undefined) options.lfs = lfs;
  if (submodules !== undefined) options.submodules = submodules;
  if (persistCredentials !== undefined) options.persistCredentials = persistCredentials;
  if (path !== undefined) options.path = path;
  return { kind: 'checkout', script: '', displayName: 'Checkout self', extra: { checkout: options } };
}

function readPublish(issues: Issues, map: YMap, kindEntry: YEntry): Body | undefined {
  const path = readString(issues, kindEntry);
  const artifactEntry = entryOf(map, 'artifact');
  const artifact = artifactEntry && readString(issues, artifactEntry);
  const location = entryOf(map, 'publishLocation');
  if (location) {
    const where = readString(issues, location);
    if (where !== undefined && where.toLowerCase() !== 'pipeline') {
      issues.add(
        location.value.pos,
        `publishLocation '${where}' is not supported yet by Slipway (only 'pipeline')`,
      );
      return undefined;
    }
  }
  if (path === undefined || (artifactEntry && artifact === undefined)) return undefined;
  // An empty artifact name is filled with the job's name once the job is named.
  const publish: PublishOptions = { path, artifact: artifact ?? '' };
  const displayName = artifact === undefined ? `Publish ${path}` : `Publish artifact '${artifact}'`;
  return { kind: 'publish', script: '', displayName, extra: { publish } };
}

function readDownload(issues: Issues, map: YMap, kindEntry: YEntry): Body | undefined {
  const source = readString(issues, kindEntry);
  const field = (key: string) => entryOf(map, key);
  const artifact = optional(field('artifact'), (e) => readString(issues, e));
  const patterns = optional(field('patterns'), (e) => readString(issues, e));
  const path = optional(field('path'), (e) => readString(issues, e));
  if (source === undefined) return undefined;
  if (source === 'none') return { off: 'download' };
  if (source !== 'current') {
    issues.add(
      kindEntry.value.pos,
      `downloading artifacts of pipeline resource '${source}' is not supported yet by Slipway (only 'current')`,
    );
    return undefined;
  }
  const download: DownloadOptions = { patterns: patterns ?? '**' };
  if (artifact !== undefined) download.artifact = artifact;
  if (path !== undefined) download.path = path;
  const displayName = artifact === undefined ? 'Download artifacts' : `Download artifact '${artifact}'`;
  return { kind: 'download', script: '', displayName, extra: { download } };
}

function readKind(issues: Issues, map: YMap): YEntry | undefined {
  const kinds = map.entries.filter(
    (e) => (KIND_KEYS as readonly string[]).includes(e.key) || e.key === 'task',
  );
  const [first, second] = kinds;
  if (first === undefined)
    issues.add(map.pos, `a step needs one of ${KIND_KEYS.map((k) => `'${k}'`).join(', ')} or 'task'`);
  if (first !== undefined && second !== undefined)
    issues.add(second.keyPos, `a step does one thing: found both '${first.key}' and '${second.key}'`);
  return kinds.length === 1 ? first : undefined;
}

function readName(issues: Issues, entry: YEntry): string | undefined {
  const name = readString(issues, entry);
  const problem = name === undefined ? undefined : identifierProblem('step', name);
  if (problem) issues.add(entry.value.pos, problem);
  return problem ? undefined : name;
}

function readRetries(issues: Issues, entry: YEntry): number | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && /^\d+$/.test(value.value) && Number(value.value) <= MAX_STEP_RETRIES)
    return Number(value.value);
  return mismatch(issues, entry, `a whole number from 0 to ${MAX_STEP_RETRIES}`);
}

function readErrorAction(issues: Issues, entry: YEntry): StepPlan['errorActionPreference'] {
  const { value } = entry;
  const key = value.kind === 'scalar' ? value.value.toLowerCase() : '';
  if (Object.hasOwn(ERROR_ACTIONS, key)) return ERROR_ACTIONS[key as keyof typeof ERROR_ACTIONS];
  return mismatch(issues, entry, 'one of stop, continue, silentlyContinue');
}

function readSubmodules(issues: Issues, entry: YEntry): boolean | 'recursive' | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && value.value.toLowerCase() === 'recursive') return 'recursive';
  if (value.kind === 'scalar' && /^(true|false)$/i.test(value.value))
    return value.value.toLowerCase() === 'true';
  return mismatch(issues, entry, 'true, false or recursive');
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
