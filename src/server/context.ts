import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../shared/clock.js';
import { AuthError, RateLimitError } from '../shared/errors.js';
import type { TokenKind } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Store, TokenRow } from '../store/types.js';
import type { ArtifactStore } from './artifact-store.js';
import type { Auth, FailureLimiter } from './auth.js';
import type { Dispatcher } from './dispatcher.js';
import type { ServerMetrics } from './metrics.js';
import type { Notifier } from './notifier.js';
import type { Scheduler } from './scheduler.js';
import type { WorkspaceStore } from './workspace-store.js';

/** What every route handler may use; built once by `createServer`. */
export interface ServerContext {
  store: Store;
  clock: Clock;
  logger: Logger;
  auth: Auth;
  limiter: FailureLimiter;
  scheduler: Scheduler;
  dispatcher: Dispatcher;
  notifier: Notifier;
  workspaces: WorkspaceStore;
  artifacts: ArtifactStore;
  metrics: ServerMetrics;
  /** Longest a poll is held open. Default 50 s. */
  pollTimeoutMs: number;
}

/** Authenticates the request's bearer token; failures count against the source's limit. */
export async function authenticate(
  ctx: ServerContext,
  req: FastifyRequest,
  kinds: TokenKind[],
): Promise<TokenRow> {
  if (ctx.limiter.blocked(req.ip))
    throw new RateLimitError('too many failed authentications; try again later');
  try {
    return await ctx.auth.authenticate(req.headers.authorization, kinds);
  } catch (err) {
    if (err instanceof AuthError) {
      ctx.limiter.fail(req.ip);
      ctx.logger.warn(
        { source: req.ip, route: req.routeOptions.url, reason: err.reason },
        'authentication failed',
      );
    }
    throw err;
  }
}

/**
 * Aborts when the client goes away, so a long-poll stops waiting for nobody. The response's
 * 'close' fires once per request (on disconnect, or after the answer is sent).
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => ac.abort());
  return ac.signal;
}
