import {
  aggregateStatus,
  type ConditionStatus,
  type DependencyState,
  ExpressionError,
  evaluateCondition,
  evaluateRuntimeValue,
} from './expressions.js';
import { expandVariables } from './macros.js';
import { DEFAULT_CONDITION } from './read-condition.js';
import type { JobPlan, TaskResult } from './types.js';

/** A job of the same run that has finished. */
export interface FinishedJob {
  plan: JobPlan;
  result: TaskResult;
  /** Its output variables (`##vso[task.setvariable variable=v;isOutput=true]` in step `s`), keyed `s.v`. */
  outputs?: Record<string, string>;
}

export interface JobStartInput {
  /** The finished jobs of the run; those named in `job.dependsOn` are used, the rest ignored. */
  finished: readonly FinishedJob[];
  /** What the job's expressions see as `variables`: the plan's, the job's and queue-time ones, merged. */
  variables: Record<string, string>;
}

export type JobStart =
  | {
      run: true;
      /** Values of the job's runtime variables (`$[ ]`), to overlay its variables. */
      variables: Record<string, string>;
      /** What the job's step conditions see as `dependencies` and `stageDependencies`. */
      dependencies: Record<string, DependencyState>;
      stageDependencies: Record<string, Record<string, DependencyState>>;
    }
  | { run: false; result: 'skipped' | 'failed'; reason: string };

/**
 * Decides, once every job in `job.dependsOn` has finished, whether the job runs: first its
 * stage's condition (with the status of the stages it depends on; `dependencies.<stage>` there
 * are stages, their outputs keyed `job.step.var`), then its runtime variables, then its own
 * condition (with the status of its own dependencies in the stage; `dependencies.<job>` and
 * `stageDependencies.<stage>.<job>`). Matrix and parallel legs of one job read as that job:
 * its result is the worst of theirs and its outputs are keyed `leg.step.var`. A deployment
 * job's outputs are also keyed `<job>.step.var`, as Azure's runOnce strategy names them.
 */
export function prepareJobStart(job: JobPlan, input: JobStartInput): JobStart {
  const wanted = new Set(job.dependsOn.map((n) => n.toLowerCase()));
  const finished = input.finished.filter((f) => wanted.has(f.plan.name.toLowerCase()));
  const stageOf = (plan: JobPlan) => (plan.stage ?? '').toLowerCase();
  const own = finished.filter((f) => stageOf(f.plan) === stageOf(job));
  const fromStages = finished.filter((f) => stageOf(f.plan) !== stageOf(job));
  const dependencies = byJob(own);
  const stageDependencies = byStage(fromStages);
  // Conditions see values that use other variables expanded, as steps do (`$(G)/c` → `hello/c`).
  const expanded = expandVariables(input.variables);
  let phase = 'stage condition';
  try {
    if (job.stage !== undefined) {
      const stages = stageStates(job.stageDependsOn ?? [], fromStages);
      const condition = job.stageCondition ?? DEFAULT_CONDITION;
      const status = aggregateStatus(Object.values(stages).map((s) => s.result));
      if (!evaluateCondition(condition, { status, variables: expanded, dependencies: stages })) {
        return {
          run: false,
          result: 'skipped',
          reason: `stage '${job.stage}' condition '${condition}' was false`,
        };
      }
    }
    const status: ConditionStatus = aggregateStatus(own.map((f) => f.result));
    const variables = { ...expanded };
    const values: Record<string, string> = {};
    for (const [name, source] of Object.entries(job.runtimeVariables ?? {})) {
      phase = `runtime variable '${name}'`;
      const value = evaluateRuntimeValue(source, { status, variables, dependencies, stageDependencies });
      values[name] = value;
      variables[name] = value;
    }
    phase = 'condition';
    if (!evaluateCondition(job.condition, { status, variables, dependencies, stageDependencies }))
      return { run: false, result: 'skipped', reason: `condition '${job.condition}' was false` };
    return { run: true, variables: values, dependencies, stageDependencies };
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    return { run: false, result: 'failed', reason: `${phase} failed to evaluate: ${error.message}` };
  }
}

/** Jobs by their written name, legs folded into one. */
function byJob(jobs: readonly FinishedJob[]): Record<string, DependencyState> {
  const groups = new Map<string, { name: string; jobs: FinishedJob[] }>();
  for (const f of jobs) {
    const name = f.plan.shortName ?? f.plan.name;
    const group = groups.get(name.toLowerCase()) ?? { name, jobs: [] };
    group.jobs.push(f);
    groups.set(name.toLowerCase(), group);
  }
  const states: Record<string, DependencyState> = {};
  for (const { name, jobs: legs } of groups.values()) {
    const outputs: Record<string, string> = {};
    for (const f of legs) {
      for (const [key, value] of Object.entries(f.outputs ?? {})) {
        outputs[f.plan.leg === undefined ? key : `${f.plan.leg}.${key}`] = value;
        if (f.plan.deployment) outputs[`${name}.${key}`] = value;
      }
    }
    states[name] = { result: aggregateStatus(legs.map((f) => f.result)), outputs };
  }
  return states;
}

function byStage(jobs: readonly FinishedJob[]): Record<string, Record<string, DependencyState>> {
  const stages = new Map<string, { name: string; jobs: FinishedJob[] }>();
  for (const f of jobs) {
    const name = f.plan.stage ?? '';
    const stage = stages.get(name.toLowerCase()) ?? { name, jobs: [] };
    stage.jobs.push(f);
    stages.set(name.toLowerCase(), stage);
  }
  return Object.fromEntries([...stages.values()].map((s) => [s.name, byJob(s.jobs)]));
}

/** Each depended-on stage as one dependency: its result, and its jobs' outputs as `job.step.var`. */
function stageStates(
  names: readonly string[],
  jobs: readonly FinishedJob[],
): Record<string, DependencyState> {
  const all = byStage(jobs);
  const states: Record<string, DependencyState> = {};
  for (const name of names) {
    const found = Object.entries(all).find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1] ?? {};
    const outputs: Record<string, string> = {};
    for (const [job, state] of Object.entries(found)) {
      for (const [key, value] of Object.entries(state.outputs ?? {})) outputs[`${job}.${key}`] = value;
    }
    states[name] = { result: stageResult(Object.values(found).map((s) => s.result)), outputs };
  }
  return states;
}

/** A stage whose jobs were all skipped was skipped; otherwise skipped jobs do not count against it. */
function stageResult(results: readonly TaskResult[]): TaskResult {
  const ran = results.filter((r) => r !== 'skipped');
  return ran.length === 0 ? 'skipped' : aggregateStatus(ran);
}
