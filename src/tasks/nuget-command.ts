import { join, relative, resolve } from 'node:path';
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
import type { TaskContext, TaskDefinition, TaskOutcome } from './types.js';

const inputs = z.object({
  command: choice(['restore', 'pack', 'push', 'custom'], 'restore'),
  restoreSolution: text('**/*.sln'),
  selectOrConfig: choice(['select', 'config'], 'select'),
  feedRestore: text(),
  includeNuGetOrg: flag(true),
  nugetConfigPath: text(),
  externalFeedCredentials: text(),
  noCache: flag(false),
  disableParallelProcessing: flag(false),
  restoreDirectory: text(),
  verbosityRestore: choice(['-', 'Quiet', 'Normal', 'Detailed'], 'Detailed'),
  /** Default: $(Build.ArtifactStagingDirectory)/**\/*.nupkg, symbol packages left out. */
  packagesToPush: text(),
  nuGetFeedType: choice(['internal', 'external'], 'internal'),
  publishVstsFeed: text(),
  publishPackageMetadata: flag(true),
  allowPackageConflicts: flag(false),
  publishFeedCredentials: text(),
  verbosityPush: choice(['-', 'Quiet', 'Normal', 'Detailed'], 'Detailed'),
  packagesToPack: text('**/*.csproj'),
  configuration: text('$(BuildConfiguration)'),
  /** Default: $(Build.ArtifactStagingDirectory). */
  packDestination: text(),
  versioningScheme: choice(['off', 'byPrereleaseNumber', 'byEnvVar', 'byBuildNumber'], 'off'),
  includeReferencedProjects: flag(false),
  versionEnvVar: text(),
  requestedMajorVersion: text('1'),
  requestedMinorVersion: text('0'),
  requestedPatchVersion: text('0'),
  packTimezone: choice(['utc', 'local'], 'utc'),
  includeSymbols: flag(false),
  toolPackage: flag(false),
  buildProperties: text(),
  basePath: text(),
  verbosityPack: choice(['-', 'Quiet', 'Normal', 'Detailed'], 'Detailed'),
  arguments: text(),
});

type Inputs = z.infer<typeof inputs>;

const HINT =
  'NuGetCommand@2 runs nuget (NuGet.exe: mono and a nuget wrapper on PATH); use a job image that has it, or DotNetCoreCLI@2, whose restore, pack and push need only the .NET SDK';

const verbosity = (v: string): string[] => (v === '-' ? [] : ['-Verbosity', v]);

/** Runs `nuget` for each file; every file is tried, the failures named together. */
async function eachFile(
  ctx: TaskContext,
  files: string[],
  argsFor: (file: string) => CommandArg[],
  env?: Record<string, string>,
): Promise<TaskOutcome> {
  const failed: string[] = [];
  for (const file of files) {
    const outcome = await runCommand(ctx, { program: 'nuget', args: argsFor(file), ...(env ? { env } : {}) });
    if (outcome.result === 'canceled') return outcome;
    if (outcome.result === 'failed') failed.push(`${relative(ctx.sourcesDir, file)}: ${outcome.reason}`);
  }
  if (failed.length > 0) return { result: 'failed', reason: failed.join('; ') };
  return { result: 'succeeded' };
}

async function matching(ctx: TaskContext, input: string, value: string): Promise<string[] | TaskOutcome> {
  const files = await findInputFiles(ctx, patternList(value));
  return files.length > 0 ? files : { result: 'failed', reason: `no file matches ${input} ${value}` };
}

async function restore(ctx: TaskContext, o: Inputs): Promise<TaskOutcome> {
  const refused = restoreRefusal(o);
  if (refused) return { result: 'failed', reason: refused };
  const files = await matching(ctx, 'restoreSolution', o.restoreSolution);
  if (!Array.isArray(files)) return files;
  const config =
    o.selectOrConfig === 'config' && o.nugetConfigPath ? resolve(ctx.sourcesDir, o.nugetConfigPath) : '';
  return eachFile(ctx, files, (f) => [
    'restore',
    f,
    '-NonInteractive',
    ...(config ? ['-ConfigFile', config] : []),
    ...(o.noCache ? ['-NoCache'] : []),
    ...(o.disableParallelProcessing ? ['-DisableParallelProcessing'] : []),
    ...(o.restoreDirectory ? ['-PackagesDirectory', resolve(ctx.sourcesDir, o.restoreDirectory)] : []),
    ...verbosity(o.verbosityRestore),
  ]);
}

async function pack(ctx: TaskContext, o: Inputs): Promise<TaskOutcome> {
  const files = await matching(ctx, 'packagesToPack', o.packagesToPack);
  if (!Array.isArray(files)) return files;
  const version = packageVersion(ctx, {
    scheme: o.versioningScheme,
    envVar: o.versionEnvVar,
    major: o.requestedMajorVersion,
    minor: o.requestedMinorVersion,
    patch: o.requestedPatchVersion,
    utc: o.packTimezone === 'utc',
  });
  if (typeof version === 'object') return { result: 'failed', reason: version.failure };
  const configuration = /^\$\(/.test(o.configuration)
    ? (ctx.variable('BuildConfiguration') ?? '')
    : o.configuration;
  const props = [configuration && `Configuration=${configuration}`, ...o.buildProperties.split(';')]
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const out = resolve(ctx.sourcesDir, o.packDestination || stagingDir(ctx));
  return eachFile(ctx, files, (f) => [
    'pack',
    f,
    '-NonInteractive',
    '-OutputDirectory',
    out,
    ...(props.length > 0 ? ['-Properties', props.join(';')] : []),
    ...(version ? ['-version', version] : []),
    ...(o.includeReferencedProjects ? ['-IncludeReferencedProjects'] : []),
    ...(o.includeSymbols ? ['-Symbols'] : []),
    ...(o.toolPackage ? ['-Tool'] : []),
    ...(o.basePath ? ['-BasePath', resolve(ctx.sourcesDir, o.basePath)] : []),
    ...verbosity(o.verbosityPack),
  ]);
}

async function push(ctx: TaskContext, o: Inputs): Promise<TaskOutcome> {
  const feed = nugetPushFeed(ctx, o.nuGetFeedType, o.publishFeedCredentials);
  if ('failure' in feed) return { result: 'failed', reason: feed.failure };
  const missing = requireProgram(ctx, 'nuget', HINT);
  if (missing) return missing;
  const staging = stagingDir(ctx);
  const patterns =
    o.packagesToPush || `${join(staging, '**/*.nupkg')};!${join(staging, '**/*.symbols.nupkg')}`;
  const files = await matching(ctx, 'packagesToPush', patterns);
  if (!Array.isArray(files)) return files;
  return eachFile(
    ctx,
    files,
    (f) => [
      'push',
      f,
      '-NonInteractive',
      '-Source',
      feed.url,
      '-ApiKey',
      { fromEnv: NUGET_API_KEY_ENV },
      ...(o.allowPackageConflicts ? ['-SkipDuplicate'] : []),
      ...verbosity(o.verbosityPush),
    ],
    { [NUGET_API_KEY_ENV]: feed.apiKey },
  );
}

/** NuGetCommand@2: `nuget restore|pack|push` per matching file, or `nuget <arguments>`. */
export const nuGetCommand: TaskDefinition<typeof inputs> = {
  name: 'NuGetCommand',
  version: 2,
  summary: 'runs nuget restore, pack, push (to a feed mapped by variables) or a custom command',
  inputs,
  aliases: {
    solution: 'restoreSolution',
    vstsFeed: 'feedRestore',
    externalEndpoints: 'externalFeedCredentials',
    packagesDirectory: 'restoreDirectory',
    searchPatternPush: 'packagesToPush',
    feedPublish: 'publishVstsFeed',
    externalEndpoint: 'publishFeedCredentials',
    searchPatternPack: 'packagesToPack',
    configurationToPack: 'configuration',
    outputDir: 'packDestination',
  },
  async run(ctx, o) {
    // A push says first whether it may push at all; the program is checked once it may.
    const missing = o.command === 'push' ? undefined : requireProgram(ctx, 'nuget', HINT);
    if (missing) return missing;
    switch (o.command) {
      case 'restore':
        return restore(ctx, o);
      case 'pack':
        return pack(ctx, o);
      case 'push':
        return push(ctx, o);
      case 'custom': {
        const args = splitArguments(o.arguments);
        if (args.length === 0)
          return {
            result: 'failed',
            reason: "command 'custom' needs the input 'arguments' (the nuget command)",
          };
        return runCommand(ctx, { program: 'nuget', args });
      }
      default:
        return assertNever(o.command);
    }
  },
};
