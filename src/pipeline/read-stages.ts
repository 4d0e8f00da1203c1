import type { GraphNode } from './dependency-graph.js';
import { identifierProblem } from './identifiers.js';
import type { Issues } from './issues.js';
import { DEFAULT_CONDITION, readCondition } from './read-condition.js';
import { type JobDraft, readJobs } from './read-job.js';
import { type PoolSpec, readPool } from './read-pool.js';
import { readVariables, type Variable } from './read-variables.js';
import {
  checkKeys,
  entryOf,
  expectMap,
  isBlankScalar,
  mismatch,
  readBoolean,
  readString,
  readStringList,
} from './reader.js';
import type { YEntry, YNode } from './yaml-tree.js';

/** A stage as written; `resolved` holds its dependencies once the stage graph is checked. */
export interface StageDraft extends GraphNode {
  displayName: string;
  condition: string;
  variables: Variable[];
  pool?: PoolSpec;
  jobs: JobDraft[];
}

/** A pipeline has at most this many stages (and MAX_JOBS jobs across them). */
export const MAX_STAGES = 256;

const STAGE_KEYS = {
  context: 'stage',
  known: [
    'stage',
    'displayName',
    'dependsOn',
    'condition',
    'variables',
    'pool',
    'jobs',
    'trigger',
    // Shown by Azure's UI only: nothing to do in Slipway.
    'isSkippable',
    'lockBehavior',
    'templateContext',
  ],
};

export function readStages(issues: Issues, entry: YEntry): StageDraft[] {
  const { value } = entry;
  if (value.kind !== 'seq') {
    mismatch(issues, entry, 'a list of stages');
    return [];
  }
  if (value.items.length === 0) issues.add(value.pos, "'stages' must list at least one stage");
  const extra = value.items[MAX_STAGES];
  if (extra) {
    issues.add(extra.pos, `a pipeline may have at most ${MAX_STAGES} stages`);
    return [];
  }
  const stages: StageDraft[] = [];
  for (const item of value.items) {
    const stage = readStage(issues, item);
    if (stage === undefined) continue;
    // Without `dependsOn`, a stage waits for the one written before it, as in Azure.
    const previous = stages[stages.length - 1];
    if (stage.dependsOn === undefined)
      stage.dependsOn = previous ? [{ value: previous.name, pos: stage.namePos }] : [];
    stages.push(stage as StageDraft);
  }
  return stages;
}

function readStage(
  issues: Issues,
  node: YNode,
): (Omit<StageDraft, 'dependsOn'> & { dependsOn?: StageDraft['dependsOn'] }) | undefined {
  const map = expectMap(issues, node, 'a stage');
  if (!map) return undefined;
  const template = entryOf(map, 'template');
  if (template) {
    issues.add(template.keyPos, "a stage 'template' can only be included in a list under 'stages'");
    return undefined;
  }
  checkKeys(issues, map, STAGE_KEYS);
  const read = <T>(key: string, reader: (entry: YEntry) => T | undefined): T | undefined => {
    const entry = entryOf(map, key);
    return entry === undefined ? undefined : reader(entry);
  };
  const nameEntry = entryOf(map, 'stage');
  if (!nameEntry) {
    issues.add(map.pos, "a stage needs a name: 'stage: <name>'");
    return undefined;
  }
  const name = readString(issues, nameEntry);
  const problem = name === undefined ? undefined : identifierProblem('stage', name);
  if (problem) issues.add(nameEntry.value.pos, problem);
  read('trigger', (e) => readStageTrigger(issues, e));
  read('isSkippable', (e) => readBoolean(issues, e));
  const jobsEntry = entryOf(map, 'jobs');
  if (!jobsEntry) issues.add(map.pos, `stage '${name ?? ''}' needs 'jobs'`);
  const jobs = jobsEntry ? readJobs(issues, jobsEntry) : [];
  if (name === undefined) return undefined;
  const stage: Omit<StageDraft, 'dependsOn'> & { dependsOn?: StageDraft['dependsOn'] } = {
    name,
    namePos: nameEntry.value.pos,
    pos: map.pos,
    resolved: [],
    displayName: read('displayName', (e) => readString(issues, e)) ?? name,
    condition: read('condition', (e) => readCondition(issues, e)) ?? DEFAULT_CONDITION,
    variables: read('variables', (e) => readVariables(issues, e)) ?? [],
    jobs,
  };
  const dependsOnEntry = entryOf(map, 'dependsOn');
  if (dependsOnEntry && !isBlankScalar(dependsOnEntry))
    stage.dependsOn = readStringList(issues, dependsOnEntry) ?? [];
  const pool = read('pool', (e) => readPool(issues, e));
  if (pool) stage.pool = pool;
  return stage;
}

function readStageTrigger(issues: Issues, entry: YEntry): true | undefined {
  const { value } = entry;
  if (value.kind === 'scalar' && value.value.toLowerCase() === 'automatic') return true;
  if (value.kind === 'scalar' && value.value.toLowerCase() === 'manual') {
    issues.add(value.pos, "manual stages ('trigger: manual') are not supported yet by Slipway");
    return undefined;
  }
  return mismatch(issues, entry, 'automatic or manual');
}
