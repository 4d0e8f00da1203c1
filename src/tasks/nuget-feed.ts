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
