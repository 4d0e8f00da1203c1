import type { GraphNode } from './dependency-graph.js';
import { identifierProblem } from './identifiers.js';
import type { Issues } from './issues.js';
import { dockerMode } from './plan-schema.js';
import { withCacheSaves } from './read-cache.js';
import { DEFAULT_CONDITION, readCondition } from './read-condition.js';
import { type ContainerSpec, readContainer, readServices } from './read-container.js';
import { type PoolSpec, readPool } from './read-pool.js';
import { readSteps, type StepList } from './read-steps.js';
import { readStrategy, type Strategy } from './read-strategy.js';
import { readVariables, type Variable } from './read-variables.js';
import {
  checkKeys,
  entryOf,
  expectMap,
  isBlankScalar,
  mismatch,
  readBoolean,
  readCount,
  readMinutes,
  readString,
  readStringList,
  valuePos,
} from './reader.js';
import type { DockerMode, JobPlan, SourcePos, StepPlan } from './types.js';
import type { YEntry, YMap, YNode } from './yaml-tree.js';

/** A job as written, before strategies make legs of it and stages name it. */
export interface JobDraft extends GraphNode {
  displayName: string;
  condition: string;
  pool?: PoolSpec;
  /** The job's own variables (the pipeline's and stage's are overlaid later). */
  variables: Variable[];
  timeoutInMinutes: number;
  cancelTimeoutInMinutes: number;
  continueOnError: boolean;
  /** Slipway's: new attempts when the agent is lost mid-job; unset means the pool's default. */
  retryCountOnAgentLoss?: number;
  container?: ContainerSpec;
  services: Record<string, ContainerSpec>;
  docker: DockerMode;
  steps: StepPlan[];
  checkout?: 'self' | 'none';
  strategy?: Strategy;
  deployment?: { environment?: string };
  workspace?: JobPlan['workspace'];
}

export const DEFAULT_JOB_TIMEOUT = 60;
export const MAX_AGENT_LOSS_RETRIES = 10;
export const DEFAULT_CANCEL_TIMEOUT = 1;
/** Each job carries its own copy of the variables, so jobs × variables must stay bounded. */
export const MAX_JOBS = 256;

/** Keys every kind of job has. */
const SHARED_JOB_KEYS = [
  'displayName',
  'dependsOn',
  'condition',
  'pool',
  'variables',
  'timeoutInMinutes',
  'cancelTimeoutInMinutes',
  'continueOnError',
  'retryCountOnAgentLoss',
  'container',
  'services',
  'docker',
  'workspace',
  'strategy',
  // Data for templates; it means nothing once they are expanded.
  'templateContext',
];
const JOB_KEYS = { context: 'job', known: ['job', 'steps', ...SHARED_JOB_KEYS], unsupported: ['uses'] };
const DEPLOYMENT_KEYS = {
  context: 'deployment job',
  known: ['deployment', 'environment', ...SHARED_JOB_KEYS],
  unsupported: ['uses'],
};
const RUN_ONCE_HOOKS = ['preDeploy', 'deploy', 'routeTraffic', 'postRouteTraffic'];
const HOOK_KEYS = { context: 'deployment hook', known: ['steps'], unsupported: ['pool'] };
const DOCKER_MODES: readonly DockerMode[] = dockerMode.options;
const WORKSPACE_CLEAN = ['outputs', 'resources', 'all'] as const;

export function readJobs(issues: Issues, entry: YEntry): JobDraft[] {
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
  const unnamed = unnamedJobNames(value.items);
  return value.items.flatMap((item) => readJobItem(issues, item, unnamed) ?? []);
}

/**
 * Names for `- job:` written with no name, which Azure allows: `Job`, then `Job1`, `Job2`, …,
 * skipping names the other jobs of the list have.
 */
function unnamedJobNames(items: readonly YNode[]): () => string {
  const taken = new Set<string>();
  for (const item of items) {
    if (item.kind !== 'map') continue;
    const named = entryOf(item, 'job') ?? entryOf(item, 'deployment');
    if (named?.value.kind === 'scalar') taken.add(named.value.value.trim().toLowerCase());
  }
  let n = 0;
  return () => {
    for (;;) {
      const name = n === 0 ? 'Job' : `Job${n}`;
      n++;
      if (!taken.has(name.toLowerCase())) return name;
    }
  };
}

function readJobItem(issues: Issues, node: YNode, unnamed: () => string): JobDraft | undefined {
  const map = expectMap(issues, node, 'a job');
  if (!map) return undefined;
  const template = entryOf(map, 'template');
  if (template) {
    issues.add(template.keyPos, "a job 'template' can only be included in a list under 'jobs'");
    return undefined;
  }
  const deployment = entryOf(map, 'deployment');
  const job = entryOf(map, 'job');
  if (deployment && job) {
    issues.add(job.keyPos, "an item of 'jobs' is either a 'job' or a 'deployment', not both");
    return undefined;
  }
  checkKeys(issues, map, deployment ? DEPLOYMENT_KEYS : JOB_KEYS);
  const nameEntry = deployment ?? job;
  if (!nameEntry) {
    issues.add(map.pos, "a job needs a name: 'job: <name>' (or 'deployment: <name>')");
    return undefined;
  }
  const written = nameEntry.value;
  const blank = written.kind === 'null' || (written.kind === 'scalar' && written.value.trim() === '');
  const name = blank ? unnamed() : readString(issues, nameEntry);
  const problem = name === undefined ? undefined : identifierProblem('job', name);
  if (problem) issues.add(nameEntry.value.pos, problem);
  if (name === undefined) return undefined;
  // A job with errors still takes part in the graph checks, so its name is not reported unknown.
  return readJobBody(issues, map, name, nameEntry.value.pos, { deployment: deployment !== undefined });
}

/** The fields of a job; also used for a top-level `steps:` with the keys allowed there. */
export function readJobBody(
  issues: Issues,
  map: YMap,
  name: string,
  namePos: SourcePos,
  options: { deployment?: boolean } = {},
): JobDraft {
  const read = <T>(key: string, reader: (entry: YEntry) => T | undefined): T | undefined => {
    const entry = entryOf(map, key);
    return entry === undefined ? undefined : reader(entry);
  };
  const strategyEntry = entryOf(map, 'strategy');
  let stepList: StepList | undefined;
  let strategy: Strategy | undefined;
  if (options.deployment) {
    if (!strategyEntry)
      issues.add(map.pos, `deployment job '${name}' needs 'strategy: { runOnce: { deploy: { steps } } }'`);
    else stepList = readDeploymentStrategy(issues, strategyEntry);
  } else {
    const stepsEntry = entryOf(map, 'steps');
    if (!stepsEntry) issues.add(map.pos, `job '${name}' needs 'steps'`);
    stepList = stepsEntry && readSteps(issues, stepsEntry);
    strategy = strategyEntry && readStrategy(issues, strategyEntry);
  }
  const draft: JobDraft = {
    name,
    namePos,
    pos: map.pos,
    dependsOn: read('dependsOn', (e) => (isBlankScalar(e) ? [] : readStringList(issues, e))) ?? [],
    resolved: [],
    displayName: read('displayName', (e) => readString(issues, e)) ?? name,
    condition: read('condition', (e) => readCondition(issues, e)) ?? DEFAULT_CONDITION,
    variables: read('variables', (e) => readVariables(issues, e)) ?? [],
    timeoutInMinutes: read('timeoutInMinutes', (e) => readMinutes(issues, e)) ?? DEFAULT_JOB_TIMEOUT,
    cancelTimeoutInMinutes:
      read('cancelTimeoutInMinutes', (e) => readMinutes(issues, e)) ?? DEFAULT_CANCEL_TIMEOUT,
    continueOnError: read('continueOnError', (e) => readBoolean(issues, e)) ?? false,
    services: read('services', (e) => readServices(issues, e)) ?? {},
    docker: read('docker', (e) => readDocker(issues, e)) ?? 'none',
    steps: withCacheSaves(stepList?.steps ?? []),
  };
  const pool = read('pool', (e) => readPool(issues, e));
  const container = read('container', (e) => readContainer(issues, e));
  const workspace = read('workspace', (e) => readWorkspace(issues, e));
  const retries = read('retryCountOnAgentLoss', (e) => readCount(issues, e));
  if (retries !== undefined) {
    if (retries > MAX_AGENT_LOSS_RETRIES) {
      issues.add(
        valuePos(entryOf(map, 'retryCountOnAgentLoss')!),
        `'retryCountOnAgentLoss' is at most ${MAX_AGENT_LOSS_RETRIES}`,
      );
    } else draft.retryCountOnAgentLoss = retries;
  }
  if (pool) draft.pool = pool;
  if (container) draft.container = container;
  if (workspace) draft.workspace = workspace;
  if (strategy) draft.strategy = strategy;
  // Azure's deployment jobs check nothing out unless a step says `checkout: self`.
  const checkout = stepList?.checkout ?? (options.deployment ? 'none' : undefined);
  if (checkout) draft.checkout = checkout;
  if (options.deployment) {
    const environment = read('environment', (e) => readEnvironment(issues, e));
    draft.deployment = environment === undefined ? {} : { environment };
  }
  return draft;
}

function readDocker(issues: Issues, entry: YEntry): DockerMode | undefined {
  const { value } = entry;
  const mode = DOCKER_MODES.find((m) => value.kind === 'scalar' && m === value.value);
  return mode ?? mismatch(issues, entry, `one of ${DOCKER_MODES.join(', ')}`);
}

function readWorkspace(issues: Issues, entry: YEntry): JobPlan['workspace'] | undefined {
  const map = expectMap(issues, entry.value, "'workspace'");
  if (!map) return undefined;
  checkKeys(issues, map, { context: 'workspace', known: ['clean'] });
  const clean = entryOf(map, 'clean');
  if (!clean) return undefined;
  const value = clean.value.kind === 'scalar' ? clean.value.value.toLowerCase() : '';
  const found = WORKSPACE_CLEAN.find((c) => c === value);
  return found ? { clean: found } : mismatch(issues, clean, `one of ${WORKSPACE_CLEAN.join(', ')}`);
}

/** `environment: name` or `{ name }`; resources of an environment (VMs, Kubernetes) are refused. */
function readEnvironment(issues: Issues, entry: YEntry): string | undefined {
  const { value } = entry;
  let name: string | undefined;
  if (value.kind === 'map') {
    checkKeys(issues, value, {
      context: 'environment',
      known: ['name'],
      unsupported: ['resourceName', 'resourceId', 'resourceType', 'tags'],
    });
    const nameEntry = entryOf(value, 'name');
    if (!nameEntry) issues.add(value.pos, "an environment needs a 'name'");
    name = nameEntry && readString(issues, nameEntry);
  } else {
    name = readString(issues, entry);
  }
  if (name === undefined) return undefined;
  if (name.includes('.')) {
    issues.add(
      value.pos,
      `environment resources ('${name}') are not supported yet by Slipway: name only the environment`,
    );
    return undefined;
  }
  return name;
}

/** `strategy: { runOnce: { preDeploy, deploy, routeTraffic, postRouteTraffic } }` → steps in order. */
function readDeploymentStrategy(issues: Issues, entry: YEntry): StepList | undefined {
  const map = expectMap(issues, entry.value, "a deployment job's 'strategy'");
  if (!map) return undefined;
  checkKeys(issues, map, {
    context: 'deployment strategy',
    known: ['runOnce'],
    unsupported: ['rolling', 'canary'],
  });
  const runOnceEntry = entryOf(map, 'runOnce');
  if (!runOnceEntry) {
    if (!entryOf(map, 'rolling') && !entryOf(map, 'canary'))
      issues.add(map.pos, "a deployment strategy needs 'runOnce'");
    return undefined;
  }
  const runOnce = expectMap(issues, runOnceEntry.value, "'runOnce'");
  if (!runOnce) return undefined;
  checkKeys(issues, runOnce, { context: 'runOnce', known: RUN_ONCE_HOOKS, unsupported: ['on'] });
  if (!entryOf(runOnce, 'deploy')) issues.add(runOnce.pos, "'runOnce' needs 'deploy' with 'steps'");
  const list: StepList = { steps: [] };
  for (const hook of RUN_ONCE_HOOKS) {
    const hookEntry = entryOf(runOnce, hook);
    const hookMap = hookEntry && expectMap(issues, hookEntry.value, `'${hook}'`);
    if (!hookMap) continue;
    checkKeys(issues, hookMap, HOOK_KEYS);
    const steps = entryOf(hookMap, 'steps');
    if (!steps) {
      issues.add(hookMap.pos, `'${hook}' needs 'steps'`);
      continue;
    }
    const read = readSteps(issues, steps);
    if (!read) continue;
    list.steps.push(...read.steps);
    if (read.checkout && list.checkout !== 'self') list.checkout = read.checkout;
  }
  return list;
}
