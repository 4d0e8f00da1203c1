import type { Issues } from './issues.js';
import { checkKeys, entryOf, expectMap, mismatch, readString, valuePos } from './reader.js';
import type { CacheOptions, StepPlan } from './types.js';
import { describeNode, isBroken, type YEntry } from './yaml-tree.js';

/** Azure tasks that Slipway runs as its own `cache` step (their inputs are the step's fields). */
export const CACHE_TASKS = ['Cache@2', 'CacheBeta@0', 'CacheBeta@1'] as const;

const FIELDS = ['key', 'restoreKeys', 'path', 'cacheHitVar'];
/** A variable name `cacheHitVar` may set: what `$(name)` and `variables['name']` can read back. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export interface CacheBody {
  kind: 'cache';
  script: '';
  displayName: string;
  extra: Partial<StepPlan>;
}

/** Whether `task: NAME` is one of the cache tasks (task names are case-insensitive, as in Azure). */
export function isCacheTask(name: string): boolean {
  const lower = name.trim().toLowerCase();
  return CACHE_TASKS.some((t) => t.toLowerCase() === lower);
}

/** `- cache: { key, restoreKeys, path, cacheHitVar }`. */
export function readCacheStep(issues: Issues, kindEntry: YEntry): CacheBody | undefined {
  const map = expectMap(issues, kindEntry.value, "'cache'");
  if (!map) return undefined;
  checkKeys(issues, map, { context: 'cache', known: FIELDS });
  return readFields(issues, kindEntry, (key) => entryOf(map, key), 'cache');
}

/** `- task: Cache@2` with `inputs: { key, restoreKeys, path, cacheHitVar }`; restoreKeys one per line. */
export function readCacheTask(
  issues: Issues,
  taskEntry: YEntry,
  inputs: YEntry | undefined,
): CacheBody | undefined {
  const task = taskEntry.value.kind === 'scalar' ? taskEntry.value.value.trim() : 'Cache@2';
  if (!inputs) {
    issues.add(taskEntry.keyPos, `task '${task}' needs 'inputs' with 'key' and 'path'`);
    return undefined;
  }
  const map = expectMap(issues, inputs.value, `'inputs' of task '${task}'`);
  if (!map) return undefined;
  checkKeys(issues, map, { context: `inputs of task '${task}'`, known: FIELDS });
  return readFields(issues, inputs, (key) => entryOf(map, key), `inputs of task '${task}'`);
}

function readFields(
  issues: Issues,
  owner: YEntry,
  field: (key: string) => YEntry | undefined,
  context: string,
): CacheBody | undefined {
  const keyEntry = field('key');
  const pathEntry = field('path');
  if (!keyEntry) issues.add(owner.keyPos, `${context} needs 'key'`);
  if (!pathEntry) issues.add(owner.keyPos, `${context} needs 'path'`);
  const key = keyEntry && readKey(issues, keyEntry);
  const path = pathEntry && readString(issues, pathEntry);
  const restoreEntry = field('restoreKeys');
  const restoreKeys = restoreEntry ? readRestoreKeys(issues, restoreEntry) : [];
  const hitEntry = field('cacheHitVar');
  const cacheHitVar = hitEntry && readString(issues, hitEntry);
  if (hitEntry && cacheHitVar !== undefined && !VARIABLE_NAME.test(cacheHitVar)) {
    issues.add(valuePos(hitEntry), `'cacheHitVar' must be a variable name, found '${cacheHitVar}'`);
    return undefined;
  }
  if (key === undefined || path === undefined || restoreKeys === undefined) return undefined;
  if (hitEntry && cacheHitVar === undefined) return undefined;
  const cache: CacheOptions = { key, restoreKeys, path };
  if (cacheHitVar !== undefined) cache.cacheHitVar = cacheHitVar;
  return { kind: 'cache', script: '', displayName: `Cache ${path}`, extra: { cache } };
}

/** A key: segments split on `|`, none of them empty. */
function readKey(issues: Issues, entry: YEntry): string | undefined {
  const key = readString(issues, entry);
  if (key === undefined) return undefined;
  return checkSegments(issues, entry, key) ? key.trim() : undefined;
}

function checkSegments(issues: Issues, entry: YEntry, key: string): boolean {
  const segments = key.split('|');
  const empty = segments.findIndex((s) => s.trim() === '');
  if (empty === -1) return true;
  issues.add(
    valuePos(entry),
    `'${entry.key}': segment ${empty + 1} of '${key.trim()}' is empty (segments are separated by '|')`,
  );
  return false;
}

/** A list of keys, or one string with a key on each line (the task's form). */
function readRestoreKeys(issues: Issues, entry: YEntry): string[] | undefined {
  const { value } = entry;
  if (value.kind === 'null') return [];
  if (value.kind === 'scalar') {
    const lines = value.value
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    return lines.every((l) => checkSegments(issues, entry, l)) ? lines : undefined;
  }
  if (value.kind === 'map') return mismatch(issues, entry, 'a list of keys, or one key per line');
  const keys: string[] = [];
  let ok = true;
  for (const item of value.items) {
    if (isBroken(item)) continue;
    if (item.kind !== 'scalar' || item.value.trim() === '') {
      issues.add(item.pos, `'restoreKeys' items must be non-empty strings, found ${describeNode(item)}`);
      ok = false;
    } else if (checkSegments(issues, entry, item.value)) keys.push(item.value.trim());
    else ok = false;
  }
  return ok ? keys : undefined;
}

/**
 * The job's steps with the post-job half of each cache step appended, last cache step first
 * (as Azure runs post-job steps): it saves after the job succeeded.
 */
export function withCacheSaves(steps: StepPlan[]): StepPlan[] {
  const saves: StepPlan[] = [];
  for (const [index, step] of steps.entries()) {
    if (step.kind !== 'cache' || !step.cache) continue;
    saves.unshift({
      kind: 'cacheSave',
      script: '',
      displayName: `Post-job: ${step.displayName}`,
      env: step.env,
      continueOnError: step.continueOnError,
      timeoutInMinutes: step.timeoutInMinutes,
      condition: 'succeeded()',
      pos: step.pos,
      cacheSave: { ...step.cache, restoreStep: index },
    });
  }
  return saves.length === 0 ? steps : [...steps, ...saves];
}
