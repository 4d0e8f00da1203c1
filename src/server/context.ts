import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../shared/clock.js';
import { AuthError } from '../shared/errors.js';
import { hashToken, type TokenKind } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Store, TokenRow } from '../store/index.js';
import type { ArtifactStore } from './artifact-store.js';
import { type Auth, type FailureLimiter, refuseAuth } from './auth.js';
import type { Dispatcher } from './dispatcher.js';
import type { ServerMetrics } from './metrics.js';
import type { Notifier } from './notifier.js';
import type { Scheduler } from './scheduler.js';
import type {
  AgentService,
  ArtifactService,
  JobService,
  PoolService,
  QueueService,
  RunService,
  TokenService,
} from './services/index.js';
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
  runService: RunService;
  jobService: JobService;
  artifactService: ArtifactService;
  metrics: ServerMetrics;
  /** `/metrics` answers loopback clients without a token. */
  metricsLoopback: boolean;
  /** Longest a poll is held open. Default 50 s. */
  pollTimeoutMs: number;
  /** Registration, sessions, polling and claiming: the agent's side. */
  agents: AgentService;
  /** Pools, their agents and what a fleet manager needs. */
  pools: PoolService;
  /** Personal access tokens. */
  tokens: TokenService;
  /** The queue as people see it: why each job waits. */
  queue: QueueService;
}

/**
 * Who the limiter counts a failure against: the source address, or one shared key for every
 * caller on the Unix socket (they have no address), so a flood there is limited as one client.
 */
export function clientOf(req: FastifyRequest): string {
  return req.ip || 'unix-socket';
}

/**
 * Authenticates the request's bearer token. A valid credential is always accepted, whatever
 * others on the same address do; failures count per presented credential and per client.
 */
export async function authenticate(
  ctx: ServerContext,
  req: FastifyRequest,
  kinds: TokenKind[],
): Promise<TokenRow> {
  const header = req.headers.authorization;
  // Keyed by route kinds too: a step token is bad on an admin route and good on its own.
  const credential = header ? `${kinds.join(',')} ${hashToken(header)}` : undefined;
  if (credential && ctx.limiter.knownBad(credential)) {
    authFailed(ctx, req, new AuthError('credential refused repeatedly'), credential);
  }
  try {
    return await ctx.auth.authenticate(header, kinds);
  } catch (err) {
    if (err instanceof AuthError) authFailed(ctx, req, err, credential);
    throw err;
  }
}

/**
 * Counts a failed authentication and throws: 401, or 429 once the client is past its limit
 * (logged in summary then, so a flood cannot fill the log).
 */
export function authFailed(
  ctx: ServerContext,
  req: FastifyRequest,
  err: AuthError,
  credential?: string,
): never {
  refuseAuth(ctx, { client: clientOf(req), route: req.routeOptions.url, credential }, err);
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
