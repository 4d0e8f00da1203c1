import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { assertNever } from '../shared/errors.js';
import { requireProgram, runCommand, splitArguments } from './command-line.js';
import { choice, flag, text } from './inputs.js';
import { serviceConnection } from './service-connection.js';
import type { TaskContext, TaskDefinition, TaskOutcome } from './types.js';

const inputs = z.object({
  command: choice(['ci', 'install', 'publish', 'custom'], 'install'),
  workingDir: text(),
  verbose: flag(false),
  customCommand: text(),
  customRegistry: choice(['useNpmrc', 'useFeed'], 'useNpmrc'),
  customFeed: text(),
  customEndpoint: text(),
  publishRegistry: choice(['useExternalRegistry', 'useFeed'], 'useExternalRegistry'),
  publishFeed: text(),
  publishPackageMetadata: flag(true),
  publishEndpoint: text(),
});

/** The environment variable the publish token is read from, by the npmrc Slipway writes (never the token itself). */
const TOKEN_ENV = 'SLIPWAY_NPM_TOKEN';

const HINT = 'use a job image with Node.js and npm, or NodeTool@0 with a tool cache that has it';

/**
 * A user npmrc for this step: the registry and `_authToken=${SLIPWAY_NPM_TOKEN}`, which npm
 * reads from the environment, so the token is never written to disk.
 */
async function publishConfig(ctx: TaskContext, registry: string): Promise<string> {
  const url = new URL(registry);
  const scope = `//${url.host}${url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`}`;
  const file = join(ctx.tempDir, `npmrc-${Date.now().toString(36)}`);
  await writeFile(file, `registry=${url.href}\n${scope}:_authToken=\${${TOKEN_ENV}}\n`, {
    mode: 0o644,
  });
  await ctx.handOver(file);
  return file;
}

async function publish(
  ctx: TaskContext,
  o: z.infer<typeof inputs>,
  dir: string | undefined,
): Promise<TaskOutcome> {
  const how =
    'use publishRegistry: useExternalRegistry with publishEndpoint: NAME, mapped by a variable NAME.registry (the registry URL) and a secret NAME.token';
  if (o.publishRegistry === 'useFeed')
    return {
      result: 'failed',
      reason: `publish to an Azure Artifacts feed (publishRegistry: useFeed) is not possible in Slipway: ${how}`,
    };
  if (o.publishEndpoint === '')
    return { result: 'failed', reason: `publish refused without a registry token: ${how}` };
  const found = serviceConnection(ctx, 'publishEndpoint', o.publishEndpoint, [
    { name: 'registry', secret: false, what: 'the registry URL' },
    { name: 'token', secret: true, what: 'a token that may publish' },
  ]);
  if ('failure' in found) return { result: 'failed', reason: `publish refused: ${found.failure}` };
  const registry = found.values.registry!;
  if (!URL.canParse(registry))
    return { result: 'failed', reason: `${o.publishEndpoint}.registry '${registry}' is not a URL` };
  const missing = requireProgram(ctx, 'npm', HINT);
  if (missing) return missing;
  const config = await publishConfig(ctx, registry);
  try {
    return await runCommand(ctx, {
      program: 'npm',
      args: ['publish', ...(o.verbose ? ['--verbose'] : [])],
      ...(dir ? { workingDirectory: dir } : {}),
      env: { NPM_CONFIG_USERCONFIG: config, [TOKEN_ENV]: found.values.token! },
    });
  } finally {
    await rm(config, { force: true });
  }
}

/** Npm@1: `npm install|ci|publish` or a custom npm command in `workingDir`. */
export const npm: TaskDefinition<typeof inputs> = {
  name: 'Npm',
  version: 1,
  summary: 'runs npm install, ci, publish (to a registry mapped by variables) or a custom npm command',
  inputs,
  async run(ctx, o) {
    const dir = o.workingDir || undefined;
    if (o.customRegistry === 'useFeed' && o.command !== 'publish')
      return {
        result: 'failed',
        reason: `customRegistry: useFeed names an Azure Artifacts feed, which Slipway does not have: put the registry in the project's .npmrc (customRegistry: useNpmrc)`,
      };
    if (o.customEndpoint && o.command !== 'publish')
      return {
        result: 'failed',
        reason: `customEndpoint '${o.customEndpoint}' names a service connection, which Slipway does not have: put the registry in the project's .npmrc with \${TOKEN} from a secret mapped in the step's env`,
      };
    if (o.command === 'publish') return publish(ctx, o, dir);
    const missing = requireProgram(ctx, 'npm', HINT);
    if (missing) return missing;
    const verbose = o.verbose ? ['--verbose'] : [];
    switch (o.command) {
      case 'ci':
      case 'install':
        return runCommand(ctx, {
          program: 'npm',
          args: [o.command, ...verbose],
          ...(dir ? { workingDirectory: dir } : {}),
        });
      case 'custom': {
        const args = splitArguments(o.customCommand);
        if (args.length === 0)
          return {
            result: 'failed',
            reason: "command 'custom' needs the input 'customCommand' (the npm command)",
          };
        return runCommand(ctx, {
          program: 'npm',
          args: [...args, ...verbose],
          ...(dir ? { workingDirectory: dir } : {}),
        });
      }
      default:
        return assertNever(o.command);
    }
  },
};
