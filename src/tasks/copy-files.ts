import { copyFile, lstat, mkdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { z } from 'zod';
import { inputPath } from './artifact-paths.js';
import { findFiles } from './glob.js';
import { flag, lines, required, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  SourceFolder: text(),
  Contents: lines('**'),
  TargetFolder: required(),
  CleanTargetFolder: flag(false),
  OverWrite: flag(false),
  flattenFolders: flag(false),
  preserveTimestamp: flag(false),
  retryCount: text(),
  delayBetweenRetries: text(),
  ignoreMakeDirErrors: flag(false),
});

/** CopyFiles@2: files matching `Contents` under `SourceFolder` into `TargetFolder`. */
export const copyFiles: TaskDefinition<typeof inputs> = {
  name: 'CopyFiles',
  version: 2,
  summary: 'copies files matching patterns from one folder to another',
  inputs,
  async run(ctx, o) {
    const source = o.SourceFolder ? inputPath(ctx, o.SourceFolder) : ctx.sourcesDir;
    const target = inputPath(ctx, o.TargetFolder);
    await ctx.confine(source);
    await ctx.confine(target);
    if (!(await stat(source).catch(() => undefined))?.isDirectory())
      return { result: 'failed', reason: `SourceFolder ${source} does not exist` };
    if (o.CleanTargetFolder) await rm(target, { recursive: true, force: true });
    const files = (await findFiles(source, o.Contents)).filter(
      (f) => !(f === target || f.startsWith(`${target}/`)),
    );
    let copied = 0;
    let skipped = 0;
    for (const file of files) {
      const to = join(target, o.flattenFolders ? basename(file) : relative(source, file));
      if (!o.OverWrite && (await lstat(to).catch(() => undefined))) {
        skipped++;
        continue;
      }
      await mkdir(dirname(to), { recursive: true });
      const info = await lstat(file);
      // A link is copied as the link it is: its target is not read for the job.
      if (info.isSymbolicLink()) {
        await rm(to, { force: true });
        await symlink(await readlink(file), to);
      } else {
        await ctx.confine(file);
        await copyFile(file, to);
      }
      copied++;
    }
    await mkdir(target, { recursive: true });
    await ctx.handOver(target);
    ctx.log(
      `Copied ${copied} files from ${source} to ${target}${skipped ? ` (${skipped} already there; OverWrite: false)` : ''}`,
    );
    if (files.length === 0) ctx.warn(`no files match ${o.Contents.join(', ')} in ${source}`);
    return { result: 'succeeded' };
  },
};
