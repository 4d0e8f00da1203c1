import { isAbsolute, resolve } from 'node:path';
import { findFiles } from './glob.js';
import { quoteFor } from './script-file.js';
import { findOnPath } from './tools/find-tool.js';
import type { TaskContext, TaskOutcome } from './types.js';

/**
 * An argument of a command: text as is, or the value of an environment variable the command
 * gets (a credential: it stays out of the script file and the logged command line).
 */
export type CommandArg = string | { fromEnv: string };

/**
 * An `arguments` input as Azure's tool runner splits it: on white space, double quotes group
 * (and are dropped), a backslash inside quotes escapes a quote or a backslash. The shell never
 * sees the text, so `$(…)`, `;` or `|` from a macro's value stay literal.
 */
export function splitArguments(text: string): string[] {
  const args: string[] = [];
  let arg = '';
  let quoted = false;
  let inQuotes = false;
  let escaped = false;
  for (const c of text) {
    if (escaped) {
      arg += c === '"' || c === '\\' ? c : `\\${c}`;
      escaped = false;
    } else if (c === '\\' && inQuotes) escaped = true;
    else if (c === '"') {
      inQuotes = !inQuotes;
      quoted = true;
    } else if (/\s/.test(c) && !inQuotes) {
      if (arg !== '' || quoted) args.push(arg);
      arg = '';
      quoted = false;
    } else arg += c;
  }
  if (escaped) arg += '\\';
  if (arg !== '' || quoted) args.push(arg);
  return args;
}

/** The bash line that runs `program` with `args`, each quoted; environment arguments as `"$NAME"`. */
export function commandScript(program: string, args: readonly CommandArg[]): string {
  return [program, ...args]
    .map((a) => (typeof a === 'string' ? quoteFor('bash', a) : `"$${a.fromEnv}"`))
    .join(' ');
}

/** The command line as the log shows it: environment arguments by name only. */
export function showCommand(program: string, args: readonly CommandArg[]): string {
  return [program, ...args]
    .map((a) =>
      typeof a !== 'string' ? `$${a.fromEnv}` : /^[\w@%+=:,./-]+$/.test(a) ? a : quoteFor('bash', a),
    )
    .join(' ');
}

/** One program run as a script step would run it (job user, timeout, logging commands, env). */
export interface CommandRun {
  program: string;
  args: readonly CommandArg[];
  /** Absolute, or relative to Build.SourcesDirectory. Default: Build.SourcesDirectory. */
  workingDirectory?: string;
  /** Added to the step's environment (values a `fromEnv` argument reads). */
  env?: Record<string, string>;
  /** Text piped to the program's standard input from an environment variable (`docker login --password-stdin`). */
  stdinFromEnv?: string;
}

/** Where `program` is on the step's PATH, or why it cannot run, ending with how to provide it. */
export function requireProgram(ctx: TaskContext, program: string, hint: string): TaskOutcome | undefined {
  if (findOnPath(program, ctx.env.PATH) !== undefined) return undefined;
  return { result: 'failed', reason: `${program} is not on PATH in this job (${hint})` };
}

/** Runs the command, logging it first; a failure names the command. */
export async function runCommand(ctx: TaskContext, run: CommandRun): Promise<TaskOutcome> {
  ctx.log(`##[command]${showCommand(run.program, run.args)}`);
  const line = commandScript(run.program, run.args);
  const outcome = await ctx.runScript({
    language: 'bash',
    script: run.stdinFromEnv ? `printf '%s' "$${run.stdinFromEnv}" | ${line}` : line,
    ...(run.workingDirectory ? { workingDirectory: run.workingDirectory } : {}),
    ...(run.env ? { env: run.env } : {}),
  });
  if (outcome.result !== 'failed') return outcome;
  const what = [run.program, ...run.args.slice(0, 1).filter((a) => typeof a === 'string')].join(' ');
  return { result: 'failed', reason: `${what} failed: ${outcome.reason ?? 'failed'}` };
}

/** Runs commands one after another, stopping at the first failure. */
export async function runCommands(ctx: TaskContext, runs: readonly CommandRun[]): Promise<TaskOutcome> {
  for (const run of runs) {
    const outcome = await runCommand(ctx, run);
    if (outcome.result === 'failed' || outcome.result === 'canceled') return outcome;
  }
  return { result: 'succeeded' };
}

/**
 * Files matching path patterns of an input (relative ones start at Build.SourcesDirectory,
 * absolute ones may name the staging folder; `!` excludes), searched in the job's workspace.
 */
export async function findInputFiles(ctx: TaskContext, patterns: readonly string[]): Promise<string[]> {
  const absolute = patterns.map((p) => {
    const negated = p.startsWith('!');
    const body = negated ? p.slice(1) : p;
    return `${negated ? '!' : ''}${isAbsolute(body) ? body : resolve(ctx.sourcesDir, body)}`;
  });
  // The sources alone when every pattern is there: the workspace also holds other jobs' outputs.
  const inSources = absolute.every((p) => p.replace(/^!/, '').startsWith(`${ctx.sourcesDir}/`));
  return findFiles(inSources ? ctx.sourcesDir : ctx.workspaceDir, absolute);
}

/** Patterns separated by new lines or `;`, as Azure's file-pattern inputs take them. */
export function patternList(text: string): string[] {
  return text
    .split(/[\r\n;]+/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
}
