import { assertNever } from '../shared/errors.js';
import { serviceConnection } from './service-connection.js';
import type { TaskContext } from './types.js';

/** The environment variable a push reads its API key from (never on the command line). */
export const NUGET_API_KEY_ENV = 'SLIPWAY_NUGET_API_KEY';

/** Where a NuGet push goes: an external feed mapped by variables; Azure Artifacts feeds do not exist here. */
export function nugetPushFeed(
  ctx: TaskContext,
  feedType: 'internal' | 'external',
  credentials: string,
): { url: string; apiKey: string } | { failure: string } {
  const mapping = (name: string) =>
    `use nuGetFeedType: external with publishFeedCredentials: ${name}, mapped by a variable ${name}.url (the feed's push URL) and a secret ${name}.apiKey`;
  if (feedType === 'internal')
    return {
      failure: `push to an Azure Artifacts feed (nuGetFeedType: internal) is not possible in Slipway: ${mapping('myFeed')}`,
    };
  if (credentials === '') return { failure: `push needs publishFeedCredentials: ${mapping('myFeed')}` };
  const found = serviceConnection(ctx, 'publishFeedCredentials', credentials, [
    { name: 'url', secret: false, what: "the feed's push URL" },
    { name: 'apiKey', secret: true, what: "the feed's API key" },
  ]);
  if ('failure' in found) return { failure: `push refused: ${found.failure}` };
  return { url: found.values.url!, apiKey: found.values.apiKey! };
}

/** How `versioningScheme` names a package's version; `off` keeps the project's own. */
export interface PackVersioning {
  scheme: 'off' | 'byPrereleaseNumber' | 'byEnvVar' | 'byBuildNumber';
  envVar: string;
  major: string;
  minor: string;
  patch: string;
  /** byPrereleaseNumber's time stamp in UTC (else local time). Default: true. */
  utc?: boolean;
}

/** The version a pack sets, undefined for `off`, or why there is none. */
export function packageVersion(
  ctx: TaskContext,
  v: PackVersioning,
  now = new Date(),
): string | undefined | { failure: string } {
  switch (v.scheme) {
    case 'off':
      return undefined;
    case 'byEnvVar': {
      const value = v.envVar ? (ctx.variable(v.envVar) ?? ctx.env[v.envVar]) : undefined;
      return value || { failure: `versioningScheme byEnvVar: variable '${v.envVar}' is not set` };
    }
    case 'byBuildNumber': {
      const number = ctx.variable('Build.BuildNumber') ?? '';
      return (
        /\d+\.\d+\.\d+(?:\.\d+)?/.exec(number)?.[0] ?? {
          failure: `versioningScheme byBuildNumber: build number '${number}' has no version in it`,
        }
      );
    }
    case 'byPrereleaseNumber': {
      const d = now;
      const utc = v.utc ?? true;
      const parts = utc
        ? [
            d.getUTCFullYear(),
            d.getUTCMonth() + 1,
            d.getUTCDate(),
            d.getUTCHours(),
            d.getUTCMinutes(),
            d.getUTCSeconds(),
          ]
        : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
      const [y, mo, da, h, mi, s] = parts.map((n) => String(n).padStart(2, '0'));
      return `${v.major}.${v.minor}.${v.patch}-CI-${y}${mo}${da}-${h}${mi}${s}`;
    }
    default:
      return assertNever(v.scheme);
  }
}

/** Why a restore cannot use what it names: Azure Artifacts feeds and service connections do not exist here. */
export function restoreRefusal(o: {
  selectOrConfig: 'select' | 'config';
  feedRestore: string;
  externalFeedCredentials: string;
}): string | undefined {
  if (o.selectOrConfig === 'select' && o.feedRestore)
    return `feedRestore '${o.feedRestore}' is an Azure Artifacts feed, which Slipway does not have: name your feeds in a NuGet.config (selectOrConfig: config, nugetConfigPath)`;
  if (o.externalFeedCredentials)
    return `externalFeedCredentials '${o.externalFeedCredentials}' names a service connection, which Slipway does not have: put the feed's credentials in the NuGet.config from secret variables`;
  return undefined;
}
