/** Covered of total, for one kind of thing (lines, branches). */
export interface CoverageCounter {
  covered: number;
  total: number;
}

export const COVERAGE_TOOLS = ['Cobertura', 'JaCoCo'] as const;
export type CoverageTool = (typeof COVERAGE_TOOLS)[number];

/** What one coverage summary file adds to the job's results (the wire shape is in protocol). */
export interface CoverageSummary {
  tool: CoverageTool;
  /** The summary file, relative to the sources folder when inside it. */
  file: string;
  lines: CoverageCounter;
  branches: CoverageCounter;
  /** The run artifact that keeps the file (and the report directory). */
  artifact?: string;
}

/** `80.0% (8/10)`, or `none` when there is nothing to cover. */
export function formatCounter(c: CoverageCounter): string {
  return c.total === 0 ? 'none' : `${((100 * c.covered) / c.total).toFixed(1)}% (${c.covered}/${c.total})`;
}
