import { mkdir, rm } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import type { JobPlan, StepPlan, TaskResult } from '../pipeline/index.js';
import {
  aggregateStatus,
  createVariableLookup,
  evaluateCondition,
  expandMacros,
  expandVariables,
  predefinedVariables,
} from '../pipeline/index.js';
import type { JobSpec } from '../protocol/index.js';
import { type ApiClient, withRetry } from '../protocol/index.js';
import { LeaseLostError, ResultConflictError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { extractWorkspace } from '../shared/workspace-archive.js';
import { chownTree, type JobUser } from './job-user.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LogStream } from './log-stream.js';
import { killJobProcesses } from './process.js';
import { JobState } from './step-output.js';
import { runStep, type StopCause } from './step-runner.js';

export interface JobRunnerOptions {
  client: ApiClient;
  spec: JobSpec;
  agent: { id: string; name: string; pool: string };
  /** The agent's work folder; the job gets its own folder inside and it is removed afterwards. */
  work: string;
  /** The environment steps start from: the agent's, with credentials already removed. */
  baseEnv: Record<string, string>;
  killGraceMs: number;
  /** Steps run as this user, and every process of it is killed after the job. Default: the agent's user. */
  jobUser?: JobUser;
  logger: Logger;
  /** Aborted when the agent itself is shutting down: the job is canceled. */
  shutdown: AbortSignal;
}

export interface JobOutcome {
  result: TaskResult;
  reason?: string;
  /** The lease was lost: the server has already failed this attempt, so nothing is reported. */
  leaseLost: boolean;
}

/** The folders of one job inside the agent's work folder; removed when the job ends. */
interface JobDirs {
  job: string;
  s: string;
  a: string;
  b: string;
  tmp: string;
}

/** What the phases of one job share: its plan, folders, state, log streams and why it stops. */
interface JobContext {
  o: JobRunnerOptions;
  spec: JobSpec;
  plan: JobPlan;
  log: Logger;
  dirs: JobDirs;
  state: JobState;
  /** The job-level log (setup, teardown, the result's reason). */
  setup: LogStream;
  stream: (step: number) => LogStream;
  stop: AbortSignal;
  cause: () => StopCause | undefined;
  /** The setup log on its way to the server (sent with the first step's report, not before it). */
  setupSent?: Promise<void>;
  /** Called once the first step is under way (or none will be): the lease keeper's first beat waits for it. */
  settle: () => void;
}

/**
 * Runs one claimed job: prepare the workspace, set the job's variables, run the steps, report
 * the result. The lease is kept, and cancel, timeout and shutdown watched, all the while.
 */
export async function runJob(o: JobRunnerOptions): Promise<JobOutcome> {
  const { spec } = o;
  const plan = spec.plan;
  const log = o.logger.child({ jobId: spec.jobId, attempt: spec.attempt });
  const stop = new AbortController();
  let cause: StopCause | undefined;
  const stopJob = (why: StopCause) => {
    if (cause === undefined || why === 'lease lost') cause = why;
    stop.abort();
  };
  let settle = () => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const watch = watchJob(o, plan, log, stopJob, settled);
  // The step token is masked like a secret: a script that prints it leaks nothing to the log.
  const state = new JobState({}, [...Object.values(spec.secrets), spec.stepToken]);
  const stream = (step: number) => {
    const s = new LogStream({
      client: o.client,
      jobId: spec.jobId,
      epoch: spec.epoch,
      step,
      leaseToken: () => spec.leaseToken,
      secrets: state.secrets,
      retryForMs: spec.leaseTtlMs,
      onLeaseLost: () => stopJob('lease lost'),
    });
    state.track(s);
    return s;
  };
  const job: JobContext = {
    o,
    spec,
    plan,
    log,
    dirs: jobDirs(o.work, spec.jobId),
    state,
    setup: stream(-1),
    stream,
    stop: stop.signal,
    cause: () => cause,
    settle: () => settle(),
  };

  const results: TaskResult[] = [];
  let failure: string | undefined;
  try {
    await prepareWorkspace(job);
    const variables = jobVariables(job);
    await runSteps(job, variables, results);
  } catch (err) {
    failure = `job setup failed: ${(err as Error).message}`;
    job.setup.write(`##[error]${failure}\n`);
    results.push('failed');
  } finally {
    job.settle();
    watch.stopWatching();
    // Before the result is reported (and so before the next job): nothing of this job survives it.
    const sweep = await killJobProcesses({ jobId: spec.jobId, uid: o.jobUser?.uid });
    if (sweep.killed > 0) log.info({ killed: sweep.killed }, 'killed processes the job left running');
    if (sweep.left > 0) log.error({ left: sweep.left }, 'processes of the job are still running');
  }

  const outcome = finalOutcome(results, cause, plan, failure);
  await reportResult(job, outcome);
  await watch.keeper.stop();
  await rm(job.dirs.job, { recursive: true, force: true }).catch(() => undefined);
  return outcome;
}

/** Keeps the lease and stops the job on cancel, lease loss, its timeout or the agent's shutdown. */
function watchJob(
  o: JobRunnerOptions,
  plan: JobPlan,
  log: Logger,
  stopJob: (why: StopCause) => void,
  settled: Promise<void>,
) {
  const { spec } = o;
  const keeper = new LeaseKeeper({
    client: o.client,
    jobId: spec.jobId,
    epoch: spec.epoch,
    leaseToken: spec.leaseToken,
    leaseTtlMs: spec.leaseTtlMs,
    logger: log,
    onCancel: () => stopJob('canceled'),
    onLost: (reason) => {
      log.warn({ reason }, 'lease lost; stopping the job');
      stopJob('lease lost');
    },
  });
  keeper.start(settled);
  const onShutdown = () => stopJob('canceled');
  o.shutdown.addEventListener('abort', onShutdown, { once: true });
  const jobTimer =
    plan.timeoutInMinutes > 0
      ? setTimeout(() => stopJob('timed out'), plan.timeoutInMinutes * 60_000)
      : undefined;
  return {
    keeper,
    /** The timeout and shutdown no longer apply; the lease is kept until the result is in. */
    stopWatching: () => {
      clearTimeout(jobTimer);
      o.shutdown.removeEventListener('abort', onShutdown);
    },
  };
}

function jobDirs(work: string, jobId: string): JobDirs {
  const job = join(work, jobId.replace(/[^A-Za-z0-9_-]/g, ''));
  return { job, s: join(job, 's'), a: join(job, 'a'), b: join(job, 'b'), tmp: join(job, 'tmp') };
}

/** A fresh job folder, the run's workspace unpacked into `s`, all of it owned by the job's user. */
async function prepareWorkspace(job: JobContext): Promise<void> {
  const { o, spec, plan, dirs, setup } = job;
  await rm(dirs.job, { recursive: true, force: true });
  await Promise.all([dirs.s, dirs.a, dirs.b, dirs.tmp].map((d) => mkdir(d, { recursive: true })));
  if (plan.docker === 'socket')
    setup.write(
      "##[warning]This job has the host's Docker socket (docker: socket): it has root on the host, and can read or change every container, image and file there.\n",
    );
  setup.write(
    `Agent ${o.agent.name} (pool ${o.agent.pool}) runs job ${plan.name}, attempt ${spec.attempt}\n`,
  );
  if (plan.docker === 'dind')
    setup.write('Docker: this job has an engine of its own (docker: dind), at $DOCKER_HOST over TLS\n');
  if (plan.docker === 'rootless')
    setup.write('Docker: no engine (docker: rootless); build images with buildah in this container\n');
  if (spec.untrusted)
    setup.write('Untrusted run (a pull request from a fork): no secrets, no secure variables\n');
  const mapped = plan.pool.vmImageMapping;
  if (plan.pool.vmImage !== undefined && mapped) {
    const image = mapped.image ? `, image ${mapped.image}` : ", the pool's own image";
    setup.write(`vmImage '${plan.pool.vmImage}' is mapped to pool '${mapped.pool}'${image}\n`);
  }
  if (plan.checkout === 'none') setup.write('checkout: none — the workspace is not unpacked\n');
  else if (spec.hasWorkspace) {
    const res = await o.client.fetch(`jobs/${spec.jobId}/workspace`, {
      token: spec.leaseToken,
      timeoutMs: 300_000,
    });
    if (!res.ok || !res.body) throw new Error(`workspace download failed: ${res.status}`);
    const { files, bytes } = await extractWorkspace(Buffer.from(await res.arrayBuffer()), dirs.s);
    setup.write(`Workspace: ${files} ${files === 1 ? 'file' : 'files'}, ${bytes} bytes in ${dirs.s}\n`);
  }
  if (o.jobUser) {
    // Whatever an earlier job of this user left running (an agent killed mid-job) goes first.
    await killJobProcesses({ jobId: spec.jobId, uid: o.jobUser.uid });
    await chownTree(dirs.job, o.jobUser);
  }
  // Not awaited here: the first step's report goes out beside it, and the step waits for both.
  job.setupSent = setup.sync();
}

/** The predefined variables, then the run's (`--var`); values that use others expanded once, here. */
function jobVariables(job: JobContext): Record<string, string> {
  const { o, spec, plan, dirs } = job;
  return Object.assign(
    job.state.variables,
    expandVariables({
      ...predefinedVariables({
        agentName: o.agent.name,
        agentId: o.agent.id,
        agentOs: 'Linux',
        arch: arch(),
        workFolder: o.work,
        tempDirectory: dirs.tmp,
        sourcesDirectory: dirs.s,
        buildDirectory: dirs.job,
        buildId: String(spec.runNumber),
        buildNumber: spec.buildNumber,
        stageName: plan.stage,
        stageDisplayName: plan.stageDisplayName,
        runId: spec.runId,
        jobId: spec.jobId,
        jobName: plan.name,
        jobDisplayName: plan.displayName,
        attempt: spec.attempt,
        pipelineFile: spec.pipelineFile,
        poolName: o.agent.pool,
      }),
      ...spec.variables,
    }),
  );
}

/** Runs or skips each step in order, reporting each, and pushes each step's result to `results`. */
async function runSteps(job: JobContext, variables: Record<string, string>, results: TaskResult[]) {
  const { o, spec, plan, state, dirs } = job;
  for (const [index, step] of plan.steps.entries()) {
    const cause = job.cause();
    // As in Azure Pipelines, skipped steps do not change the status later conditions see.
    const ran = results.filter((r) => r !== 'skipped');
    const status = cause ? 'canceled' : aggregateStatus(ran.length ? ran : ['succeeded']);
    variables['Agent.JobStatus'] =
      status === 'succeeded'
        ? 'Succeeded'
        : status === 'failed'
          ? 'Failed'
          : status === 'canceled'
            ? 'Canceled'
            : 'SucceededWithIssues';
    const run = cause !== 'lease lost' && shouldRun(step, status, variables, spec);
    if (!run) {
      results.push('skipped');
      await reportStep(o, state, index, {
        state: 'completed',
        result: 'skipped',
        reason: cause ? `the job was ${cause}` : `condition '${step.condition}' was false`,
      });
      continue;
    }
    const out = job.stream(index);
    // Display names may use macros (`Build $(platform)`), shown expanded as Azure does.
    const name = expandMacros(step.displayName, createVariableLookup(state.variables));
    // The setup log is stored before this step prints anything: its lines stay first.
    await Promise.all([job.setupSent, reportStep(o, state, index, { state: 'running', name })]);
    job.setupSent = undefined;
    job.settle();
    const stepOutcome = await runStep(step, {
      client: o.client,
      spec,
      state,
      dirs: { job: dirs.job, s: dirs.s, tmp: dirs.tmp },
      out,
      stop: job.stop,
      cause: job.cause,
      // A warm agent's container was started before its job: `container: { env }` applies here.
      baseEnv: { ...o.baseEnv, ...plan.container?.env },
      killGraceMs: o.killGraceMs,
      jobUser: o.jobUser,
      index,
    });
    await out.close();
    // A step whose log could not be stored did not do what it says it did: it fails.
    const outcome =
      out.failure && stepOutcome.result !== 'canceled'
        ? { result: 'failed' as const, reason: `its log could not be stored: ${out.failure}` }
        : stepOutcome;
    const result =
      outcome.result === 'failed' && step.continueOnError ? 'succeededWithIssues' : outcome.result;
    results.push(result);
    if (job.cause() !== 'lease lost')
      await reportStep(o, state, index, { state: 'completed', result, reason: outcome.reason });
  }
}

/**
 * Writes the result's reason to the job's log and reports the result, unless the lease is lost.
 * A server that refuses the result (another attempt holds the job, or it was completed
 * otherwise) marks the outcome `leaseLost`.
 */
async function reportResult(job: JobContext, outcome: JobOutcome): Promise<void> {
  const { o, spec, state, setup } = job;
  // The agent's own log shows the reason too (and `docker logs` of a fleet container).
  if (outcome.reason) outcome.reason = state.mask(outcome.reason);
  if (outcome.reason && !outcome.leaseLost) setup.write(`${outcome.reason}\n`);
  await setup.close();
  if (outcome.leaseLost) return;
  try {
    await withRetry(
      () =>
        o.client.complete(
          spec.jobId,
          { epoch: spec.epoch, result: outcome.result, ...jobReport(state, outcome.reason) },
          { token: spec.leaseToken },
        ),
      { deadlineMs: spec.leaseTtlMs },
    );
  } catch (err) {
    job.log.error({ err: (err as Error).message }, 'could not report the job result');
    if (err instanceof LeaseLostError || err instanceof ResultConflictError) outcome.leaseLost = true;
  }
}

function shouldRun(
  step: StepPlan,
  status: ReturnType<typeof aggregateStatus>,
  variables: Record<string, string>,
  spec: JobSpec,
): boolean {
  try {
    return evaluateCondition(step.condition, {
      status,
      variables,
      dependencies: spec.dependencies,
      stageDependencies: spec.stageDependencies,
    });
  } catch {
    return false;
  }
}

/**
 * What the job tells the server about itself besides its log, masked with every secret it knows
 * (the run's and those set at runtime): the server stores it and shows it to anyone who can read
 * the run, and a later job reads the outputs.
 */
function jobReport(state: JobState, reason?: string) {
  const outputs = Object.fromEntries(Object.entries(state.outputs).map(([k, v]) => [k, state.mask(v)]));
  return {
    reason: reason === undefined ? undefined : state.mask(reason),
    outputs,
    buildNumber: state.buildNumber === undefined ? undefined : state.mask(state.buildNumber),
    tags: [...new Set(state.tags.map((t) => state.mask(t)))],
    testRuns:
      state.testRuns.length === 0
        ? undefined
        : state.testRuns.slice(0, 100).map((t) => maskTestRun(state, t)),
    coverage:
      state.coverage.length === 0
        ? undefined
        : state.coverage.slice(0, 100).map((c) => ({
            ...c,
            file: state.mask(c.file).slice(0, 1000),
            ...(c.artifact === undefined ? {} : { artifact: state.mask(c.artifact).slice(0, 255) }),
          })),
  };
}

function maskTestRun(state: JobState, t: JobState['testRuns'][number]): JobState['testRuns'][number] {
  return {
    ...t,
    title: state.mask(t.title).slice(0, 500),
    files: t.files.slice(0, 1000).map((f) => state.mask(f).slice(0, 1000)),
    failures: t.failures.slice(0, 100).map((f) => ({
      name: state.mask(f.name).slice(0, 1000),
      message: state.mask(f.message).slice(0, 4000),
    })),
  };
}

async function reportStep(
  o: JobRunnerOptions,
  jobState: JobState,
  index: number,
  update: { state: 'running' | 'completed'; result?: TaskResult; reason?: string; name?: string },
) {
  const mask = (text?: string) => (text === undefined ? undefined : jobState.mask(text));
  const body = { ...update, reason: mask(update.reason), name: mask(update.name) };
  try {
    await withRetry(
      () =>
        o.client.reportStep(
          o.spec.jobId,
          { epoch: o.spec.epoch, index, ...body },
          { token: o.spec.leaseToken },
        ),
      { deadlineMs: o.spec.leaseTtlMs },
    );
  } catch (err) {
    o.logger.warn({ err: (err as Error).message, index }, 'could not report step state');
  }
}

function finalOutcome(
  results: TaskResult[],
  cause: StopCause | undefined,
  plan: JobPlan,
  failure?: string,
): JobOutcome {
  if (cause === 'lease lost') return { result: 'failed', reason: 'lease lost', leaseLost: true };
  if (cause === 'timed out') {
    return {
      result: 'failed',
      reason: `the job timed out after ${plan.timeoutInMinutes}m`,
      leaseLost: false,
    };
  }
  if (cause === 'canceled') return { result: 'canceled', reason: 'the job was canceled', leaseLost: false };
  if (failure) return { result: 'failed', reason: failure, leaseLost: false };
  const ran = results.filter((r) => r !== 'skipped');
  if (ran.includes('failed')) return { result: 'failed', reason: 'a step failed', leaseLost: false };
  if (ran.includes('canceled')) return { result: 'canceled', leaseLost: false };
  if (ran.includes('succeededWithIssues')) return { result: 'succeededWithIssues', leaseLost: false };
  return { result: 'succeeded', leaseLost: false };
}
