import { identifierProblem } from './identifiers.js';
import type { Issues } from './issues.js';
import { DEFAULT_CONDITION, readCondition } from './read-condition.js';
import { readContainer, readServices } from './read-container.js';
import { type PoolSpec, readPool, resolvePool } from './read-pool.js';
import { readSteps } from './read-steps.js';
import { overlayVariables, readVariables, type Variable, variableRecord } from './read-variables.js';
import {
  checkKeys,
  entryOf,
  expectMap,
  type Located,
  mismatch,
  notSupported,
  readBoolean,
  readMinutes,
  readString,
  readStringList,
} from './reader.js';
import type { DockerMode, JobPlan, SourcePos } from './types.js';
import type { YEntry, YMap, YNode } from './yaml-tree.js';

/** A job as read, before the job graph (names, dependencies) is checked across jobs. */
export interface JobDraft {
  plan: JobPlan;
  namePos: SourcePos;
  dependsOn: Array<Located<string>>;
}

/** What a job inherits from the pipeline's top level. */
export interface JobDefaults {
  pool?: PoolSpec;
  variables: Variable[];
}

export const DEFAULT_JOB_TIMEOUT = 60;
export const DEFAULT_CANCEL_TIMEOUT = 1;
/** Each job carries its own copy of the variables, so jobs × variables must stay bounded. */
export const MAX_JOBS = 256;

const JOB_KEYS = {
  context: 'job',
  known: [
    'job',
    'displayName',
    'dependsOn',
    'condition',
    'pool',
    'variables',
    'timeoutInMinutes',
    'cancelTimeoutInMinutes',
    'continueOnError',
    'container',
    'services',
    'docker',
    'steps',
  ],
  unsupported: ['strategy', 'workspace', 'uses', 'templateContext'],
};
/** Azure `jobs:` items that are not plain jobs. */
const UNSUPPORTED_JOB_KINDS = ['deployment', 'template'];
const DOCKER_MODES: readonly DockerMode[] = ['none', 'dind', 'socket'];

export function readJobs(issues: Issues, entry: YEntry, defaults: JobDefaults): JobDraft[] {
  const { value } = entry;
  if (value.kind !== 'seq') {
    mismatch(issues, entry, 'a list of jobs');
    return [];
  }
  if (value.items.length === 0) issues.add(value.pos, "'jobs' must list at least one job");
  const extra = value.items[MAX_JOBS];
  if (extra) {
    issues.add(extra.pos, `a pipeline may have at most ${MAX_JOBS} jobs`);
    return [];
  }
  return value.items.flatMap((item) => readJobItem(issues, item, defaults) ?? []);
}

function readJobItem(issues: Issues, node: YNode, defaults: JobDefaults): JobDraft | undefined {
  const map = expectMap(issues, node, 'a job');
  if (!map) return undefined;
  const refused = map.entries.find((e) => UNSUPPORTED_JOB_KINDS.includes(e.key));
  if (refused) {
    issues.add(refused.keyPos, notSupported(refused.key));
    return undefined;
  }
  checkKeys(issues, map, JOB_KEYS);
  const nameEntry = entryOf(map, 'job');
  if (!nameEntry) {
    issues.add(map.pos, "a job needs a name: 'job: <name>'");
    return undefined;
  }
  const name = readString(issues, nameEntry);
  const problem = name === undefined ? undefined : identifierProblem('job', name);
  if (problem) issues.add(nameEntry.value.pos, problem);

  // A job with errors still takes part in the graph checks, so its name is not reported unknown.
  return name === undefined ? undefined : readJobBody(issues, map, name, nameEntry.value.pos, defaults);
}

/** The fields of a job; also used for a top-level `steps:` with the keys allowed there. */
export function readJobBody(
  issues: Issues,
  map: YMap,
  name: string,
  namePos: SourcePos,
  defaults: JobDefaults,
): JobDraft {
  const read = <T>(key: string, reader: (entry: YEntry) => T | undefined): T | undefined => {
    const entry = entryOf(map, key);
    return entry === undefined ? undefined : reader(entry);
  };
  const stepsEntry = entryOf(map, 'steps');
  if (!stepsEntry) issues.add(map.pos, `job '${name}' needs 'steps'`);
  const steps = stepsEntry && readSteps(issues, stepsEntry);
  const variables = overlayVariables(
    defaults.variables,
    read('variables', (e) => readVariables(issues, e)) ?? [],
  );
  const plan: JobPlan = {
    name,
    displayName: read('displayName', (e) => readString(issues, e)) ?? name,
    dependsOn: [],
    condition: read('condition', (e) => readCondition(issues, e)) ?? DEFAULT_CONDITION,
    pool: resolvePool(
      read('pool', (e) => readPool(issues, e)),
      defaults.pool,
    ),
    variables: variableRecord(variables),
    timeoutInMinutes: read('timeoutInMinutes', (e) => readMinutes(issues, e)) ?? DEFAULT_JOB_TIMEOUT,
    cancelTimeoutInMinutes:
      read('cancelTimeoutInMinutes', (e) => readMinutes(issues, e)) ?? DEFAULT_CANCEL_TIMEOUT,
    continueOnError: read('continueOnError', (e) => readBoolean(issues, e)) ?? false,
    services: read('services', (e) => readServices(issues, e)) ?? {},
    docker: read('docker', (e) => readDocker(issues, e)) ?? 'none',
    steps: steps ?? [],
    pos: map.pos,
  };
  const container = read('container', (e) => readContainer(issues, e));
  if (container) plan.container = container;
  const readonly = variables.filter((v) => v.readonly).map((v) => v.name);
  if (readonly.length > 0) plan.readonlyVariables = readonly;
  const dependsOn = read('dependsOn', (e) => readStringList(issues, e)) ?? [];
  return { plan, namePos, dependsOn };
}

function readDocker(issues: Issues, entry: YEntry): DockerMode | undefined {
  const { value } = entry;
  const mode = DOCKER_MODES.find((m) => value.kind === 'scalar' && m === value.value);
  return mode ?? mismatch(issues, entry, `one of ${DOCKER_MODES.join(', ')}`);
}
