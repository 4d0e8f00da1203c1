import { rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { assertNever } from '../shared/errors.js';
import { stagingDir } from './artifact-paths.js';
import {
  type CommandArg,
  findInputFiles,
  patternList,
  requireProgram,
  runCommand,
  splitArguments,
} from './command-line.js';
import { choice, flag, text } from './inputs.js';
import { NUGET_API_KEY_ENV, nugetPushFeed, packageVersion, restoreRefusal } from './nuget-feed.js';
import { publishTestResults } from './publish-test-results.js';
import type { TaskContext, TaskDefinition, TaskOutcome } from './types.js';

const COMMANDS = ['build', 'push', 'pack', 'publish', 'restore', 'run', 'test', 'custom'] as const;

const inputs = z.object({
  command: choice(COMMANDS, 'build'),
  publishWebProjects: flag(true),
  projects: text(),
  custom: text(),
  arguments: text(),
  restoreArguments: text(),
  publishTestResults: flag(true),
  testRunTitle: text(),
  zipAfterPublish: flag(true),
  modifyOutputPath: flag(true),
  selectOrConfig: choice(['select', 'config'], 'select'),
  feedRestore: text(),
  includeNuGetOrg: flag(true),
  nugetConfigPath: text(),
  externalFeedCredentials: text(),
  noCache: flag(false),
  restoreDirectory: text(),
  verbosityRestore: text(),
  /** Default: $(Build.ArtifactStagingDirectory)/*.nupkg. */
  packagesToPush: text(),
  nuGetFeedType: choice(['internal', 'external'], 'internal'),
  publishVstsFeed: text(),
  publishPackageMetadata: flag(true),
  publishFeedCredentials: text(),
  packagesToPack: text('**/*.csproj'),
  /** Default: $(BuildConfiguration), when set. */
  configuration: text(),
  /** Default: $(Build.ArtifactStagingDirectory). */
  packDirectory: text(),
  nobuild: flag(false),
  includesymbols: flag(false),
  includesource: flag(false),
  versioningScheme: choice(['off', 'byPrereleaseNumber', 'byEnvVar', 'byBuildNumber'], 'off'),
  versionEnvVar: text(),
  majorVersion: text('1'),
  minorVersion: text('0'),
  patchVersion: text('0'),
  buildProperties: text(),
  verbosityPack: text(),
  workingDirectory: text(),
  requestTimeout: text(),
});

type Inputs = z.infer<typeof inputs>;

const HINT =
  'use a job image with the .NET SDK, such as container: mcr.microsoft.com/dotnet/sdk:8.0, or UseDotNet@2 with a tool cache that has it';

/** The project files `projects` matches: none given is one run in the working directory. */
async function projectFiles(ctx: TaskContext, patterns: string[]): Promise<string[] | { failure: string }> {
  if (patterns.length === 0) return [''];
  const files = await findInputFiles(ctx, patterns);
  if (files.length === 0) return { failure: `no project file matches ${patterns.join(', ')}` };
  return files;
}

/** Web projects, as Azure finds them: a project whose folder has web.config or wwwroot. */
async function webProjects(ctx: TaskContext): Promise<string[]> {
  const all = await findInputFiles(ctx, ['**/*.csproj', '**/*.vbproj', '**/*.fsproj']);
  const web: string[] = [];
  for (const file of all) {
    const dir = dirname(file);
    const has = async (p: string) => (await stat(join(dir, p)).catch(() => undefined)) !== undefined;
    if ((await has('web.config')) || (await has('wwwroot'))) web.push(file);
  }
  return web;
}

/** The value of `--output`/`-o` in the arguments, and the arguments without it. */
function takeOutput(args: string[]): { output?: string; rest: string[] } {
  const rest: string[] = [];
  let output: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ((a === '--output' || a === '-o') && i + 1 < args.length) output = args[++i];
    else if (a.startsWith('--output=')) output = a.slice('--output='.length);
    else rest.push(a);
  }
  return output === undefined ? { rest } : { output, rest };
}

/** Runs `dotnet` once per project; every project is tried, the failures named together. */
async function perProject(
  ctx: TaskContext,
  o: Inputs,
  projects: string[],
  argsFor: (project: string) => CommandArg[],
  env?: Record<string, string>,
): Promise<TaskOutcome> {
  const failed: string[] = [];
  for (const project of projects) {
    const outcome = await runCommand(ctx, {
      program: 'dotnet',
      args: argsFor(project),
      ...(o.workingDirectory ? { workingDirectory: o.workingDirectory } : {}),
      ...(env ? { env } : {}),
    });
    if (outcome.result === 'canceled') return outcome;
    if (outcome.result === 'failed')
      failed.push(
        `${project ? relative(ctx.sourcesDir, project) : 'the working directory'}: ${outcome.reason}`,
      );
  }
  if (failed.length > 0) return { result: 'failed', reason: failed.join('; ') };
  return { result: 'succeeded' };
}

/** Zips each publish output folder into `<folder>.zip` beside it and removes the folder, as Azure does. */
async function zipOutputs(ctx: TaskContext, folders: string[]): Promise<TaskOutcome> {
  const noZip = requireProgram(ctx, 'zip', 'zipAfterPublish needs zip; or set zipAfterPublish: false');
  if (noZip) return noZip;
  for (const folder of folders) {
    if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
      ctx.warn(`zipAfterPublish: ${folder} was not written by dotnet publish; nothing to zip`);
      continue;
    }
    await ctx.confine(folder);
    const zipped = await runCommand(ctx, {
      program: 'zip',
      args: ['-q', '-r', `${folder}.zip`, '.'],
      workingDirectory: folder,
    });
    if (zipped.result !== 'succeeded') return zipped;
    await rm(folder, { recursive: true, force: true });
    ctx.log(`Zipped ${folder} into ${folder}.zip`);
  }
  return { result: 'succeeded' };
}

async function publish(ctx: TaskContext, o: Inputs, args: string[]): Promise<TaskOutcome> {
  let projects: string[];
  if (o.publishWebProjects) {
    projects = await webProjects(ctx);
    if (projects.length === 0)
      return {
        result: 'failed',
        reason:
          'publishWebProjects: no web project found (a project whose folder has web.config or wwwroot); name them in projects with publishWebProjects: false',
      };
  } else {
    const found = await projectFiles(ctx, patternList(o.projects));
    if ('failure' in found) return { result: 'failed', reason: found.failure };
    projects = found;
  }
  const { output, rest } = takeOutput(args);
  const base = output === undefined ? undefined : resolve(ctx.sourcesDir, o.workingDirectory, output);
  const outputOf = (project: string) =>
    base === undefined
      ? undefined
      : o.modifyOutputPath && project
        ? join(base, basename(dirname(project)))
        : base;
  const outcome = await perProject(ctx, o, projects, (project) => {
    const out = outputOf(project);
    return ['publish', ...(project ? [project] : []), ...rest, ...(out ? ['--output', out] : [])];
  });
  if (outcome.result !== 'succeeded' || !o.zipAfterPublish) return outcome;
  if (base === undefined) {
    ctx.warn('zipAfterPublish: the arguments name no --output folder, so there is nothing to zip');
    return outcome;
  }
  return zipOutputs(ctx, [...new Set(projects.map((p) => outputOf(p)!))]);
}

async function test(ctx: TaskContext, o: Inputs, args: string[]): Promise<TaskOutcome> {
  const found = await projectFiles(ctx, patternList(o.projects));
  if ('failure' in found) return { result: 'failed', reason: found.failure };
  if (!o.publishTestResults) return perProject(ctx, o, found, (p) => ['test', ...(p ? [p] : []), ...args]);
  // Each run of this step has its own results folder: earlier steps' files are not published again.
  const results = join(ctx.tempDir, `TestResults-${Date.now().toString(36)}`);
  const outcome = await perProject(ctx, o, found, (p) => [
    'test',
    ...(p ? [p] : []),
    '--logger',
    'trx',
    '--results-directory',
    results,
    ...args,
  ]);
  if (outcome.result === 'canceled') return outcome;
  const published = await publishTestResults.run(
    ctx,
    publishTestResults.inputs.parse({
      testResultsFormat: 'VSTest',
      testResultsFiles: '**/*.trx',
      searchFolder: results,
      testRunTitle: o.testRunTitle,
    }),
  );
  return outcome.result === 'failed' ? outcome : published;
}

async function pack(ctx: TaskContext, o: Inputs): Promise<TaskOutcome> {
  const files = await findInputFiles(ctx, patternList(o.packagesToPack));
  if (files.length === 0)
    return { result: 'failed', reason: `no project file matches packagesToPack ${o.packagesToPack}` };
  const version = packageVersion(ctx, {
    scheme: o.versioningScheme,
    envVar: o.versionEnvVar,
    major: o.majorVersion,
    minor: o.minorVersion,
    patch: o.patchVersion,
  });
  if (typeof version === 'object') return { result: 'failed', reason: version.failure };
  const out = resolve(ctx.sourcesDir, o.packDirectory || stagingDir(ctx));
  const configuration = o.configuration || ctx.variable('BuildConfiguration') || '';
  const props = o.buildProperties
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return perProject(ctx, o, files, (file) => [
    'pack',
    file,
    '--output',
    out,
    ...(configuration ? ['--configuration', configuration] : []),
    ...(o.nobuild ? ['--no-build'] : []),
    ...(o.includesymbols ? ['--include-symbols'] : []),
    ...(o.includesource ? ['--include-source'] : []),
    ...(version ? [`-p:PackageVersion=${version}`] : []),
    ...props.map((p) => `-p:${p}`),
    ...(o.verbosityPack && o.verbosityPack !== '-' ? ['--verbosity', o.verbosityPack.toLowerCase()] : []),
  ]);
}

async function restore(ctx: TaskContext, o: Inputs): Promise<TaskOutcome> {
  const refused = restoreRefusal(o);
  if (refused) return { result: 'failed', reason: refused };
  const found = await projectFiles(ctx, patternList(o.projects));
  if ('failure' in found) return { result: 'failed', reason: found.failure };
  const config =
    o.selectOrConfig === 'config' && o.nugetConfigPath ? resolve(ctx.sourcesDir, o.nugetConfigPath) : '';
  return perProject(ctx, o, found, (p) => [
    'restore',
    ...(p ? [p] : []),
    ...(config ? ['--configfile', config] : []),
    ...(o.noCache ? ['--no-cache'] : []),
    ...(o.restoreDirectory ? ['--packages', resolve(ctx.sourcesDir, o.restoreDirectory)] : []),
    ...(o.verbosityRestore && o.verbosityRestore !== '-'
      ? ['--verbosity', o.verbosityRestore.toLowerCase()]
      : []),
    ...splitArguments(o.restoreArguments),
  ]);
}

async function push(ctx: TaskContext, o: Inputs): Promise<TaskOutcome> {
  const feed = nugetPushFeed(ctx, o.nuGetFeedType, o.publishFeedCredentials);
  if ('failure' in feed) return { result: 'failed', reason: feed.failure };
  const missing = requireProgram(ctx, 'dotnet', HINT);
  if (missing) return missing;
  const patterns = o.packagesToPush ? patternList(o.packagesToPush) : [join(stagingDir(ctx), '*.nupkg')];
  const packages = await findInputFiles(ctx, patterns);
  if (packages.length === 0)
    return { result: 'failed', reason: `no package matches packagesToPush ${patterns.join(', ')}` };
  return perProject(
    ctx,
    o,
    packages,
    (p) => ['nuget', 'push', p, '--source', feed.url, '--api-key', { fromEnv: NUGET_API_KEY_ENV }],
    { [NUGET_API_KEY_ENV]: feed.apiKey },
  );
}

/** DotNetCoreCLI@2: `dotnet <command>` for each project the patterns match. */
export const dotNetCoreCli: TaskDefinition<typeof inputs> = {
  name: 'DotNetCoreCLI',
  version: 2,
  summary:
    'runs dotnet build, test (results published), publish (zipped), pack, push, restore, run or a custom command',
  inputs,
  aliases: {
    vstsFeed: 'feedRestore',
    externalEndpoints: 'externalFeedCredentials',
    packagesDirectory: 'restoreDirectory',
    searchPatternPush: 'packagesToPush',
    feedPublish: 'publishVstsFeed',
    externalEndpoint: 'publishFeedCredentials',
    searchPatternPack: 'packagesToPack',
    configurationToPack: 'configuration',
    outputDir: 'packDirectory',
    requestedMajorVersion: 'majorVersion',
    requestedMinorVersion: 'minorVersion',
    requestedPatchVersion: 'patchVersion',
  },
  async run(ctx, o) {
    // A push says first whether it may push at all; the program is checked once it may.
    const missing = o.command === 'push' ? undefined : requireProgram(ctx, 'dotnet', HINT);
    if (missing) return missing;
    const args = splitArguments(o.arguments);
    switch (o.command) {
      case 'publish':
        return publish(ctx, o, args);
      case 'test':
        return test(ctx, o, args);
      case 'pack':
        return pack(ctx, o);
      case 'restore':
        return restore(ctx, o);
      case 'push':
        return push(ctx, o);
      case 'run': {
        const found = await projectFiles(ctx, patternList(o.projects));
        if ('failure' in found) return { result: 'failed', reason: found.failure };
        return perProject(ctx, o, found, (p) => ['run', ...(p ? ['--project', p] : []), ...args]);
      }
      case 'build':
      case 'custom': {
        if (o.command === 'custom' && o.custom.trim() === '')
          return {
            result: 'failed',
            reason: "command 'custom' needs the input 'custom' (the dotnet command)",
          };
        const found = await projectFiles(ctx, patternList(o.projects));
        if ('failure' in found) return { result: 'failed', reason: found.failure };
        const verb = o.command === 'custom' ? splitArguments(o.custom) : ['build'];
        return perProject(ctx, o, found, (p) => [...verb, ...(p ? [p] : []), ...args]);
      }
      default:
        return assertNever(o.command);
    }
  },
};
