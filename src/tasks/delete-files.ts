import { rm, rmdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { inputPath } from './artifact-paths.js';
import { findFiles } from './glob.js';
import { flag, lines, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  SourceFolder: text(),
  Contents: lines('myFileShare'),
  RemoveSourceFolder: flag(false),
  RemoveDotFiles: flag(false),
});

/** DeleteFiles@1: files matching `Contents` under `SourceFolder`, then empty folders they leave. */
export const deleteFiles: TaskDefinition<typeof inputs> = {
  name: 'DeleteFiles',
  version: 1,
  summary: 'deletes files (and the folders they leave empty) matching patterns',
  inputs,
  async run(ctx, o) {
    const source = o.SourceFolder ? inputPath(ctx, o.SourceFolder) : ctx.sourcesDir;
    await ctx.confine(source);
    if (!(await stat(source).catch(() => undefined))?.isDirectory()) {
      ctx.log(`${source} does not exist; nothing to delete`);
      return { result: 'succeeded' };
    }
    // A pattern naming a folder (`bin`) deletes what is in it, as Azure's does.
    const patterns = o.Contents.flatMap((p) =>
      p.startsWith('!') || /[*?[{]/.test(p) ? [p] : [p, `${p}/**`],
    );
    const files = (await findFiles(source, patterns)).filter(
      (f) =>
        o.RemoveDotFiles ||
        !f
          .slice(source.length + 1)
          .split('/')
          .some((s) => s.startsWith('.')),
    );
    const folders = new Set<string>();
    for (const file of files) {
      await rm(file, { force: true });
      for (let d = dirname(file); d.startsWith(`${source}/`); d = dirname(d)) folders.add(d);
    }
    for (const d of [...folders].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => undefined);
    if (o.RemoveSourceFolder) await rm(source, { recursive: true, force: true });
    ctx.log(
      `Deleted ${files.length} files under ${source}${o.RemoveSourceFolder ? ', and the folder itself' : ''}`,
    );
    return { result: 'succeeded' };
  },
};
