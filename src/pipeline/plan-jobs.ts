import { ExpressionError, evaluateRuntimeValue } from './expressions.js';
import type { Issues } from './issues.js';
import { createVariableLookup, expandMacros } from './macros.js';
import { resolveContainer } from './read-container.js';
import { type JobDraft, MAX_JOBS } from './read-job.js';
import { overlayPool, type PoolSpec, resolvePool } from './read-pool.js';
import type { StageDraft } from './read-stages.js';
import type { Leg } from './read-strategy.js';
import {
  groupNames,
  overlayVariables,
  runtimeRecord,
  type Variable,
  variableRecord,
} from './read-variables.js';
import type { ContainerRef, JobPlan, SourcePos, StagePlan, StepPlan } from './types.js';

/** What every job inherits and what naming pools and containers needs. */
export interface PlanContext {
  issues: Issues;
  variables: Variable[];
  pool?: PoolSpec;
  containers: Readonly<Record<string, ContainerRef>>;
  /** Queue-time variables: `$(x)` in pools and containers sees them over the pipeline's. */
  queueVariables: Readonly<Record<string, string>>;
}

/** The jobs of one stage; `stage` is absent for a pipeline without stages. */
export interface StageJobs {
  stage?: StageDraft;
  jobs: JobDraft[];
}

/**
 * Job drafts whose graphs were checked → the plan's jobs: one per matrix or parallel leg,
 * named uniquely across stages, each waiting for its own dependencies and for every job of the
 * stages its stage depends on.
 */
export function planJobs(
  ctx: PlanContext,
  stages: readonly StageJobs[],
): { jobs: JobPlan[]; stages?: StagePlan[] } {
  const names = nameJobs(stages);
  const byStage = new Map<string, string[]>();
  for (const { stage, jobs } of stages) {
    if (stage)
      byStage.set(
        stage.name.toLowerCase(),
        jobs.flatMap((j) => names.get(j)?.map((n) => n.name) ?? []),
      );
  }
  const jobs: JobPlan[] = [];
  let counted = 0;
  for (const { stage, jobs: drafts } of stages) {
    const byName = new Map(drafts.map((d) => [d.name.toLowerCase(), d]));
    const stageWaitsFor = (stage?.resolved ?? []).flatMap((s) => byStage.get(s.toLowerCase()) ?? []);
    for (const draft of drafts) {
      const legs = names.get(draft) ?? [];
      counted += legs.length;
      if (counted > MAX_JOBS) {
        ctx.issues.add(
          draft.pos,
          `a pipeline may have at most ${MAX_JOBS} jobs, counting each matrix and parallel leg`,
        );
        return { jobs };
      }
      const own = draft.resolved.flatMap((dep) => {
        const target = byName.get(dep.toLowerCase());
        return target ? (names.get(target)?.map((n) => n.name) ?? []) : [];
      });
      for (const { name, leg } of legs) {
        jobs.push(planJob(ctx, { draft, stage, name, leg, dependsOn: [...own, ...stageWaitsFor] }));
      }
    }
  }
  if (!stages.some((s) => s.stage)) return { jobs };
  const stagePlans = stages.flatMap(({ stage }) =>
    stage
      ? [
          {
            name: stage.name,
            displayName: stage.displayName,
            dependsOn: stage.resolved,
            condition: stage.condition,
            jobs: byStage.get(stage.name.toLowerCase()) ?? [],
            pos: stage.pos,
          },
        ]
      : [],
  );
  return { jobs, stages: stagePlans };
}

interface Named {
  name: string;
  leg?: Leg;
}

/**
 * Plan names: `<stage>.<job>`, and `<job>_<leg>` for legs. Names of jobs without legs are
 * taken first, so a leg never renames a job someone wrote; a leg that would clash gets `_2`, ….
 */
function nameJobs(stages: readonly StageJobs[]): Map<JobDraft, Named[]> {
  const taken = new Set<string>();
  const named = new Map<JobDraft, Named[]>();
  const base = (stage: StageDraft | undefined, job: JobDraft) =>
    stage ? `${stage.name}.${job.name}` : job.name;
  for (const { stage, jobs } of stages) {
    for (const job of jobs) {
      if (job.strategy) continue;
      taken.add(base(stage, job).toLowerCase());
      named.set(job, [{ name: base(stage, job) }]);
    }
  }
  for (const { stage, jobs } of stages) {
    for (const job of jobs) {
      if (!job.strategy) continue;
      const legs = job.strategy.legs.map((leg) => {
        const wanted = `${base(stage, job)}_${leg.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
        let name = wanted;
        for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${wanted}_${n}`;
        taken.add(name.toLowerCase());
        return { name, leg };
      });
      named.set(job, legs);
    }
  }
  return named;
}

function planJob(
  ctx: PlanContext,
  job: { draft: JobDraft; stage?: StageDraft; name: string; leg?: Leg; dependsOn: string[] },
): JobPlan {
  const { draft, stage, name, leg } = job;
  const variables = overlayVariables(
    overlayVariables(overlayVariables(ctx.variables, stage?.variables ?? []), draft.variables),
    leg?.variables ?? [],
  );
  const known = variableRecord(variables);
  const lookup = createVariableLookup({ ...known, ...ctx.queueVariables });
  const expand = (text: string) => expandMacros(text, lookup);
  // `container: $[ variables['img'] ]`: the variables a job sees when it starts are known now
  // (outputs of other jobs are refused where the image is read), so the plan names the image and
  // the fleet starts the right one.
  const runtimeNames = Object.keys(runtimeRecord(variables));
  const evaluate = (source: string, pos: SourcePos) =>
    evaluateImage(ctx.issues, source, pos, { ...known, ...ctx.queueVariables }, runtimeNames);
  const poolSpec = overlayPool(draft.pool, overlayPool(stage?.pool, ctx.pool));
  const pool = resolvePool(ctx.issues, poolSpec, { expand });
  const strategy = draft.strategy;
  const displayName =
    leg === undefined
      ? draft.displayName
      : /^\d+$/.test(leg.name) && strategy?.legs.every((l, i) => l.name === String(i + 1))
        ? `${draft.displayName} (${leg.name} of ${strategy.legs.length})`
        : `${draft.displayName} (${leg.name})`;
  const plan: JobPlan = {
    name,
    displayName,
    dependsOn: [...new Set(job.dependsOn)],
    condition: draft.condition,
    pool,
    variables: known,
    timeoutInMinutes: draft.timeoutInMinutes,
    cancelTimeoutInMinutes: draft.cancelTimeoutInMinutes,
    continueOnError: draft.continueOnError,
    ...(draft.retryCountOnAgentLoss === undefined
      ? {}
      : { retryCountOnAgentLoss: draft.retryCountOnAgentLoss }),
    services: Object.fromEntries(
      Object.entries(draft.services).map(([host, spec]) => [
        host,
        resolveContainer(spec, ctx.containers, expand, evaluate),
      ]),
    ),
    docker: draft.docker,
    steps: draft.steps.map((step) => withArtifactName(step, name)),
    pos: draft.pos,
  };
  if (draft.container) plan.container = resolveContainer(draft.container, ctx.containers, expand, evaluate);
  const groups = groupNames(variables);
  if (groups.length > 0) plan.variableGroups = groups;
  const readonly = variables.filter((v) => v.readonly).map((v) => v.name);
  if (readonly.length > 0) plan.readonlyVariables = readonly;
  const runtime = runtimeRecord(variables);
  if (Object.keys(runtime).length > 0) plan.runtimeVariables = runtime;
  if (name !== draft.name) plan.shortName = draft.name;
  if (stage) {
    plan.stage = stage.name;
    plan.stageDisplayName = stage.displayName;
    plan.stageDependsOn = stage.resolved;
    plan.stageCondition = stage.condition;
  }
  if (leg && strategy) {
    plan.leg = leg.name;
    plan.parallelGroup = stage ? `${stage.name}.${draft.name}` : draft.name;
    if (strategy.maxParallel > 0) plan.maxParallel = strategy.maxParallel;
  }
  if (draft.deployment) {
    plan.deployment = true;
    if (draft.deployment.environment !== undefined) plan.environment = draft.deployment.environment;
  }
  if (draft.workspace) plan.workspace = draft.workspace;
  if (draft.checkout === 'none') plan.checkout = 'none';
  return plan;
}

function evaluateImage(
  issues: Issues,
  source: string,
  pos: SourcePos,
  variables: Record<string, string>,
  runtimeNames: readonly string[],
): string {
  let image: string;
  try {
    image = evaluateRuntimeValue(source, { status: 'succeeded', variables }).trim();
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    issues.add(pos, `container image '$[ ${source} ]' failed to evaluate: ${error.message}`);
    return '';
  }
  if (image !== '' && !/\s/.test(image)) return image;
  const runtime = runtimeNames.find((n) => source.toLowerCase().includes(n.toLowerCase()));
  issues.add(
    pos,
    runtime === undefined
      ? `container image '$[ ${source} ]' is '${image}' once evaluated: it must be an image name without spaces`
      : `container image '$[ ${source} ]' uses the runtime variable '${runtime}': an image from a runtime variable is not supported yet by Slipway`,
  );
  return '';
}

/** `publish` without `artifact` publishes under the job's name, unique in the run. */
function withArtifactName(step: StepPlan, jobName: string): StepPlan {
  if (step.publish === undefined || step.publish.artifact !== '') return step;
  return { ...step, publish: { ...step.publish, artifact: jobName } };
}
