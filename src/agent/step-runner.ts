import { existsSync, readFileSync } from 'node:fs';
import { chown, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { StepPlan, TaskResult } from '../pipeline/index.js';
import { createVariableLookup, expandMacros, toEnvName } from '../pipeline/index.js';
import type { ApiClient, JobSpec } from '../protocol/index.js';
import { sleep } from '../shared/clock.js';
import { assertNever } from '../shared/errors.js';
import { packWorkspace } from '../shared/workspace-archive.js';
import {
  artifactNameProblem,
  downloadArtifact,
  listArtifacts,
  patternList,
  publishArtifact,
} from './artifacts.js';
import { restoreCache, saveCache } from './cache/cache-step.js';
import type { JobUser } from './job-user.js';
import type { LogStream } from './log-stream.js';
import { findOnPath, runProcess } from './process.js';
import { type JobState, StepOutput } from './step-output.js';
import { runTaskStep } from './task-step.js';

export type StopCause = 'canceled' | 'timed out' | 'lease lost';
export type StepOutcome = { result: TaskResult; reason?: string };

export interface StepContext {
  client: ApiClient;
  spec: JobSpec;
  state: JobState;
  dirs: { job: string; s: string; tmp: string };
  out: LogStream;
  stop: AbortSignal;
  cause: () => StopCause | undefined;
  /** The environment steps start from: the agent's, credentials removed. */
  baseEnv: Record<string, string>;
  killGraceMs: number;
  /** Scripts run as this user; what the agent writes for them is handed to it. */
  jobUser?: JobUser;
  /** The step's index in the job (a cache step's post-job half finds its restore by it). */
  index?: number;
}

/** What the cache steps need: `$(name)` macros without secrets, since keys are stored in clear. */
function cacheContext(c: StepContext) {
  const plain = createVariableLookup(c.state.variables);
  return { ...c, expand: (text: string) => expandMacros(text, plain) };
}

/** Runs one step, again after a failure when it has `retryCountOnTaskFailure`, and logs its frame. */
export async function runStep(step: StepPlan, c: StepContext): Promise<StepOutcome> {
  c.out.write(`##[section]Starting: ${step.displayName}\n`);
  const started = Date.now();
  const retries = step.retryCountOnTaskFailure ?? 0;
  let outcome = await runOnce(step, c);
  for (let attempt = 1; attempt <= retries && outcome.result === 'failed' && !c.cause(); attempt++) {
    const waitS = attempt * attempt;
    c.out.write(
      `##[warning]${step.displayName} failed (${outcome.reason}); retrying in ${waitS}s (retry ${attempt} of ${retries})\n`,
    );
    await sleep(waitS * 1000, c.stop);
    if (c.cause()) break;
    outcome = await runOnce(step, c);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const tail = outcome.reason ? ` (${outcome.reason})` : '';
  if (outcome.result === 'failed') c.out.write(`##[error]${step.displayName}: ${outcome.reason}\n`);
  c.out.write(`##[section]Finishing: ${step.displayName} — ${outcome.result}${tail} in ${seconds}s\n`);
  return outcome;
}

async function runOnce(step: StepPlan, c: StepContext): Promise<StepOutcome> {
  try {
    switch (step.kind) {
      case 'script':
      case 'bash':
        return await runScript(step, c, 'bash');
      case 'pwsh':
        return await runScript(step, c, 'pwsh');
      case 'checkout':
        return checkout(step, c);
      case 'publish':
        return await publish(step, c);
      case 'download':
        return await download(step, c);
      case 'cache':
        return await restoreCache(step, c.index ?? -1, cacheContext(c));
      case 'cacheSave':
        return await saveCache(step, cacheContext(c));
      case 'task':
        return await runTaskStep(step, c, { runScript, stepEnvironment });
      default:
        return assertNever(step.kind);
    }
  } catch (err) {
    return { result: 'failed', reason: (err as Error).message };
  }
}

/** `$(name)` lookups and the environment a step sees. */
export function stepEnvironment(step: StepPlan, c: StepContext) {
  const { variables } = c.state;
  const plain = createVariableLookup(variables);
  const withSecrets = createVariableLookup({ ...variables, ...c.spec.secrets, ...c.state.secretVariables });
  const expand = (text: string) => expandMacros(text, withSecrets);
  // Variables become environment variables; secrets only where a step maps them in `env`.
  const env: Record<string, string> = {
    ...c.baseEnv,
    TF_BUILD: 'True',
    // The narrow credential scripts may use (this run's workspace), and where to use it.
    SLIPWAY_API_URL: c.client.baseUrl,
    SLIPWAY_JOB_ID: c.spec.jobId,
    SLIPWAY_JOB_TOKEN: c.spec.stepToken,
  };
  for (const [name, value] of Object.entries(variables)) env[toEnvName(name)] = expandMacros(value, plain);
  for (const [name, value] of Object.entries(step.env)) env[name] = expand(value);
  if (c.state.pathPrefixes.length > 0) env.PATH = [...c.state.pathPrefixes, env.PATH ?? ''].join(':');
  return { env, expand };
}

/** Runs a script step; `expanded`: its script and working directory have their macros expanded already (a task's). */
export async function runScript(
  step: StepPlan,
  c: StepContext,
  language: 'bash' | 'pwsh',
  expanded = false,
): Promise<StepOutcome> {
  const environment = stepEnvironment(step, c);
  const env = environment.env;
  const expand = expanded ? (text: string) => text : environment.expand;
  const script = expand(step.script);
  const interpreter = language === 'bash' ? chooseShell(env.PATH) : choosePwsh(env.PATH);
  if (!interpreter) {
    return {
      result: 'failed',
      reason: 'pwsh (PowerShell) is not installed in this image; use a container image that has it',
    };
  }
  const file = join(
    c.dirs.tmp,
    `step-${Math.random().toString(36).slice(2)}.${language === 'bash' ? 'sh' : 'ps1'}`,
  );
  const body = language === 'bash' ? script : pwshScript(step, script);
  await writeFile(file, body.endsWith('\n') ? body : `${body}\n`, { mode: 0o700 });
  if (c.jobUser) await chown(file, c.jobUser.uid, c.jobUser.gid);
  const cwd = step.workingDirectory ? resolveIn(c.dirs.s, expand(step.workingDirectory)) : c.dirs.s;

  const output = new StepOutput(c.out, c.state, step);
  const oomBefore = oomKills();
  let stderrSeen = false;
  const res = await runProcess({
    command: interpreter.command,
    args: [...interpreter.args, file],
    cwd,
    env,
    onOutput: (text, stream) => {
      if (stream === 'stderr' && text.trim() !== '') stderrSeen = true;
      output.write(text);
    },
    timeoutMs: step.timeoutInMinutes * 60_000,
    signal: c.stop,
    killGraceMs: c.killGraceMs,
    user: c.jobUser,
  });
  output.end();
  await rm(file, { force: true });
  for (const path of output.uploads) await uploadFile(resolveIn(cwd, path), c);
  if (res.spawnError)
    return { result: 'failed', reason: `could not start ${interpreter.command}: ${res.spawnError}` };
  if (res.timedOut) return { result: 'failed', reason: `timed out after ${step.timeoutInMinutes}m` };
  if (res.aborted) {
    const why = c.cause();
    if (why === 'timed out') {
      return {
        result: 'failed',
        reason: `the job timed out after ${c.spec.plan.timeoutInMinutes}m`,
      };
    }
    return { result: 'canceled', reason: why === 'lease lost' ? 'lease lost' : 'canceled' };
  }
  // `##vso[task.complete result=…]` decides, whatever the exit code.
  if (output.forcedResult) return { result: output.forcedResult, reason: 'set by task.complete' };
  // The kernel kills the biggest process: the step's shell, or a child it reports as 128 + 9.
  const killed = res.signal === 'SIGKILL' || res.exitCode === 137;
  if (killed && (oomKills() ?? 0) > (oomBefore ?? 0)) {
    return { result: 'failed', reason: 'killed: out of memory (the job reached its memory limit)' };
  }
  if (res.exitCode !== 0) {
    return { result: 'failed', reason: res.signal ? `killed by ${res.signal}` : `exit code ${res.exitCode}` };
  }
  if (step.failOnStderr && stderrSeen) return { result: 'failed', reason: 'wrote to stderr (failOnStderr)' };
  return { result: 'succeeded' };
}

/**
 * How many processes the kernel has killed for memory in this container's cgroup (v2, then v1),
 * so a step killed that way is reported as out of memory, not as a mysterious SIGKILL.
 */
function oomKills(): number | undefined {
  for (const file of ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control']) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
      if (m) return Number(m[1]);
    } catch {
      // not this cgroup version
    }
  }
  return undefined;
}

/** Bash as Azure Pipelines runs it; else the image's sh; else the busybox the agent brings along. */
function chooseShell(path: string | undefined): { command: string; args: string[] } {
  const bash = findOnPath(['bash'], path);
  if (bash) return { command: bash, args: ['--noprofile', '--norc'] };
  const sh = findOnPath(['sh'], path);
  if (sh) return { command: sh, args: [] };
  if (existsSync(INJECTED_BUSYBOX)) return { command: INJECTED_BUSYBOX, args: ['sh'] };
  return { command: '/bin/sh', args: [] };
}

function choosePwsh(path: string | undefined): { command: string; args: string[] } | undefined {
  const pwsh = findOnPath(['pwsh'], path);
  return pwsh ? { command: pwsh, args: ['-NoLogo', '-NoProfile', '-NonInteractive', '-File'] } : undefined;
}

/** Azure's wrapper: the error preference first, and the script's last exit code as the step's. */
function pwshScript(step: StepPlan, script: string): string {
  const preference = { stop: 'Stop', continue: 'Continue', silentlyContinue: 'SilentlyContinue' }[
    step.errorActionPreference ?? 'stop'
  ];
  const exit = step.ignoreLASTEXITCODE
    ? ''
    : '\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }';
  return `$ErrorActionPreference = '${preference}'\n${script}${exit}\n`;
}

/** Where the fleet's injected agent runtime keeps a static busybox (images/ builds it). */
const INJECTED_BUSYBOX = '/slipway/bin/busybox';

/** The run's workspace is already in place: `checkout: self` only says so. */
function checkout(step: StepPlan, c: StepContext): StepOutcome {
  const o = step.checkout ?? {};
  c.out.write(`Sources: the run's workspace, in ${c.dirs.s}\n`);
  const ignored = Object.entries(o).filter(([k]) => k !== 'path');
  if (ignored.length > 0) {
    c.out.write(
      `Options with no effect on an uploaded workspace: ${ignored.map(([k, v]) => `${k}=${v}`).join(', ')}\n`,
    );
  }
  return { result: 'succeeded' };
}

async function publish(step: StepPlan, c: StepContext): Promise<StepOutcome> {
  const { expand } = stepEnvironment(step, c);
  const options = step.publish!;
  const name = expand(options.artifact);
  const problem = artifactNameProblem(c, name);
  if (problem) return { result: 'failed', reason: problem };
  const source = resolveIn(c.dirs.s, expand(options.path));
  if (!(await stat(source).catch(() => undefined)))
    return { result: 'failed', reason: `nothing to publish: ${options.path} does not exist` };
  const { bytes } = await publishArtifact(c, name, source);
  c.out.write(`Published artifact '${name}' (${bytes} bytes) from ${relative(c.dirs.s, source) || '.'}\n`);
  return { result: 'succeeded' };
}

async function download(step: StepPlan, c: StepContext): Promise<StepOutcome> {
  const { expand } = stepEnvironment(step, c);
  const options = step.download!;
  const names = await listArtifacts(c);
  const wanted = options.artifact ? [expand(options.artifact)] : names;
  if (options.artifact && !names.includes(wanted[0]!)) {
    return { result: 'failed', reason: `artifact '${wanted[0]}' has not been published in this run` };
  }
  const patterns = patternList(expand(options.patterns));
  const workspace = c.state.variables['Pipeline.Workspace'] ?? c.dirs.job;
  for (const name of wanted) {
    const target = options.path
      ? resolveIn(workspace, expand(options.path)) + (wanted.length > 1 ? `/${name}` : '')
      : join(workspace, name);
    const { files } = await downloadArtifact(c, name, target, patterns);
    c.out.write(`Downloaded artifact '${name}': ${files} files into ${target}\n`);
  }
  return { result: 'succeeded' };
}

/** `##vso[task.uploadfile]`: the file is kept with the run as an artifact named `<job>.<file>`. */
async function uploadFile(path: string, c: StepContext): Promise<void> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) {
    c.out.write(`##[warning]task.uploadfile: ${path} is not a file; nothing uploaded\n`);
    return;
  }
  const plan = c.spec.plan;
  const name = c.state
    .mask(`${plan.name}.${basename(path)}`)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 100);
  try {
    const archive = await packWorkspace(dirname(path), { files: [basename(path)] });
    await c.client.publishArtifact(c.spec.jobId, name, archive, {
      token: c.spec.leaseToken,
      timeoutMs: 600_000,
    });
    c.out.write(`Uploaded ${path} as artifact '${name}'\n`);
  } catch (err) {
    c.out.write(`##[warning]task.uploadfile: ${path} was not uploaded: ${(err as Error).message}\n`);
  }
}

export function resolveIn(base: string, dir: string): string {
  return isAbsolute(dir) ? dir : resolve(base, dir);
}
