import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { findFiles } from './glob.js';
import { choice, flag, lines, text } from './inputs.js';
import { parseResults, TEST_FORMATS, type TestFormat } from './test-results/formats.js';
import { summarize, type TestCaseResult, type TestRunSummary } from './test-results/summary.js';
import type { TaskContext, TaskDefinition, TaskOutcome } from './types.js';

const inputs = z.object({
  testResultsFormat: choice(TEST_FORMATS, 'JUnit'),
  testResultsFiles: lines('**/TEST-*.xml'),
  /** Default: Build.SourcesDirectory (System.DefaultWorkingDirectory). */
  searchFolder: text(),
  mergeTestResults: flag(false),
  failTaskOnFailedTests: flag(false),
  failTaskOnFailedTestsThreshold: text(),
  failTaskOnMissingResultsFile: flag(false),
  testRunTitle: text(),
  buildPlatform: text(),
  buildConfiguration: text(),
  publishRunAttachments: flag(true),
});

/** PublishTestResults@2: JUnit, NUnit 2 and 3, xUnit 2 and VSTest (TRX) results into the run's summary. */
export const publishTestResults: TaskDefinition<typeof inputs> = {
  name: 'PublishTestResults',
  version: 2,
  summary: 'reads JUnit, NUnit 2/3, xUnit 2 and VSTest (TRX) result files into the run summary',
  inputs,
  aliases: {
    testRunner: 'testResultsFormat',
    platform: 'buildPlatform',
    configuration: 'buildConfiguration',
  },
  async run(ctx, o) {
    const folder = o.searchFolder ? resolve(ctx.sourcesDir, o.searchFolder) : ctx.sourcesDir;
    const files = await findFiles(folder, o.testResultsFiles);
    if (files.length === 0) {
      const missing = `no test result files match ${o.testResultsFiles.join(', ')} in ${folder}`;
      if (o.failTaskOnMissingResultsFile) return { result: 'failed', reason: missing };
      ctx.warn(missing);
      return { result: 'succeeded' };
    }
    const shown = (file: string) => {
      const rel = relative(ctx.sourcesDir, file);
      return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
    };
    const read: Array<{ file: string; cases: TestCaseResult[]; durationMs?: number }> = [];
    let unreadable = 0;
    for (const file of files) {
      try {
        await ctx.confine(file);
        const parsed = parseResults(o.testResultsFormat, await readFile(file, 'utf8'));
        read.push({ file: shown(file), ...parsed });
      } catch (err) {
        unreadable++;
        ctx.warn(
          `${shown(file)} is not a readable ${o.testResultsFormat} result file: ${(err as Error).message}`,
        );
      }
    }
    const runs = o.mergeTestResults
      ? read.length === 0
        ? []
        : [
            summarize(
              o.testRunTitle || `${o.testResultsFormat} test results`,
              o.testResultsFormat,
              read.map((r) => r.file),
              read.flatMap((r) => r.cases),
              sumDurations(read),
            ),
          ]
      : read.map((r) =>
          summarize(
            o.testRunTitle ? (read.length > 1 ? `${o.testRunTitle} (${r.file})` : o.testRunTitle) : r.file,
            o.testResultsFormat,
            [r.file],
            r.cases,
            r.durationMs,
          ),
        );
    for (const run of runs) report(ctx, run);
    return outcome(o.failTaskOnFailedTests, runs, unreadable, o.testResultsFormat);
  },
};

function sumDurations(read: Array<{ durationMs?: number; cases: TestCaseResult[] }>): number {
  return read.reduce((sum, r) => sum + (r.durationMs ?? r.cases.reduce((s, c) => s + c.durationMs, 0)), 0);
}

function report(ctx: TaskContext, run: TestRunSummary): void {
  ctx.reportTests(run);
  ctx.log(
    `Test run '${run.title}': ${run.total} tests, ${run.passed} passed, ${run.failed} failed, ` +
      `${run.skipped} skipped in ${(run.durationMs / 1000).toFixed(1)}s`,
  );
  for (const f of run.failures)
    ctx.log(`  failed: ${f.name}${f.message ? ` — ${f.message.split('\n')[0]}` : ''}`);
}

function outcome(
  failOnFailed: boolean,
  runs: TestRunSummary[],
  unreadable: number,
  format: TestFormat,
): TaskOutcome {
  const failed = runs.reduce((n, r) => n + r.failed, 0);
  if (failOnFailed && failed > 0)
    return {
      result: 'failed',
      reason: `${failed} ${failed === 1 ? 'test' : 'tests'} failed (failTaskOnFailedTests)`,
    };
  if (unreadable > 0)
    return {
      result: 'succeededWithIssues',
      reason: `${unreadable} ${unreadable === 1 ? 'file was' : 'files were'} not readable as ${format}`,
    };
  return { result: 'succeeded' };
}
