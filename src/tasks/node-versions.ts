import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { findTool, provideHint, useTool } from './tools/find-tool.js';
import { isVersionSpec } from './tools/versions.js';
import type { TaskContext, TaskOutcome } from './types.js';

/** NodeTool@0 and UseNode@1: a Node.js from the tool cache or PATH, first in PATH for later steps. */
export async function selectNode(ctx: TaskContext, spec: string, x86: boolean): Promise<TaskOutcome> {
  const wanted = spec.trim();
  if (!isVersionSpec(wanted))
    return { result: 'failed', reason: `version spec '${wanted}' is not a version spec` };
  const found = await findTool(ctx, {
    label: 'Node.js',
    cacheNames: ['node'],
    spec: wanted,
    arch: x86 ? 'x86' : 'x64',
    binDirs: ['bin'],
    programs: ['node'],
    versionArgs: ['--version'],
    readVersion: (out) => /v?(\d+\.\d+\.\d+)/.exec(out)?.[1],
    hint: provideHint('node', wanted, `node:${wanted.replace(/\.x$/, '')}`),
  });
  if ('failure' in found) return { result: 'failed', reason: found.failure };
  useTool(ctx, 'Node.js', found);
  return { result: 'succeeded' };
}

/** `.nvmrc`-style files: the first line, `v` and `lts/…` aliases as far as they are versions. */
export async function versionFromFile(ctx: TaskContext, file: string): Promise<string | TaskOutcome> {
  const path = resolve(ctx.sourcesDir, file);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return { result: 'failed', reason: `versionFilePath ${file} cannot be read` };
  const first =
    text
      .split(/\r?\n/)
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  return first.replace(/^v/, '');
}
