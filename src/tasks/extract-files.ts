import { rm } from 'node:fs/promises';
import { basename, isAbsolute, relative } from 'node:path';
import { z } from 'zod';
import { missingProgram, shQuote } from './archives/programs.js';
import { inputPath } from './artifact-paths.js';
import { findFilesAnywhere } from './glob.js';
import { flag, lines, required, text } from './inputs.js';
import type { TaskContext, TaskDefinition } from './types.js';

const inputs = z.object({
  archiveFilePatterns: lines('**/*.zip'),
  destinationFolder: required(),
  cleanDestinationFolder: flag(true),
  overwriteExistingFiles: flag(false),
  /** Accepted and unused: Slipway does not run 7-Zip. */
  pathToSevenZipTool: text(),
});

/** How an archive is unpacked, by its name, as Azure's task decides on Linux. */
export function archiveKind(file: string): 'zip' | 'tar' | undefined {
  const name = basename(file).toLowerCase();
  if (/\.(zip|jar|war|ear)$/.test(name)) return 'zip';
  if (/\.(tar|tar\.gz|tgz|taz|tar\.bz2|tbz2|tbz|tar\.xz|txz)$/.test(name)) return 'tar';
  return undefined;
}

/** GNU tar skips files already there with --skip-old-files; others (busybox) know only -k. */
async function tarKeepFlag(ctx: TaskContext): Promise<string> {
  const { output } = await ctx.capture('tar', ['--version']);
  return output.includes('GNU tar') ? '--skip-old-files' : '-k';
}

/** ExtractFiles@1: zip, jar and tar (gz, bz2, xz) archives into a folder, with the image's unzip/tar. */
export const extractFiles: TaskDefinition<typeof inputs> = {
  name: 'ExtractFiles',
  version: 1,
  summary: "extracts zip/jar/war/ear and tar (gz, bz2, xz) archives with the image's unzip/tar",
  inputs,
  async run(ctx, o) {
    const archives = await findFilesAnywhere(ctx.sourcesDir, o.archiveFilePatterns);
    if (archives.length === 0)
      return {
        result: 'failed',
        reason: `no archives match ${o.archiveFilePatterns.join(', ')} in ${ctx.sourcesDir}`,
      };
    const shown = (file: string) => {
      const rel = relative(ctx.sourcesDir, file);
      return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
    };
    const unknown = archives.filter((a) => archiveKind(a) === undefined);
    if (unknown.length > 0)
      return {
        result: 'failed',
        reason: `${unknown.map(shown).join(', ')}: not a zip, jar, war, ear or tar archive by its name; Slipway does not run 7-Zip (7z, rar, wim, a lone .gz)`,
      };
    const kinds = new Set(archives.map(archiveKind));
    for (const program of [kinds.has('zip') ? 'unzip' : '', kinds.has('tar') ? 'tar' : ''].filter(Boolean)) {
      const missing = missingProgram(ctx, program, 'ExtractFiles@1');
      if (missing) return { result: 'failed', reason: missing };
    }
    const destination = inputPath(ctx, o.destinationFolder);
    await ctx.confine(destination);
    for (const a of archives) await ctx.confine(a);
    if (o.cleanDestinationFolder) await rm(destination, { recursive: true, force: true });
    const keep = kinds.has('tar') && !o.overwriteExistingFiles ? await tarKeepFlag(ctx) : '';
    const dest = shQuote(destination);
    const commands = archives.map((a) =>
      archiveKind(a) === 'zip'
        ? `unzip -q ${o.overwriteExistingFiles ? '-o' : '-n'} ${shQuote(a)} -d ${dest}`
        : `tar -x${keep ? ` ${keep}` : ''} -f ${shQuote(a)} -C ${dest}`,
    );
    for (const a of archives) ctx.log(`Extracting ${shown(a)} into ${destination}`);
    // The job's user unpacks, so what comes out is its own and a crafted archive reaches no further.
    const outcome = await ctx.runScript({
      language: 'bash',
      script: ['set -e', `mkdir -p ${dest}`, ...commands].join('\n'),
    });
    if (outcome.result !== 'succeeded')
      return { result: 'failed', reason: outcome.reason ?? 'extracting failed' };
    ctx.log(
      `Extracted ${archives.length} ${archives.length === 1 ? 'archive' : 'archives'} into ${destination}`,
    );
    return { result: 'succeeded' };
  },
};
