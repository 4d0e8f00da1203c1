import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { sleep } from '../shared/clock.js';

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
  /** Run as this user and group (a host agent's `--job-user`); default: the agent's own. */
  user?: { uid: number; gid: number };
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
      // Node drops the supplementary groups when it switches user.
      ...(o.user && { uid: o.user.uid, gid: o.user.gid }),
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

/** Every group (and session: steps are detached) a step started. */
const processGroups = new Set<number>();

export interface JobProcesses {
  /** The job's id: every step's environment holds `SLIPWAY_JOB_ID=<jobId>`. */
  jobId: string;
  /** The job user's uid: every process of that user is the job's. */
  uid?: number;
}

/** How long the end of a job waits for the processes it killed to be gone. */
const SWEEP_DEADLINE_MS = 10_000;

/**
 * Kills everything a job started, wherever it went: the steps' groups and sessions, every process
 * carrying the job's id in its environment (a `setsid cmd &` escapes the group but keeps that),
 * and — with a job user — every process of that user, which nothing the job does can escape.
 * Each round stops all it finds before killing any, so a forking loop cannot outrun it; rounds
 * repeat until none is left. Resolves with how many processes were killed and how many remain.
 */
export async function killJobProcesses(j: JobProcesses): Promise<{ killed: number; left: number }> {
  for (const pgid of processGroups) killGroup(pgid, 'SIGKILL');
  const killed = new Set<number>();
  const deadline = Date.now() + SWEEP_DEADLINE_MS;
  for (;;) {
    const found = findJobProcesses(j);
    if (found.length === 0 || Date.now() > deadline) {
      processGroups.clear();
      return { killed: killed.size, left: found.length };
    }
    for (const pid of found) signal(pid, 'SIGSTOP');
    for (const pid of found) {
      signal(pid, 'SIGKILL');
      killed.add(pid);
    }
    await sleep(10);
  }
}

function findJobProcesses(j: JobProcesses): number[] {
  const marker = `SLIPWAY_JOB_ID=${j.jobId}`;
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      // After the command's name (which may hold spaces and parentheses): state, ppid, pgrp, session.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // A zombie runs nothing; its parent (or init) reaps it.
      if (state === 'Z' || state === 'X') continue;
      if (processGroups.has(Number(pgrp)) || processGroups.has(Number(session))) {
        found.push(pid);
        continue;
      }
      if (j.uid !== undefined) {
        const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
        if (uids?.split(/\s+/).some((u) => Number(u) === j.uid)) {
          found.push(pid);
          continue;
        }
      }
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (env.startsWith(`${marker}\0`) || env.includes(`\0${marker}\0`)) found.push(pid);
    } catch {
      // Gone meanwhile, or not ours to read (another user's process, without a job user).
    }
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
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
