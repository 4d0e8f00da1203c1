import { join, resolve } from 'node:path';
import type { TaskContext, TaskOutcome } from './types.js';

/** Build.ArtifactStagingDirectory: where Azure's artifact tasks read from by default. */
export function stagingDir(ctx: TaskContext): string {
  return ctx.variable('Build.ArtifactStagingDirectory') ?? join(ctx.workspaceDir, 'a');
}

/** A path input: absolute, or relative to `base` (Build.SourcesDirectory unless said). */
export function inputPath(ctx: TaskContext, value: string, base = ctx.sourcesDir): string {
  return resolve(base, value);
}

/** Publishes and logs; the outcome of the step. */
export async function publishAs(ctx: TaskContext, name: string, path: string): Promise<TaskOutcome> {
  const { bytes } = await ctx.artifacts.publish(name, path);
  ctx.log(`Published artifact '${name}' (${bytes} bytes) from ${path}`);
  return { result: 'succeeded' };
}

/**
 * Downloads `name` (or, when empty, every artifact of the run into a folder of its name) into
 * `target`, keeping what `patterns` match.
 */
export async function downloadInto(
  ctx: TaskContext,
  name: string,
  target: string,
  patterns: (artifact: string) => string[],
  perArtifactFolder: boolean,
): Promise<TaskOutcome> {
  const published = await ctx.artifacts.list();
  if (name && !published.includes(name))
    return { result: 'failed', reason: `artifact '${name}' has not been published in this run` };
  const names = name ? [name] : published;
  if (names.length === 0) ctx.warn('no artifacts have been published in this run yet');
  for (const n of names) {
    const into = perArtifactFolder || !name ? join(target, n) : target;
    const { files } = await ctx.artifacts.download(n, into, patterns(n));
    ctx.log(`Downloaded artifact '${n}': ${files} files into ${into}`);
  }
  return { result: 'succeeded' };
}
