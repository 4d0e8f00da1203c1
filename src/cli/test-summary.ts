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

/** `80.0% (8/10)`; `none` when there is nothing to cover. */
function rate(c: { covered: number; total: number }): string {
  return c.total === 0 ? 'none' : `${((100 * c.covered) / c.total).toFixed(1)}% (${c.covered}/${c.total})`;
}

/**
 * The run's coverage summaries (PublishCodeCoverageResults): one line each with lines and
 * branches covered, and the artifact that keeps the file. '' when none.
 */
export function coverageSummary(run: RunView): string {
  const all = run.jobs.flatMap((j) => (j.coverage ?? []).map((c) => ({ job: j.name, ...c })));
  if (all.length === 0) return '';
  const lines = ['Coverage:'];
  for (const c of all)
    lines.push(
      `  ${plain(c.job)} · ${plain(c.file)} (${c.tool}): lines ${rate(c.lines)}, branches ${rate(c.branches)}${c.artifact ? ` · artifact ${plain(c.artifact)}` : ''}`,
    );
  return `${lines.join('\n')}\n`;
}
