import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { parseCoverage } from './coverage/formats.js';
import {
  COVERAGE_TOOLS,
  type CoverageSummary,
  type CoverageTool,
  formatCounter,
} from './coverage/summary.js';
import { findFilesAnywhere } from './glob.js';
import { choice, flag, lines, required, text } from './inputs.js';
import type { TaskContext, TaskDefinition, TaskOutcome } from './types.js';

const common = {
  summaryFileLocation: required().transform((v) =>
    v
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== ''),
  ),
  /** Accepted: the summary's source paths are shown as written. */
  pathToSources: text(),
  /** A generated HTML report (ReportGenerator, JaCoCo's `html`), kept in the artifact under `report/`. */
  reportDirectory: text(),
  additionalCodeCoverageFiles: lines(''),
  failIfCoverageEmpty: flag(false),
};

const inputs1 = z.object({ codeCoverageTool: choice(COVERAGE_TOOLS, 'JaCoCo'), ...common });
// @2 tells the format by the file, as Azure's does; a codeCoverageTool left over from @1 is checked.
const inputs2 = z.object({
  codeCoverageTool: z
    .string()
    .optional()
    .transform((v, ctx): CoverageTool | undefined => {
      const value = (v ?? '').trim();
      if (value === '') return undefined;
      const found = COVERAGE_TOOLS.find((t) => t.toLowerCase() === value.toLowerCase());
      if (found) return found;
      ctx.addIssue({ code: 'custom', message: `must be one of ${COVERAGE_TOOLS.join(', ')}, found '${v}'` });
      return z.NEVER;
    }),
  ...common,
});

type Options = z.infer<typeof inputs1> | z.infer<typeof inputs2>;

/** A name no other publish of this run has: `coverage-<job>`, then `-2`, `-3`, … */
async function artifactName(ctx: TaskContext): Promise<string> {
  const job = (ctx.variable('System.JobName') ?? 'job').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80);
  const taken = new Set(await ctx.artifacts.list());
  let name = `coverage-${job}`;
  for (let n = 2; taken.has(name); n++) name = `coverage-${job}-${n}`;
  return name;
}

/** The summary files, the additional files and the report folder, in one folder to publish. */
async function gather(ctx: TaskContext, files: string[], reportDir: string | undefined): Promise<string> {
  const folder = await mkdtemp(join(ctx.tempDir, 'coverage-'));
  const used = new Set<string>();
  for (const file of files) {
    let name = basename(file);
    for (let n = 2; used.has(name); n++) name = `${n}-${basename(file)}`;
    used.add(name);
    await cp(file, join(folder, name));
  }
  if (reportDir) await cp(reportDir, join(folder, 'report'), { recursive: true, verbatimSymlinks: true });
  return folder;
}

async function run(ctx: TaskContext, o: Options, task: string): Promise<TaskOutcome> {
  const files = await findFilesAnywhere(ctx.sourcesDir, o.summaryFileLocation);
  const shown = (file: string) => {
    const rel = relative(ctx.sourcesDir, file);
    return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
  };
  const read: CoverageSummary[] = [];
  let unreadable = 0;
  for (const file of files) {
    try {
      await ctx.confine(file);
      const parsed = parseCoverage(o.codeCoverageTool, await readFile(file, 'utf8'));
      read.push({ file: shown(file), ...parsed });
    } catch (err) {
      unreadable++;
      ctx.warn(
        `${shown(file)} is not a readable ${o.codeCoverageTool ?? 'Cobertura or JaCoCo'} coverage summary: ${(err as Error).message}`,
      );
    }
  }
  if (read.length === 0) {
    const missing =
      files.length === 0
        ? `no coverage summary matches ${o.summaryFileLocation.join(', ')}`
        : 'no coverage summary could be read';
    if (o.failIfCoverageEmpty) return { result: 'failed', reason: `${missing} (failIfCoverageEmpty)` };
    ctx.warn(missing);
    return unreadable > 0 ? { result: 'succeededWithIssues', reason: missing } : { result: 'succeeded' };
  }

  let reportDir: string | undefined;
  if (o.reportDirectory) {
    reportDir = resolve(ctx.sourcesDir, o.reportDirectory);
    await ctx.confine(reportDir);
    if (!(await stat(reportDir).catch(() => undefined))?.isDirectory()) {
      ctx.warn(`reportDirectory ${reportDir} does not exist; the artifact keeps the summary alone`);
      reportDir = undefined;
    }
  }
  const extra = o.additionalCodeCoverageFiles.length
    ? await findFilesAnywhere(ctx.sourcesDir, o.additionalCodeCoverageFiles)
    : [];
  for (const f of extra) await ctx.confine(f);
  const readFiles = files.filter((f) => read.some((r) => r.file === shown(f)));
  const folder = await gather(ctx, [...readFiles, ...extra], reportDir);
  const name = await artifactName(ctx);
  try {
    const { bytes } = await ctx.artifacts.publish(name, folder);
    ctx.log(
      `Published artifact '${name}' (${bytes} bytes): the coverage summary${reportDir ? ' and report' : ''}`,
    );
  } finally {
    await rm(folder, { recursive: true, force: true });
  }

  let empty = true;
  for (const summary of read) {
    const kept = { ...summary, artifact: name };
    ctx.reportCoverage(kept);
    if (summary.lines.total > 0) empty = false;
    ctx.log(
      `Coverage (${summary.tool}) ${summary.file}: lines ${formatCounter(summary.lines)}, branches ${formatCounter(summary.branches)}`,
    );
  }
  if (empty && o.failIfCoverageEmpty)
    return { result: 'failed', reason: 'the coverage summaries cover no lines (failIfCoverageEmpty)' };
  if (unreadable > 0)
    return {
      result: 'succeededWithIssues',
      reason: `${unreadable} ${unreadable === 1 ? 'file was' : 'files were'} not readable as coverage summaries (${task})`,
    };
  return { result: 'succeeded' };
}

/** PublishCodeCoverageResults@1: a Cobertura or JaCoCo summary into the run's views, kept as an artifact. */
export const publishCodeCoverageResults1: TaskDefinition<typeof inputs1> = {
  name: 'PublishCodeCoverageResults',
  version: 1,
  summary: 'shows a Cobertura or JaCoCo summary (lines, branches) in the run and keeps it as an artifact',
  inputs: inputs1,
  run: (ctx, o) => run(ctx, o, 'PublishCodeCoverageResults@1'),
};

/** PublishCodeCoverageResults@2: the same, the format told by the file. */
export const publishCodeCoverageResults2: TaskDefinition<typeof inputs2> = {
  name: 'PublishCodeCoverageResults',
  version: 2,
  summary: 'shows Cobertura or JaCoCo summaries (told by the file) in the run and keeps them as an artifact',
  inputs: inputs2,
  run: (ctx, o) => run(ctx, o, 'PublishCodeCoverageResults@2'),
};
