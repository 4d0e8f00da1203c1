import type { z } from 'zod';
import type { TaskResult } from '../pipeline/index.js';
import type { CoverageSummary } from './coverage/summary.js';
import type { TestRunSummary } from './test-results/summary.js';

/** What a task's run ends with, as a script step's. */
export interface TaskOutcome {
  result: TaskResult;
  reason?: string;
}

/** A script run the way `script:`/`bash:`/`pwsh:` steps run (logging commands, timeouts, job user). */
export interface ScriptRun {
  language: 'bash' | 'pwsh';
  script: string;
  /** Absolute, or relative to Build.SourcesDirectory. Default: Build.SourcesDirectory. */
  workingDirectory?: string;
  failOnStderr?: boolean;
  /** pwsh only. */
  errorActionPreference?: 'stop' | 'continue' | 'silentlyContinue';
  ignoreLASTEXITCODE?: boolean;
  /** Added to the step's environment. */
  env?: Record<string, string>;
}

/** Run-scoped pipeline artifacts, on the coordinator's artifact store. */
export interface ArtifactAccess {
  /** Publishes a file (as itself) or a folder (its contents) under `name`. */
  publish(name: string, path: string): Promise<{ bytes: number }>;
  /** The names of this run's artifacts published so far. */
  list(): Promise<string[]>;
  /** Unpacks artifact `name` into `target`, keeping only files that match `patterns` (globs, `!` excludes). */
  download(name: string, target: string, patterns: string[]): Promise<{ files: number }>;
}

/**
 * What a task gets: the same step context scripts have. Paths it is given are absolute;
 * relative paths in inputs start at `sourcesDir`, as in Azure.
 */
export interface TaskContext {
  /** Build.SourcesDirectory. */
  sourcesDir: string;
  /** Agent.TempDirectory. */
  tempDir: string;
  /** Pipeline.Workspace (Agent.BuildDirectory). */
  workspaceDir: string;
  /** A variable's value as later macros see it (predefined, pipeline, set by earlier steps). */
  variable(name: string): string | undefined;
  /**
   * A secret variable's value (a run or repository secret, or one an earlier step set as
   * secret); undefined when there is none of that name or it is not secret. Credentials are
   * read only this way, so a task never takes a password from a plain variable.
   */
  secret(name: string): string | undefined;
  /** The environment a script of this step would get (PATH with prepended folders). */
  env: Readonly<Record<string, string>>;
  /** A line for the step's log (a newline is added). */
  log(line: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Sets a variable for later steps (a secret is masked from now on and kept out of the environment). */
  setVariable(name: string, value: string, options?: { secret?: boolean }): void;
  /** Puts a folder in front of PATH for later steps. */
  prependPath(dir: string): void;
  artifacts: ArtifactAccess;
  /** Adds a test run to the job's results (shown in the run summary, the CLI and the API). */
  reportTests(run: TestRunSummary): void;
  /** Adds a coverage summary to the job's results (shown like test runs). */
  reportCoverage(summary: CoverageSummary): void;
  /**
   * Runs a program as the job's user (a tool's `--version`), its output captured, not logged.
   * Fails (exitCode null, `error`) when it cannot start. At most 30 s.
   */
  capture(
    command: string,
    args: string[],
  ): Promise<{ exitCode: number | null; output: string; error?: string }>;
  /**
   * Throws unless the task may read or write `path` on the job's behalf: with a job user (the
   * agent runs as another, more privileged one), only inside the job's folder, symbolic links
   * resolved. Without one the job could reach it anyway, so anything goes.
   */
  confine(path: string): Promise<void>;
  /** Gives what the task wrote at `path` to the job's user, so later steps can change it. */
  handOver(path: string): Promise<void>;
  /** Runs a script as a script step would, with its output in this step's log. */
  runScript(run: ScriptRun): Promise<TaskOutcome>;
  /** Aborted when the job is canceled or times out. */
  signal: AbortSignal;
}

/**
 * One task: its name and major version, its inputs (a zod object over Azure's input names,
 * every value arriving as text), Azure's aliases for them, and what it does.
 */
export interface TaskDefinition<S extends z.ZodObject = z.ZodObject> {
  name: string;
  version: number;
  /** One line for the README's list and `slipway validate`. */
  summary: string;
  inputs: S;
  /** Alias → input name, as Azure's task.json declares them. */
  aliases?: Readonly<Record<string, string>>;
  run(ctx: TaskContext, inputs: z.infer<S>): Promise<TaskOutcome>;
}

/** A definition with its input type erased, for the registry (`run` is a method: bivariant). */
export type AnyTask = TaskDefinition<z.ZodObject>;
