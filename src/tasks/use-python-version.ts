import { z } from 'zod';
import { choice, flag, text } from './inputs.js';
import { findTool, provideHint, useTool } from './tools/find-tool.js';
import { isVersionSpec } from './tools/versions.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  versionSpec: text('3.x'),
  addToPath: flag(true),
  architecture: choice(['x64', 'x86', 'arm64'], 'x64'),
  /** Slipway never downloads: accepted, and nothing else would happen anyway. */
  disableDownloadFromRegistry: flag(false),
  allowUnstable: flag(false),
  githubToken: text(),
});

/** UsePythonVersion@0: a Python from the tool cache or PATH for later steps; `pythonLocation` set. */
export const usePythonVersion: TaskDefinition<typeof inputs> = {
  name: 'UsePythonVersion',
  version: 0,
  summary: 'selects a Python from the tool cache or PATH, never downloading',
  inputs,
  async run(ctx, o) {
    const spec = o.versionSpec.trim();
    if (/^pypy/i.test(spec))
      return { result: 'failed', reason: `PyPy ('${spec}') is not supported by Slipway yet` };
    if (!isVersionSpec(spec))
      return { result: 'failed', reason: `versionSpec '${spec}' is not a version spec` };
    const found = await findTool(ctx, {
      label: 'Python',
      cacheNames: ['Python'],
      spec,
      arch: o.architecture,
      binDirs: ['bin', ''],
      programs: ['python3', 'python'],
      versionArgs: ['--version'],
      readVersion: (out) => /Python\s+(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1],
      hint: provideHint('Python', spec, `python:${spec.replace(/\.x$/, '')}`),
    });
    if ('failure' in found) return { result: 'failed', reason: found.failure };
    if (o.addToPath) useTool(ctx, 'Python', found);
    else ctx.log(`Python ${found.version} from the ${found.source}: ${found.home} (addToPath: false)`);
    // Hosted images' pythonLocation is the version folder whose bin/ holds python.
    const location =
      found.source === 'PATH' && found.home.endsWith('/bin') ? found.home.slice(0, -4) : found.home;
    ctx.setVariable('pythonLocation', location);
    return { result: 'succeeded' };
  },
};
