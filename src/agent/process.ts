import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunProcessOptions {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  onOutput: (text: string, stream: 'stdout' | 'stderr') => void;
  /** 0: no limit. */
  timeoutMs: number;
  /** Aborted: stop the process (cancellation, job timeout, lease loss). */
  signal: AbortSignal;
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs: number;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** The process could not be started at all (missing interpreter, bad cwd). */
  spawnError?: string;
}

const OUTPUT_DRAIN_MS = 500;

/**
 * Runs one step's process in its own process group, so a stop reaches everything it started:
 * SIGTERM to the group, then SIGKILL after the grace period.
 */
export function runProcess(o: RunProcessOptions): Promise<ProcessOutcome> {
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const child = spawn(o.command, o.args, {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8').on('data', (text: string) => o.onOutput(text, 'stdout'));
    child.stderr.setEncoding('utf8').on('data', (text: string) => o.onOutput(text, 'stderr'));

    const stop = () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), o.killGraceMs);
    };
    const timeout =
      o.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            stop();
          }, o.timeoutMs)
        : undefined;
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener('abort', onAbort, { once: true });

    let spawnError: string | undefined;
    child.on('error', (err) => (spawnError = err.message));
    let settled = false;
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(killTimer);
      o.signal.removeEventListener('abort', onAbort);
      resolve({ exitCode, signal, timedOut, aborted, spawnError });
    };
    child.on('close', finish);
    // A background process the step left behind may hold the output pipes open; the step is
    // over when its own process exits, so stop reading shortly after that.
    child.on('exit', (exitCode, signal) => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(exitCode, signal);
      }, OUTPUT_DRAIN_MS).unref();
    });
    if (child.pid !== undefined) processGroups.add(child.pid);
  });
}

/** Every group a step started; the job's end kills what its steps left running in the background. */
const processGroups = new Set<number>();

export function killLeftoverProcesses(): void {
  for (const pgid of processGroups) killGroup(pgid, 'SIGKILL');
  processGroups.clear();
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is gone already.
  }
}

/** The first of `names` found on PATH, for choosing bash and falling back to sh. */
export function findOnPath(names: string[], path: string | undefined): string | undefined {
  for (const name of names) {
    for (const dir of (path ?? '').split(delimiter)) {
      if (!dir) continue;
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}
