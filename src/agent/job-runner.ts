import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import {
  aggregateStatus,
  createVariableLookup,
  evaluateCondition,
  expandMacros,
  predefinedVariables,
  toEnvName,
} from '../pipeline/index.js';
import type { JobPlan, StepPlan, TaskResult } from '../pipeline/types.js';
import { type ApiClient, HttpError, withRetry } from '../protocol/client.js';
import type { JobSpec } from '../protocol/schemas.js';
import type { Logger } from '../shared/logger.js';
import { extractWorkspace } from '../shared/workspace-archive.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LogStream } from './log-stream.js';
import { findOnPath, killLeftoverProcesses, runProcess } from './process.js';
import { JobState, StepOutput } from './step-output.js';

export interface JobRunnerOptions {
  client: ApiClient;
  spec: JobSpec;
  agent: { id: string; name: string; pool: string };
  /** The agent's work folder; the job gets its own folder inside and it is removed afterwards. */
  work: string;
  /** The environment steps start from: the agent's, with credentials already removed. */
  baseEnv: Record<string, string>;
  killGraceMs: number;
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

type StopCause = 'canceled' | 'timed out' | 'lease lost';

/** Runs one claimed job from workspace download to completion report. */
export async function runJob(o: JobRunnerOptions): Promise<JobOutcome> {
  const { spec, client } = o;
  const plan = spec.plan as JobPlan;
  const log = o.logger.child({ jobId: spec.jobId, attempt: spec.attempt });
  const stop = new AbortController();
  let cause: StopCause | undefined;
  const stopJob = (why: StopCause) => {
    if (cause === undefined || why === 'lease lost') cause = why;
    stop.abort();
  };
  const token = () => spec.leaseToken;

  const keeper = new LeaseKeeper({
    client,
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
  keeper.start();
  const onShutdown = () => stopJob('canceled');
  o.shutdown.addEventListener('abort', onShutdown, { once: true });
  const jobTimer =
    plan.timeoutInMinutes > 0
      ? setTimeout(() => stopJob('timed out'), plan.timeoutInMinutes * 60_000)
      : undefined;

  // The step token is masked like a secret: a script that prints it leaks nothing to the log.
  const state = new JobState({}, [...Object.values(spec.secrets), spec.stepToken]);
  const stream = (step: number) => {
    const s = new LogStream({
      client,
      jobId: spec.jobId,
      epoch: spec.epoch,
      step,
      leaseToken: token,
      secrets: state.secrets,
      retryForMs: spec.leaseTtlMs,
      onLeaseLost: () => stopJob('lease lost'),
    });
    state.track(s);
    return s;
  };

  const jobDir = join(o.work, spec.jobId.replace(/[^A-Za-z0-9_-]/g, ''));
  const dirs = { s: join(jobDir, 's'), a: join(jobDir, 'a'), b: join(jobDir, 'b'), tmp: join(jobDir, 'tmp') };
  const setup = stream(-1);
  const results: TaskResult[] = [];
  let failure: string | undefined;
  try {
    await rm(jobDir, { recursive: true, force: true });
    await Promise.all(Object.values(dirs).map((d) => mkdir(d, { recursive: true })));
    setup.write(
      `Agent ${o.agent.name} (pool ${o.agent.pool}) runs job ${plan.name}, attempt ${spec.attempt}\n`,
    );
    if (spec.hasWorkspace) {
      const res = await client.fetch(`jobs/${spec.jobId}/workspace`, { token: token(), timeoutMs: 300_000 });
      if (!res.ok || !res.body) throw new Error(`workspace download failed: ${res.status}`);
      const { files, bytes } = await extractWorkspace(Buffer.from(await res.arrayBuffer()), dirs.s);
      setup.write(`Workspace: ${files} files, ${bytes} bytes in ${dirs.s}\n`);
    }
    await setup.sync();

    const variables = Object.assign(state.variables, {
      ...predefinedVariables({
        agentName: o.agent.name,
        agentId: o.agent.id,
        agentOs: 'Linux',
        arch: arch(),
        workFolder: o.work,
        tempDirectory: dirs.tmp,
        sourcesDirectory: dirs.s,
        buildDirectory: jobDir,
        buildId: String(spec.runNumber),
        buildNumber: String(spec.runNumber),
        runId: spec.runId,
        jobId: spec.jobId,
        jobName: plan.name,
        jobDisplayName: plan.displayName,
        attempt: spec.attempt,
        pipelineFile: spec.pipelineFile,
        poolName: o.agent.pool,
      }),
      ...spec.variables,
    });

    for (const [index, step] of plan.steps.entries()) {
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
        await reportStep(
          o,
          index,
          'completed',
          'skipped',
          cause ? `the job was ${cause}` : `condition '${step.condition}' was false`,
        );
        continue;
      }
      const out = stream(index);
      await reportStep(o, index, 'running');
      const outcome = await runStep(o, step, { state, dirs, out, stop: stop.signal, cause: () => cause });
      await out.close();
      const result =
        outcome.result === 'failed' && step.continueOnError ? 'succeededWithIssues' : outcome.result;
      results.push(result);
      if (cause !== 'lease lost') await reportStep(o, index, 'completed', result, outcome.reason);
    }
  } catch (err) {
    failure = `job setup failed: ${(err as Error).message}`;
    setup.write(`##[error]${failure}\n`);
    results.push('failed');
  } finally {
    clearTimeout(jobTimer);
    o.shutdown.removeEventListener('abort', onShutdown);
    killLeftoverProcesses();
  }

  const outcome = finalOutcome(results, cause, plan, failure);
  if (outcome.reason && !outcome.leaseLost) setup.write(`${outcome.reason}\n`);
  await setup.close();
  if (!outcome.leaseLost) {
    try {
      await withRetry(
        () =>
          client.request(`jobs/${spec.jobId}/complete`, {
            token: token(),
            body: {
              epoch: spec.epoch,
              result: outcome.result,
              reason: outcome.reason,
              outputs: state.outputs,
              buildNumber: state.buildNumber,
              tags: state.tags,
            },
          }),
        { deadlineMs: spec.leaseTtlMs },
      );
    } catch (err) {
      log.error({ err: (err as Error).message }, 'could not report the job result');
      if (err instanceof HttpError && err.status === 409) outcome.leaseLost = true;
    }
  }
  await keeper.stop();
  await rm(jobDir, { recursive: true, force: true }).catch(() => undefined);
  return outcome;
}

function shouldRun(
  step: StepPlan,
  status: ReturnType<typeof aggregateStatus>,
  variables: Record<string, string>,
  spec: JobSpec,
): boolean {
  try {
    return evaluateCondition(step.condition, { status, variables, dependencies: spec.dependencies });
  } catch {
    return false;
  }
}

interface StepContext {
  state: JobState;
  dirs: { s: string; tmp: string };
  out: LogStream;
  stop: AbortSignal;
  cause: () => StopCause | undefined;
}

async function runStep(
  o: JobRunnerOptions,
  step: StepPlan,
  c: StepContext,
): Promise<{ result: TaskResult; reason?: string }> {
  const { spec } = o;
  const { variables } = c.state;
  const plain = createVariableLookup(variables);
  const withSecrets = createVariableLookup({ ...variables, ...spec.secrets, ...c.state.secretVariables });
  const expand = (text: string) => expandMacros(text, withSecrets);

  // Variables become environment variables; secrets only where a step maps them in `env`.
  const env: Record<string, string> = {
    ...o.baseEnv,
    TF_BUILD: 'True',
    // The narrow credential scripts may use (this run's workspace), and where to use it.
    SLIPWAY_API_URL: o.client.baseUrl,
    SLIPWAY_JOB_ID: spec.jobId,
    SLIPWAY_JOB_TOKEN: spec.stepToken,
  };
  for (const [name, value] of Object.entries(variables)) env[toEnvName(name)] = expandMacros(value, plain);
  for (const [name, value] of Object.entries(step.env)) env[name] = expand(value);
  if (c.state.pathPrefixes.length > 0) env.PATH = [...c.state.pathPrefixes, env.PATH ?? ''].join(':');

  const script = expand(step.script);
  const file = join(c.dirs.tmp, `step-${Math.random().toString(36).slice(2)}.sh`);
  await writeFile(file, script.endsWith('\n') ? script : `${script}\n`, { mode: 0o700 });
  const { shell, args } = chooseShell(env.PATH, file);
  const cwd = step.workingDirectory ? resolveIn(c.dirs.s, expand(step.workingDirectory)) : c.dirs.s;
  c.out.write(`##[section]Starting: ${step.displayName}\n`);

  const output = new StepOutput(c.out, c.state, step);
  const started = Date.now();
  const res = await runProcess({
    command: shell,
    args,
    cwd,
    env,
    onOutput: (text) => output.write(text),
    timeoutMs: step.timeoutInMinutes * 60_000,
    signal: c.stop,
    killGraceMs: o.killGraceMs,
  });
  output.end();
  await rm(file, { force: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  let outcome: { result: TaskResult; reason?: string };
  if (res.spawnError) outcome = { result: 'failed', reason: `could not start ${shell}: ${res.spawnError}` };
  else if (res.timedOut) outcome = { result: 'failed', reason: `timed out after ${step.timeoutInMinutes}m` };
  else if (res.aborted) {
    const why = c.cause();
    outcome =
      why === 'timed out'
        ? {
            result: 'failed',
            reason: `the job timed out after ${(o.spec.plan as JobPlan).timeoutInMinutes}m`,
          }
        : { result: 'canceled', reason: why === 'lease lost' ? 'lease lost' : 'canceled' };
  } else if (output.forcedResult) {
    // `##vso[task.complete result=…]` decides, whatever the exit code.
    outcome = { result: output.forcedResult, reason: 'set by task.complete' };
  } else if (res.exitCode === 0) outcome = { result: 'succeeded' };
  else
    outcome = {
      result: 'failed',
      reason: res.signal ? `killed by ${res.signal}` : `exit code ${res.exitCode}`,
    };
  const tail = outcome.reason ? ` (${outcome.reason})` : '';
  if (outcome.result === 'failed') c.out.write(`##[error]${step.displayName}: ${outcome.reason}\n`);
  c.out.write(`##[section]Finishing: ${step.displayName} — ${outcome.result}${tail} in ${seconds}s\n`);
  return outcome;
}

/** Bash as Azure Pipelines runs it; else the image's sh; else the busybox the agent brings along. */
function chooseShell(path: string | undefined, file: string): { shell: string; args: string[] } {
  const bash = findOnPath(['bash'], path);
  if (bash) return { shell: bash, args: ['--noprofile', '--norc', file] };
  const sh = findOnPath(['sh'], path);
  if (sh) return { shell: sh, args: [file] };
  if (existsSync(INJECTED_BUSYBOX)) return { shell: INJECTED_BUSYBOX, args: ['sh', file] };
  return { shell: '/bin/sh', args: [file] };
}

/** Where the fleet's injected agent runtime keeps a static busybox (images/ builds it). */
const INJECTED_BUSYBOX = '/slipway/bin/busybox';

function resolveIn(base: string, dir: string): string {
  return isAbsolute(dir) ? dir : resolve(base, dir);
}

async function reportStep(
  o: JobRunnerOptions,
  index: number,
  state: 'running' | 'completed',
  result?: TaskResult,
  reason?: string,
) {
  try {
    await withRetry(
      () =>
        o.client.request(`jobs/${o.spec.jobId}/steps`, {
          token: o.spec.leaseToken,
          body: { epoch: o.spec.epoch, index, state, result, reason },
        }),
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
