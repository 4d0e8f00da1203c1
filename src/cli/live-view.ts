/**
 * `slipway run` on a terminal: a live view of the run, redrawn in place — each unfinished job
 * with a spinner, its steps and their durations, the last lines it printed, and, while it
 * waits, why. A job that finishes is printed for good above the live area (with the end of its
 * log when it failed), so the scrollback keeps what happened. The model is a pure function of
 * the run's events and the time: `apply` takes an event and answers the lines to keep,
 * `frame` answers the live area at a moment, and `LiveTerminal` only draws them.
 */
import type { TaskResult } from '../pipeline/index.js';
import type { RunEvent } from '../protocol/index.js';
import { assertNever } from '../shared/errors.js';
import { formatDuration, ICON, plain } from './render.js';

/** Braille spinner, one frame every 80 ms. */
export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SPIN_MS = 80;
/** Lines of a running job's log shown under it. */
export const TAIL_LINES = 3;
/** Lines of a failed job's log kept in the scrollback. */
export const FAILED_TAIL_LINES = 10;

interface StepState {
  name: string;
  state: 'running' | 'completed';
  result: TaskResult | null;
  reason: string | null;
  startedAt: number;
  finishedAt: number | null;
}

interface JobState {
  id: string;
  name: string;
  status: 'pending' | 'queued' | 'waiting' | 'running' | 'completed';
  waiting: string | null;
  agent: string | null;
  attempt: number;
  queuedAt: number | null;
  startedAt: number | null;
  steps: Map<number, StepState>;
  /** The last lines it printed, and the line it is printing. */
  tail: string[];
  partial: string;
}

export interface LiveViewOptions {
  /** Show colours (icons); default true. */
  color?: boolean;
}

/** The state of a run as its events tell it, and how it looks. */
export class LiveRunView {
  readonly #jobs = new Map<string, JobState>();
  readonly #color: boolean;

  constructor(options: LiveViewOptions = {}) {
    this.#color = options.color ?? true;
  }

  /** Takes one event; answers the lines to print for good (a job that finished), else none. */
  apply(e: RunEvent): string[] {
    const at = Date.parse(e.at);
    switch (e.kind) {
      case 'run':
        return [];
      case 'job':
        return this.#job(e, at);
      case 'step': {
        const job = this.#jobOf(e);
        if (!job || e.step === null) return [];
        const prev = job.steps.get(e.step);
        job.steps.set(e.step, {
          name: e.data.name,
          state: e.data.status,
          result: e.data.result,
          reason: e.data.reason,
          startedAt: prev?.startedAt ?? at,
          finishedAt: e.data.status === 'completed' ? at : null,
        });
        return [];
      }
      case 'log': {
        const job = this.#jobOf(e);
        if (!job) return [];
        const lines = `${job.partial}${e.data.text}`.split('\n');
        job.partial = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('##[section]') || line.startsWith('##vso[')) continue;
          job.tail.push(plain(line));
        }
        if (job.tail.length > FAILED_TAIL_LINES) job.tail.splice(0, job.tail.length - FAILED_TAIL_LINES);
        return [];
      }
      default:
        return assertNever(e);
    }
  }

  /** The live area at `now`, each line cut to `columns`. */
  frame(now: number, columns = 80): string[] {
    const lines: string[] = [];
    const spinner = SPINNER[Math.floor(now / SPIN_MS) % SPINNER.length]!;
    const fitLine = (indent: number, icon: string, text: string) =>
      `${' '.repeat(indent)}${icon} ${cut(text, columns - indent - 2)}`;
    for (const job of this.#jobs.values()) {
      if (job.status === 'completed') continue;
      if (job.status === 'pending') {
        lines.push(fitLine(0, this.#dim('·'), `${job.name}  pending`));
        continue;
      }
      if (job.status === 'queued' || job.status === 'waiting') {
        const waited = job.queuedAt === null ? '' : `  ${formatDuration(Math.max(0, now - job.queuedAt))}`;
        const why = job.waiting ? ` — ${job.waiting}` : '';
        lines.push(fitLine(0, this.#yellow('⧗'), `${job.name}  waiting${waited}${why}`));
        continue;
      }
      const took = job.startedAt === null ? '' : `  ${formatDuration(Math.max(0, now - job.startedAt))}`;
      const agent = job.agent ? ` on ${job.agent}` : '';
      const attempt = job.attempt > 1 ? `, attempt ${job.attempt}` : '';
      lines.push(fitLine(0, this.#cyan(spinner), `${job.name}  running${took}${agent}${attempt}`));
      for (const step of [...job.steps.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s)) {
        lines.push(fitLine(2, this.#stepIcon(step, spinner), stepText(step, now)));
      }
      for (const line of job.tail.slice(-TAIL_LINES)) lines.push(`    ${this.#dim(cut(line, columns - 4))}`);
    }
    return lines;
  }

  #jobOf(e: RunEvent): JobState | undefined {
    if (e.jobId === null) return undefined;
    let job = this.#jobs.get(e.jobId);
    if (!job) {
      job = {
        id: e.jobId,
        name: plain(e.jobName),
        status: 'pending',
        waiting: null,
        agent: null,
        attempt: e.attempt ?? 0,
        queuedAt: null,
        startedAt: null,
        steps: new Map(),
        tail: [],
        partial: '',
      };
      this.#jobs.set(e.jobId, job);
    }
    return job;
  }

  #job(e: Extract<RunEvent, { kind: 'job' }>, at: number): string[] {
    const job = this.#jobOf(e)!;
    const d = e.data;
    switch (d.status) {
      case 'queued':
        job.status = 'queued';
        job.queuedAt = at;
        job.waiting = d.retry ? `${plain(d.reason)}; queued again` : null;
        if (d.retry) {
          job.steps.clear();
          job.tail = [];
        }
        return [];
      case 'waiting':
        job.status = 'waiting';
        job.queuedAt ??= at;
        job.waiting = plain(d.reason);
        return [];
      case 'running':
        job.status = 'running';
        job.agent = plain(d.agent);
        job.attempt = e.attempt ?? job.attempt;
        job.startedAt = at;
        job.waiting = null;
        return [];
      case 'completed':
        job.status = 'completed';
        return this.#finished(job, d.result, d.reason, at);
      default:
        return assertNever(d);
    }
  }

  /** What stays on screen for a job that finished: its line, its steps, the end of its log if it failed. */
  #finished(job: JobState, result: TaskResult, reason: string | null, at: number): string[] {
    if (job.partial) job.tail.push(plain(job.partial));
    job.partial = '';
    const took = job.startedAt === null ? '' : `  ${formatDuration(Math.max(0, at - job.startedAt))}`;
    const agent = job.agent ? ` on ${job.agent}` : '';
    const why = reason ? ` — ${plain(reason)}` : '';
    const lines = [`${this.#icon(result)} ${job.name}  ${result}${took}${agent}${why}`];
    for (const step of [...job.steps.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s)) {
      lines.push(`  ${this.#stepIcon(step, '?')} ${stepText(step, at)}`);
    }
    if (result === 'failed') for (const line of job.tail) lines.push(`    ${this.#dim(`│ ${line}`)}`);
    return lines;
  }

  #stepIcon(step: StepState, spinner: string): string {
    if (step.state === 'running') return this.#cyan(spinner);
    return step.result ? this.#icon(step.result) : '?';
  }

  #icon(result: TaskResult): string {
    return this.#color ? ICON[result] : PLAIN_ICON[result];
  }
  #dim(s: string): string {
    return this.#color ? `\x1b[2m${s}\x1b[0m` : s;
  }
  #yellow(s: string): string {
    return this.#color ? `\x1b[33m${s}\x1b[0m` : s;
  }
  #cyan(s: string): string {
    return this.#color ? `\x1b[36m${s}\x1b[0m` : s;
  }
}

const PLAIN_ICON: Record<TaskResult, string> = {
  succeeded: '✔',
  succeededWithIssues: '!',
  failed: '✘',
  canceled: '⊘',
  skipped: '-',
};

function stepText(step: StepState, now: number): string {
  const end = step.finishedAt ?? now;
  const why =
    step.reason && step.result !== 'succeeded' && step.state === 'completed'
      ? ` (${plain(step.reason)})`
      : '';
  return `${plain(step.name)}  ${formatDuration(Math.max(0, end - step.startedAt))}${why}`;
}

/** `text` cut to `width` characters (code points), with `…` where it was cut. */
function cut(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= Math.max(1, width)) return text;
  return `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/**
 * Draws a `LiveRunView` on a terminal: lines to keep are written above the live area, which is
 * erased and drawn again on every event and every tick of the spinner.
 */
export class LiveTerminal {
  #drawn = 0;
  #timer?: NodeJS.Timeout;

  constructor(
    private readonly view: LiveRunView,
    private readonly write: (s: string) => void,
    /** The terminal's size now (it may change while the run goes on). */
    private readonly size: () => { columns: number; rows: number },
    private readonly now: () => number = Date.now,
  ) {}

  start(tickMs = 100): void {
    this.#timer = setInterval(() => this.draw(), tickMs);
    this.#timer.unref();
  }

  event(e: RunEvent): void {
    const keep = this.view.apply(e);
    this.draw(keep);
  }

  /** A line of the command's own (reconnecting, canceling), kept above the live area. */
  note(line: string): void {
    this.draw([line]);
  }

  /** Erases the live area and writes `keep` and the area again, in one write (no flicker). */
  draw(keep: string[] = []): void {
    const { columns, rows } = this.size();
    let lines = this.view.frame(this.now(), columns);
    // Taller than the terminal, the area could not be erased: the rest is counted instead.
    const room = Math.max(2, rows - 2);
    if (lines.length > room) lines = [...lines.slice(0, room - 1), `… ${lines.length - room + 1} more lines`];
    // Up to the first line of the last frame, erase from there down, then write.
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}F\x1b[J` : '';
    const text = [...keep, ...lines].map((l) => `${l}\n`).join('');
    this.write(`${up}${text}`);
    this.#drawn = lines.length;
  }

  /** Stops the spinner and leaves the last frame erased, for the summary to follow. */
  stop(): void {
    clearInterval(this.#timer);
    if (this.#drawn > 0) this.write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }
}
