import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../protocol/index.js';
import { RunRenderer } from './render.js';

const log = (text: string, step = 0, jobName = 'build'): RunEvent => ({
  runId: 'r',
  seq: 1,
  at: '2026-01-01T00:00:00.000Z',
  jobId: `j-${jobName}`,
  jobName,
  attempt: 1,
  step,
  kind: 'log',
  data: { text },
});

function render(events: RunEvent[], multiJob = false): string {
  let out = '';
  const renderer = new RunRenderer((s) => {
    out += s;
  }, multiJob);
  for (const e of events) renderer.event(e);
  return out;
}

describe('RunRenderer log lines', () => {
  it('shows each whole line behind the prefix, and a line split across chunks once it ends', () => {
    expect(render([log('one\ntwo\nthr'), log('ee\n')])).toBe('  │ one\n  │ two\n  │ three\n');
  });

  it('puts the job name before each line when jobs run side by side, even one holding a $', () => {
    expect(render([log('a\nb\n', 0, 'x$&y')], true)).toBe('  x$&y │ a\n  x$&y │ b\n');
  });

  it('makes control characters visible and hides logging commands, also among plain lines', () => {
    const text = 'plain\nbell\x07here\n##vso[task.setvariable variable=a]1\n##[group]Build\nlast\n';
    expect(render([log(text)])).toBe('  │ plain\n  │ bell␇here\n  │ ▾ Build\n  │ last\n');
  });
});

describe('RunRenderer log bytes', () => {
  /** The same events with their bytes at hand, as the raw feed gives them. */
  function renderBytes(events: RunEvent[], multiJob = false): { out: string; asBytes: number } {
    let out = '';
    let asBytes = 0;
    const renderer = new RunRenderer(
      (s) => {
        out += s;
      },
      multiJob,
      (b) => {
        asBytes++;
        out += Buffer.from(b).toString('utf8');
      },
    );
    for (const e of events) renderer.event(e, e.kind === 'log' ? Buffer.from(e.data.text) : undefined);
    return { out, asBytes };
  }

  it('shows plain ASCII chunks as bytes, exactly as the text path shows them', () => {
    const events = [log('one\ntwo\nthr'), log('ee\n'), log('a$&b\n', 0, 'x$&y')];
    const shown = renderBytes(events, true);
    expect(shown.out).toBe(render(events, true));
    expect(shown.asBytes).toBe(3);
  });

  it('leaves everything else to the text path: controls, non-ASCII, commands, setup lines, a held-back escape', () => {
    const cases = [
      [log('bell\x07here\n')],
      [log('héllo wörld\n')],
      [log('##[group]Build\nx\n')],
      [log('setup\n', -1)],
      // The escape is held back with its unfinished line; the plain chunk that ends it must not carry it out raw.
      [log('clear\x1b[2J'), log(' screen\n')],
    ];
    for (const events of cases) {
      const shown = renderBytes(events);
      expect(shown.out).toBe(render(events));
      expect(shown.out).not.toContain('\x1b[2J');
    }
  });
});
