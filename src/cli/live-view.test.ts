import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../protocol/index.js';
import { LiveRunView, LiveTerminal, SPINNER } from './live-view.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
let seq = 0;
const at = (ms: number) => new Date(T0 + ms).toISOString();
const head = (ms: number, job: string | null, step: number | null = null) => ({
  runId: 'run_1',
  seq: ++seq,
  at: at(ms),
  jobId: job && `job_${job}`,
  jobName: job,
  attempt: job ? 1 : null,
  step,
});
const ev = {
  queued: (ms: number, job: string): RunEvent => ({
    ...head(ms, job),
    kind: 'job',
    data: { status: 'queued' },
  }),
  waiting: (ms: number, job: string, reason: string): RunEvent => ({
    ...head(ms, job),
    kind: 'job',
    data: { status: 'waiting', reason },
  }),
  running: (ms: number, job: string, agent: string): RunEvent => ({
    ...head(ms, job),
    kind: 'job',
    data: { status: 'running', agent },
  }),
  done: (
    ms: number,
    job: string,
    result: 'succeeded' | 'failed',
    reason: string | null = null,
  ): RunEvent => ({
    ...head(ms, job),
    kind: 'job',
    data: { status: 'completed', result, reason },
  }),
  step: (
    ms: number,
    job: string,
    i: number,
    name: string,
    result?: 'succeeded' | 'failed',
    reason?: string,
  ) =>
    ({
      ...head(ms, job, i),
      kind: 'step',
      data: {
        status: result ? 'completed' : 'running',
        name,
        result: result ?? null,
        reason: reason ?? null,
      },
    }) as RunEvent,
  log: (ms: number, job: string, text: string): RunEvent => ({
    ...head(ms, job, 0),
    kind: 'log',
    data: { text },
  }),
};

/** Feeds events to a view; answers it and the lines it kept for good. */
function feed(events: RunEvent[]) {
  const view = new LiveRunView({ color: false });
  const kept = events.flatMap((e) => view.apply(e));
  return { view, kept };
}

describe('the live view of slipway run', () => {
  it('shows a waiting job with why and for how long', () => {
    const { view, kept } = feed([
      ev.queued(0, 'build'),
      ev.waiting(0, 'build', "waiting for an agent in pool 'default': 0 idle, 2 busy"),
    ]);
    expect(kept).toEqual([]);
    expect(view.frame(T0 + 12_300)).toEqual([
      "⧗ build  waiting  12.3s — waiting for an agent in pool 'default': 0 idle, 2 busy",
    ]);
  });

  it('shows running jobs with a spinner, their steps with durations, and the last lines they printed', () => {
    const { view } = feed([
      ev.queued(0, 'build'),
      ev.running(100, 'build', 'agent-1'),
      ev.step(200, 'build', 0, 'Checkout'),
      ev.step(400, 'build', 0, 'Checkout', 'succeeded'),
      ev.step(500, 'build', 1, 'Compile'),
      ev.log(600, 'build', 'one\ntwo\nthree\nfour\nhalf a li'),
      ev.queued(0, 'test'),
    ]);
    const frame = view.frame(T0 + 2_100);
    expect(frame).toEqual([
      `${SPINNER[Math.floor((T0 + 2_100) / 80) % SPINNER.length]} build  running  2.0s on agent-1`,
      '  ✔ Checkout  200ms',
      `  ${SPINNER[Math.floor((T0 + 2_100) / 80) % SPINNER.length]} Compile  1.6s`,
      '    two',
      '    three',
      '    four',
      '⧗ test  waiting  2.1s',
    ]);
    // The spinner turns with time; nothing else changes.
    expect(view.frame(T0 + 2_180)[0]).not.toBe(frame[0]);
  });

  it('prints a finished job for good, with the end of its log when it failed, and drops it from the live area', () => {
    const { view, kept } = feed([
      ev.queued(0, 'test'),
      ev.running(0, 'test', 'agent-1'),
      ev.step(0, 'test', 0, 'Test it'),
      ev.log(10, 'test', 'assertion failed: 1 != 2\n##[section]Finishing: Test it\nno newline'),
      ev.step(1_500, 'test', 0, 'Test it', 'failed', 'exit code 3'),
      ev.done(1_600, 'test', 'failed', 'a step failed'),
    ]);
    expect(kept).toEqual([
      '✘ test  failed  1.6s on agent-1 — a step failed',
      '  ✘ Test it  1.5s (exit code 3)',
      '    │ assertion failed: 1 != 2',
      '    │ no newline',
    ]);
    expect(view.frame(T0 + 5_000)).toEqual([]);
  });

  it('cuts long lines to the terminal width and never lets job text act on the terminal', () => {
    const { view } = feed([ev.queued(0, 'evil\x1b[2J'), ev.waiting(0, 'evil\x1b[2J', 'x'.repeat(200))]);
    const [line] = view.frame(T0, 40);
    expect([...line!].length).toBe(40);
    expect(line!.endsWith('…')).toBe(true);
    expect(line).not.toContain('\x1b');
  });

  it('redraws the live area in place: up over the last frame, erase, write', () => {
    const writes: string[] = [];
    const view = new LiveRunView({ color: false });
    const terminal = new LiveTerminal(
      view,
      (s) => writes.push(s),
      () => ({ columns: 80, rows: 24 }),
      () => T0,
    );
    terminal.event(ev.queued(0, 'a'));
    terminal.event(ev.queued(0, 'b'));
    terminal.note('connection lost; reconnecting…');
    terminal.stop();
    expect(writes).toEqual([
      '⧗ a  waiting  0ms\n',
      '\x1b[1F\x1b[J⧗ a  waiting  0ms\n⧗ b  waiting  0ms\n',
      '\x1b[2F\x1b[Jconnection lost; reconnecting…\n⧗ a  waiting  0ms\n⧗ b  waiting  0ms\n',
      '\x1b[2F\x1b[J',
    ]);
  });
});
