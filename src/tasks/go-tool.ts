import { resolve } from 'node:path';
import { z } from 'zod';
import { text } from './inputs.js';
import { findTool, provideHint, useTool } from './tools/find-tool.js';
import { isVersionSpec } from './tools/versions.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  version: text('1.10'),
  goPath: text(),
  goBin: text(),
  /** Slipway never downloads: a mirror is of no use, and refused rather than ignored when given. */
  goDownloadUrl: text(),
});

/** GoTool@0: a Go from the tool cache or PATH; GOROOT, and GOPATH/GOBIN when given, for later steps. */
export const goTool: TaskDefinition<typeof inputs> = {
  name: 'GoTool',
  version: 0,
  summary: 'selects a Go from the tool cache or PATH, never downloading; sets GOROOT, GOPATH, GOBIN',
  inputs,
  async run(ctx, o) {
    const spec = o.version.trim();
    if (!isVersionSpec(spec)) return { result: 'failed', reason: `version '${spec}' is not a version spec` };
    if (o.goDownloadUrl) return { result: 'failed', reason: 'goDownloadUrl: Slipway never downloads tools' };
    const found = await findTool(ctx, {
      label: 'Go',
      cacheNames: ['go'],
      spec,
      arch: 'x64',
      binDirs: ['bin'],
      programs: ['go'],
      versionArgs: ['version'],
      readVersion: (out) => /go(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1],
      hint: provideHint('go', spec, `golang:${spec}`),
    });
    if ('failure' in found) return { result: 'failed', reason: found.failure };
    useTool(ctx, 'Go', found);
    const goroot =
      found.source === 'PATH' && found.home.endsWith('/bin') ? found.home.slice(0, -4) : found.home;
    ctx.setVariable('GOROOT', goroot);
    if (o.goPath) ctx.setVariable('GOPATH', resolve(ctx.sourcesDir, o.goPath));
    if (o.goBin) {
      const bin = resolve(ctx.sourcesDir, o.goBin);
      ctx.setVariable('GOBIN', bin);
      ctx.prependPath(bin);
    }
    return { result: 'succeeded' };
  },
};
