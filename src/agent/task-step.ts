import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { StepPlan } from '../pipeline/index.js';
import { runTask, type TaskContext } from '../tasks/index.js';
import { downloadArtifact, listArtifacts, publishArtifact } from './artifacts.js';
import { chownTree } from './job-user.js';
import { runProcess } from './process.js';
import type { runScript, StepContext, StepOutcome, stepEnvironment } from './step-runner.js';

/** The real path of `path`, or of its nearest existing parent with the rest appended. */
async function realpathOfExisting(path: string): Promise<string> {
  const rest: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    const real = await realpath(p).catch(() => undefined);
    if (real !== undefined) return join(real, ...rest.reverse());
    if (dirname(p) === p) return resolve(path);
    rest.push(basename(p));
  }
}

/** A `task:` step: the task from the registry, on the same context script steps have. */
export async function runTaskStep(
  step: StepPlan,
  c: StepContext,
  scripts: { runScript: typeof runScript; stepEnvironment: typeof stepEnvironment },
): Promise<StepOutcome> {
  const { runScript, stepEnvironment } = scripts;
  const call = step.task;
  if (call === undefined) return { result: 'failed', reason: 'a task step without its task' };
  const { env, expand } = stepEnvironment(step, c);
  const { state } = c;
  const ctx: TaskContext = {
    sourcesDir: c.dirs.s,
    tempDir: c.dirs.tmp,
    workspaceDir: state.variables['Pipeline.Workspace'] ?? c.dirs.job,
    variable: (name) => {
      const key = Object.keys(state.variables).find((k) => k.toLowerCase() === name.toLowerCase());
      return key === undefined ? undefined : state.variables[key];
    },
    secret: (name) => {
      const secrets: Record<string, string> = { ...c.spec.secrets, ...state.secretVariables };
      const key = Object.keys(secrets).find((k) => k.toLowerCase() === name.toLowerCase());
      return key === undefined ? undefined : secrets[key];
    },
    env,
    log: (line) => c.out.write(`${line}\n`),
    warn: (message) => c.out.write(`##[warning]${message}\n`),
    error: (message) => c.out.write(`##[error]${message}\n`),
    setVariable: (name, value, options) => {
      if (state.readOnly.has(name.toLowerCase())) {
        c.out.write(`##[warning]variable '${name}' is read-only; not changed\n`);
        return;
      }
      if (options?.secret) {
        state.addSecret(value);
        state.secretVariables[name] = value;
      } else state.variables[name] = value;
    },
    prependPath: (dir) => {
      state.pathPrefixes.unshift(dir);
    },
    artifacts: {
      publish: (name, path) => publishArtifact(c, name, path),
      list: () => listArtifacts(c),
      download: (name, target, patterns) => downloadArtifact(c, name, target, patterns),
    },
    reportTests: (run) => {
      state.testRuns.push(run);
    },
    reportCoverage: (summary) => {
      state.coverage.push(summary);
    },
    capture: async (command, args) => {
      let output = '';
      const res = await runProcess({
        command,
        args,
        cwd: c.dirs.s,
        env,
        onOutput: (text) => {
          if (output.length < 64 * 1024) output += text;
        },
        timeoutMs: 30_000,
        signal: c.stop,
        killGraceMs: c.killGraceMs,
        user: c.jobUser,
      });
      return res.spawnError
        ? { exitCode: null, output, error: res.spawnError }
        : { exitCode: res.exitCode, output };
    },
    confine: async (path) => {
      if (!c.jobUser) return;
      const real = await realpathOfExisting(path);
      const root = await realpath(c.dirs.job);
      if (real !== root && !real.startsWith(`${root}/`))
        throw new Error(
          `${path} is outside the job's folder ${c.dirs.job}, which tasks may not reach for a job user`,
        );
    },
    handOver: async (path) => {
      if (c.jobUser) await chownTree(path, c.jobUser);
    },
    runScript: (run) => {
      const script: StepPlan = {
        ...step,
        kind: run.language,
        script: run.script,
        env: { ...step.env, ...run.env },
        task: undefined,
        workingDirectory: run.workingDirectory,
        failOnStderr: run.failOnStderr,
        errorActionPreference: run.errorActionPreference,
        ignoreLASTEXITCODE: run.ignoreLASTEXITCODE,
      };
      return runScript(script, c, run.language, true);
    },
    signal: c.stop,
  };
  return runTask(call, ctx, expand);
}
