import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { assertNever } from '../shared/errors.js';
import {
  type CommandRun,
  findInputFiles,
  patternList,
  requireProgram,
  runCommand,
  runCommands,
  splitArguments,
} from './command-line.js';
import { choice, flag, text } from './inputs.js';
import { serviceConnection } from './service-connection.js';
import type { TaskContext, TaskDefinition, TaskOutcome } from './types.js';

const inputs = z.object({
  command: choice(['buildAndPush', 'build', 'push', 'login', 'logout', 'start', 'stop'], 'buildAndPush'),
  containerRegistry: text(),
  repository: text(),
  Dockerfile: text('**/Dockerfile'),
  buildContext: text('**'),
  /** Default: $(Build.BuildId). */
  tags: text(),
  arguments: text(),
  addPipelineData: flag(true),
  addBaseImageData: flag(true),
  container: text(),
});

type Inputs = z.infer<typeof inputs>;

/** Where `docker login` reads the password from (its standard input, from this variable). */
const PASSWORD_ENV = 'SLIPWAY_DOCKER_PASSWORD';

const HINT =
  "run the job with 'docker: dind' (an engine of its own; slipway/base has the Docker CLI) in a job image with the docker CLI";

interface Registry {
  /** `registry:5000`; empty for Docker Hub. */
  host: string;
  username: string;
  password: string;
}

/** `https://registry.example:5000/` → `registry.example:5000`; Docker Hub's names → '' (images are named without it). */
function registryHost(address: string): string {
  const host = address.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return /^(index\.|registry-1\.)?docker\.io$/i.test(host) ? '' : host;
}

function mappedRegistry(ctx: TaskContext, name: string): Registry | { failure: string } {
  const found = serviceConnection(ctx, 'containerRegistry', name, [
    { name: 'registry', secret: false, what: "the registry's address, such as registry.example:5000" },
    { name: 'username', secret: false, what: 'the user to log in as' },
    { name: 'password', secret: true, what: 'its password or token' },
  ]);
  if ('failure' in found) return { failure: `containerRegistry refused: ${found.failure}` };
  return {
    host: registryHost(found.values.registry!),
    username: found.values.username!,
    password: found.values.password!,
  };
}

/** The image names to tag and push: the repository, under the registry's host when there is one. */
function imageNames(ctx: TaskContext, o: Inputs, registry: Registry | undefined): string[] {
  if (o.repository === '') return [];
  const repo = registry?.host ? `${registry.host}/${o.repository.toLowerCase()}` : o.repository.toLowerCase();
  const tags = o.tags ? patternList(o.tags.replace(/,/g, '\n')) : [ctx.variable('Build.BuildId') || 'latest'];
  return tags.map((t) => `${repo}:${t}`);
}

async function buildRun(
  ctx: TaskContext,
  o: Inputs,
  images: string[],
  args: string[],
): Promise<CommandRun | TaskOutcome> {
  const files = await findInputFiles(ctx, patternList(o.Dockerfile));
  const dockerfile = files[0];
  if (dockerfile === undefined) return { result: 'failed', reason: `no Dockerfile matches ${o.Dockerfile}` };
  const context = o.buildContext === '**' ? dirname(dockerfile) : resolve(ctx.sourcesDir, o.buildContext);
  return {
    program: 'docker',
    args: ['build', '-f', dockerfile, ...images.flatMap((i) => ['-t', i]), ...args, context],
  };
}

/** Commands run with a registry's credentials: logged in to a config folder of this step alone, removed after. */
async function withLogin(ctx: TaskContext, registry: Registry, runs: CommandRun[]): Promise<TaskOutcome> {
  const config = join(ctx.tempDir, `docker-config-${Date.now().toString(36)}`);
  await mkdir(config, { recursive: true });
  await ctx.handOver(config);
  const env = { DOCKER_CONFIG: config };
  try {
    return await runCommands(ctx, [
      loginRun(registry, env),
      ...runs.map((r) => ({ ...r, env: { ...r.env, ...env } })),
    ]);
  } finally {
    await rm(config, { recursive: true, force: true });
  }
}

function loginRun(registry: Registry, env: Record<string, string>): CommandRun {
  return {
    program: 'docker',
    args: [
      'login',
      ...(registry.host ? [registry.host] : []),
      '--username',
      registry.username,
      '--password-stdin',
    ],
    env: { ...env, [PASSWORD_ENV]: registry.password },
    stdinFromEnv: PASSWORD_ENV,
  };
}

async function login(ctx: TaskContext, registry: Registry): Promise<TaskOutcome> {
  // Later steps use this config (DOCKER_CONFIG), as after Azure's login; logout removes it.
  const config = join(ctx.tempDir, `DockerConfig_${Date.now().toString(36)}`);
  await mkdir(config, { recursive: true });
  await ctx.handOver(config);
  const outcome = await runCommand(ctx, loginRun(registry, { DOCKER_CONFIG: config }));
  if (outcome.result === 'succeeded') {
    ctx.setVariable('DOCKER_CONFIG', config);
    ctx.log(`Logged in to ${registry.host || 'Docker Hub'}; later steps use DOCKER_CONFIG=${config}`);
  } else await rm(config, { recursive: true, force: true });
  return outcome;
}

async function logout(ctx: TaskContext, registry: Registry | undefined): Promise<TaskOutcome> {
  const config = ctx.env.DOCKER_CONFIG;
  const outcome = await runCommand(ctx, {
    program: 'docker',
    args: ['logout', ...(registry?.host ? [registry.host] : [])],
  });
  if (config && resolve(config).startsWith(`${ctx.tempDir}/DockerConfig_`)) {
    await rm(config, { recursive: true, force: true });
    ctx.setVariable('DOCKER_CONFIG', '');
  }
  return outcome;
}

/** Docker@2: build, tag and push images (inside a `docker: dind` job), log in and out. */
export const docker: TaskDefinition<typeof inputs> = {
  name: 'Docker',
  version: 2,
  summary: 'builds, tags and pushes images, logs in and out of a registry mapped by variables',
  inputs,
  async run(ctx, o) {
    let registry: Registry | undefined;
    if (o.containerRegistry) {
      const found = mappedRegistry(ctx, o.containerRegistry);
      if ('failure' in found) return { result: 'failed', reason: found.failure };
      registry = found;
    }
    const missing = requireProgram(ctx, 'docker', HINT);
    if (missing) return missing;
    const images = imageNames(ctx, o, registry);
    const args = splitArguments(o.arguments);
    const pushes = images.map((i): CommandRun => ({ program: 'docker', args: ['push', i, ...args] }));
    const commands = async (): Promise<CommandRun[] | TaskOutcome> => {
      switch (o.command) {
        case 'build': {
          const build = await buildRun(ctx, o, images, args);
          return 'program' in build ? [build] : build;
        }
        case 'push':
          if (images.length === 0)
            return { result: 'failed', reason: "command 'push' needs the input 'repository'" };
          return pushes;
        case 'buildAndPush': {
          if (images.length === 0)
            return { result: 'failed', reason: "command 'buildAndPush' needs the input 'repository'" };
          // As in Azure: arguments would be ambiguous between build and push, so they are not used.
          if (args.length > 0)
            ctx.warn("arguments are not used by 'buildAndPush'; use separate build and push steps");
          const build = await buildRun(ctx, o, images, []);
          if (!('program' in build)) return build;
          return [build, ...images.map((i): CommandRun => ({ program: 'docker', args: ['push', i] }))];
        }
        case 'start':
        case 'stop':
          if (o.container === '')
            return { result: 'failed', reason: `command '${o.command}' needs the input 'container'` };
          return [{ program: 'docker', args: [o.command, o.container] }];
        case 'login':
        case 'logout':
          return [];
        default:
          return assertNever(o.command);
      }
    };
    if (o.command === 'login') {
      if (registry === undefined)
        return { result: 'failed', reason: "command 'login' needs the input 'containerRegistry'" };
      return login(ctx, registry);
    }
    if (o.command === 'logout') return logout(ctx, registry);
    const runs = await commands();
    if (!Array.isArray(runs)) return runs;
    // As in Azure, every command runs logged in when a registry is named (a FROM may need it too).
    return registry !== undefined ? withLogin(ctx, registry, runs) : runCommands(ctx, runs);
  },
};
