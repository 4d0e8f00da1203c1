import type { RunView } from '../protocol/index.js';
import { visibleTerminalText } from '../shared/terminal-text.js';
import { formatDuration } from './render.js';

/** Names and messages come from result files a job wrote: no control sequence of theirs acts. */
const plain = (s: string) => visibleTerminalText(s, { colors: false });
/** Failures listed under the summary; the API has them all. */
const SHOWN_FAILURES = 20;

/**
 * The run's published test results, after the summary table: totals over every job, one line
 * per test run, then the failures with the first line of their messages. '' when none.
 */
export function testSummary(run: RunView): string {
  const runs = run.jobs.flatMap((j) => (j.testRuns ?? []).map((t) => ({ job: j.name, ...t })));
  if (runs.length === 0) return '';
  const sum = (k: 'total' | 'passed' | 'failed' | 'skipped' | 'durationMs') =>
    runs.reduce((n, t) => n + t[k], 0);
  const lines = [
    `Tests: ${sum('total')} total, ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped in ${formatDuration(sum('durationMs'))}`,
  ];
  for (const t of runs)
    lines.push(
      `  ${plain(t.job)} · ${plain(t.title)}: ${t.total} tests, ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped (${formatDuration(t.durationMs)})`,
    );
  const failures = runs.flatMap((t) => t.failures);
  for (const f of failures.slice(0, SHOWN_FAILURES)) {
    const first = f.message.split('\n')[0]?.trim() ?? '';
    lines.push(`  ✘ ${plain(f.name)}${first ? `: ${plain(first)}` : ''}`);
  }
  if (failures.length > SHOWN_FAILURES) lines.push(`  … ${failures.length - SHOWN_FAILURES} more failures`);
  return `${lines.join('\n')}\n`;
}
