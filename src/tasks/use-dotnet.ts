import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { choice, flag, text } from './inputs.js';
import { findOnPath, toolsDirectory } from './tools/find-tool.js';
import { highestMatch, isVersionSpec } from './tools/versions.js';
import type { TaskContext, TaskDefinition } from './types.js';

const inputs = z.object({
  packageType: choice(['sdk', 'runtime'], 'sdk'),
  useGlobalJson: flag(false),
  workingDirectory: text(),
  version: text(),
  vsVersion: text(),
  includePreviewVersions: flag(false),
  installationPath: text(),
  performMultiLevelLookup: flag(false),
  requestTimeout: text(),
});

/** The SDKs or runtimes one `dotnet` has, from `--list-sdks` / `--list-runtimes`. */
async function listed(ctx: TaskContext, dotnet: string, type: 'sdk' | 'runtime'): Promise<string[]> {
  const res = await ctx.capture(dotnet, [type === 'sdk' ? '--list-sdks' : '--list-runtimes']);
  if (res.exitCode !== 0) return [];
  return res.output
    .split('\n')
    .map(
      (l) =>
        (type === 'sdk' ? /^(\d+\.\d+\.\d+\S*)\s/ : /^Microsoft\.NETCore\.App\s+(\d+\.\d+\.\d+\S*)\s/).exec(
          l.trim(),
        )?.[1],
    )
    .filter((v): v is string => v !== undefined);
}

/** UseDotNet@2: a .NET SDK or runtime already installed (tool cache `dotnet`, or PATH), first in PATH. */
export const useDotNet: TaskDefinition<typeof inputs> = {
  name: 'UseDotNet',
  version: 2,
  summary:
    'selects an installed .NET SDK or runtime (installationPath, the tool cache or PATH), never downloading',
  inputs,
  async run(ctx, o) {
    let spec = o.version.trim();
    if (o.useGlobalJson) {
      const file = join(resolve(ctx.sourcesDir, o.workingDirectory || '.'), 'global.json');
      const json = await readFile(file, 'utf8').catch(() => undefined);
      const version =
        json === undefined ? undefined : (JSON.parse(json) as { sdk?: { version?: string } }).sdk?.version;
      if (!version) return { result: 'failed', reason: `useGlobalJson: ${file} names no sdk.version` };
      spec = version;
    }
    if (spec === '')
      return { result: 'failed', reason: "input 'version' is required (or useGlobalJson: true)" };
    if (!isVersionSpec(spec)) return { result: 'failed', reason: `version '${spec}' is not a version spec` };
    const tools = toolsDirectory(ctx);
    const candidates = [
      o.installationPath && join(resolve(ctx.sourcesDir, o.installationPath), 'dotnet'),
      tools && join(tools, 'dotnet', 'dotnet'),
      findOnPath('dotnet', ctx.env.PATH),
    ].filter((c): c is string => typeof c === 'string' && c !== '');
    const seen: string[] = [];
    for (const dotnet of [...new Set(candidates)]) {
      const versions = (await listed(ctx, dotnet, o.packageType)).filter(
        (v) => o.includePreviewVersions || !v.includes('-'),
      );
      if (versions.length > 0) seen.push(`${dotnet}: ${versions.join(', ')}`);
      const best = highestMatch(versions, spec);
      if (best === undefined) continue;
      const root = dirname(dotnet);
      ctx.prependPath(root);
      ctx.setVariable('DOTNET_ROOT', root);
      ctx.log(`.NET ${o.packageType} ${best} from ${dotnet}; prepended ${root} to PATH for later steps`);
      return { result: 'succeeded' };
    }
    return {
      result: 'failed',
      reason:
        `.NET ${o.packageType} ${spec} was not found (Slipway never downloads tools): ` +
        `${seen.length > 0 ? seen.join('; ') : 'no dotnet in installationPath, the tool cache (dotnet/) or PATH'}. ` +
        `Use a job image that has it (container: mcr.microsoft.com/dotnet/sdk:${spec.replace(/\.x$/, '')}), ` +
        `or mount an installation at $AGENT_TOOLSDIRECTORY/dotnet.`,
    };
  },
};
