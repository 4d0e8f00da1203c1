import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { z } from 'zod';
import { asOperand, missingProgram, shQuote } from './archives/programs.js';
import { inputPath, stagingDir } from './artifact-paths.js';
import { choice, flag, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

/** Azure's archive types Slipway does not make, with why (refused at validation, by name). */
const REFUSED_TYPES: Readonly<Record<string, string>> = {
  '7z': '7-Zip',
  wim: 'Windows Imaging (wim)',
};

const archiveType = z
  .string()
  .optional()
  .transform((v, ctx): 'zip' | 'tar' => {
    const value = (v ?? '').trim().toLowerCase();
    if (value === '' || value === 'zip') return 'zip';
    if (value === 'tar') return 'tar';
    const refused = REFUSED_TYPES[value];
    ctx.addIssue({
      code: 'custom',
      message: refused
        ? `'${v}': ${refused} archives are not supported by Slipway; use zip or tar`
        : `must be zip or tar, found '${v}'`,
    });
    return z.NEVER;
  });

const inputs = z.object({
  /** Default: Build.BinariesDirectory. */
  rootFolderOrFile: text(),
  includeRootFolder: flag(true),
  archiveType,
  /** Accepted and unused: 7z is refused. */
  sevenZipCompression: text(),
  tarCompression: choice(['gz', 'bz2', 'xz', 'none'], 'gz'),
  /** Default: $(Build.ArtifactStagingDirectory)/$(Build.BuildId).zip, as in Azure. */
  archiveFile: text(),
  replaceExistingArchive: flag(true),
  verbose: flag(false),
  quiet: flag(false),
});

const TAR_FLAG = { gz: 'z', bz2: 'j', xz: 'J', none: '' } as const;

/** ArchiveFiles@2: a folder or file into a zip or tar (gz, bz2, xz or none) archive. */
export const archiveFiles: TaskDefinition<typeof inputs> = {
  name: 'ArchiveFiles',
  version: 2,
  summary: "archives a folder or file as zip or tar (gz, bz2, xz) with the image's zip/tar",
  inputs,
  async run(ctx, o) {
    const program = o.archiveType === 'zip' ? 'zip' : 'tar';
    const missing = missingProgram(ctx, program, 'ArchiveFiles@2');
    if (missing) return { result: 'failed', reason: missing };
    const root = inputPath(
      ctx,
      o.rootFolderOrFile || (ctx.variable('Build.BinariesDirectory') ?? ctx.sourcesDir),
    );
    const archive = inputPath(
      ctx,
      o.archiveFile || `${stagingDir(ctx)}/${ctx.variable('Build.BuildId') ?? 'archive'}.zip`,
    );
    await ctx.confine(root);
    await ctx.confine(archive);
    const info = await stat(root).catch(() => undefined);
    if (!info) return { result: 'failed', reason: `rootFolderOrFile ${root} does not exist` };
    // The root folder itself, or what is in it (names as they are, so no `./` prefix in tar).
    const withRoot = o.includeRootFolder || !info.isDirectory();
    const cwd = withRoot ? dirname(root) : root;
    const entries = withRoot ? [basename(root)] : (await readdir(root)).sort();
    if (entries.length === 0) return { result: 'failed', reason: `rootFolderOrFile ${root} is empty` };

    const exists = (await stat(archive).catch(() => undefined)) !== undefined;
    const compressed = o.archiveType === 'tar' && o.tarCompression !== 'none';
    if (exists && !o.replaceExistingArchive && compressed)
      return {
        result: 'failed',
        reason: `${archive} exists and a compressed tar cannot be added to (replaceExistingArchive: false); use tarCompression: none or replace it`,
      };
    if (exists && o.replaceExistingArchive) await rm(archive, { force: true });

    const operands = entries.map(asOperand).join(' ');
    // Links are archived as links (zip -y, tar's default): their targets are not read for the job.
    const command =
      o.archiveType === 'zip'
        ? `zip -r -y${o.quiet ? ' -q' : ''}${o.verbose ? ' -v' : ''} ${shQuote(archive)} ${operands}`
        : `tar -${exists && !o.replaceExistingArchive ? 'r' : 'c'}${TAR_FLAG[o.tarCompression]}${o.verbose ? 'v' : ''}f ${shQuote(archive)} ${operands}`;
    ctx.log(
      `Archiving ${root}${withRoot ? '' : ' (its contents)'} into ${archive}${exists && !o.replaceExistingArchive ? ' (adding to it)' : ''}`,
    );
    // The job's user makes the archive's folder and the archive, so later steps own both.
    const outcome = await ctx.runScript({
      language: 'bash',
      script: `set -e\nmkdir -p ${shQuote(dirname(archive))}\n${command}`,
      workingDirectory: cwd,
    });
    if (outcome.result !== 'succeeded')
      return { result: 'failed', reason: outcome.reason ?? `${program} failed` };
    const size = (await stat(archive).catch(() => undefined))?.size;
    ctx.log(`Created ${archive} (${size ?? 0} bytes)`);
    return { result: 'succeeded' };
  },
};
