/** One test as a result file reports it. */
export interface TestCaseResult {
  name: string;
  outcome: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** The failure (or skip) message, when the file gives one. */
  message?: string;
  stackTrace?: string;
}

/** What one published test run adds to the job's results (the wire shape is in protocol). */
export interface TestRunSummary {
  title: string;
  /** JUnit, NUnit, VSTest or XUnit. */
  format: string;
  /** The result files read, relative to the sources folder when inside it. */
  files: string[];
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  durationMs: number;
  /** Failed tests with their messages, the first MAX_FAILURES of them. */
  failures: Array<{ name: string; message: string }>;
}

/** Failures listed per run; the counts stay exact. */
export const MAX_FAILURES = 50;
/** Characters kept of one failure message. */
export const MAX_MESSAGE = 2000;

export function summarize(
  title: string,
  format: string,
  files: string[],
  cases: readonly TestCaseResult[],
  durationMs?: number,
): TestRunSummary {
  const count = (o: TestCaseResult['outcome']) => cases.filter((c) => c.outcome === o).length;
  const failures = cases
    .filter((c) => c.outcome === 'failed')
    .slice(0, MAX_FAILURES)
    .map((c) => ({ name: c.name, message: (c.message ?? '').trim().slice(0, MAX_MESSAGE) }));
  return {
    title,
    format,
    files,
    total: cases.length,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    durationMs: Math.round(durationMs ?? cases.reduce((sum, c) => sum + c.durationMs, 0)),
    failures,
  };
}
