import Fastify, { type FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import {
  AuthError,
  ClaimLostError,
  httpStatusOf,
  LeaseLostError,
  LogGapError,
  SlipwayError,
} from '../shared/errors.js';
import { authenticate, type ServerContext } from './context.js';
import { adminRoutes } from './routes/admin.js';
import { agentRoutes } from './routes/agents.js';
import { jobArtifactRoutes, runArtifactRoutes } from './routes/artifacts.js';
import { cacheRoutes } from './routes/caches.js';
import { fleetRoutes } from './routes/fleet.js';
import { jobRoutes } from './routes/jobs.js';
import { repositoryRoutes } from './routes/repositories.js';
import { runRoutes } from './routes/runs.js';
import { variableGroupRoutes } from './routes/variable-groups.js';
import { webRoutes } from './routes/web.js';

/** JSON bodies larger than this are refused with 413; workspaces have their own limit. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/**
 * Which routes an app serves. `all`: everything (the main port). `agent`: only what agents and
 * their jobs call — registration, tokens, sessions, polls, claims, leases, logs, completion,
 * the job's workspace, artifacts and caches, and `/healthz` — so that a network policy can let
 * job pods reach this port and nothing else; any other path is a 404 there.
 */
export type AppSurface = 'all' | 'agent';

export interface BuildAppOptions {
  /** The routes served; default `all`. */
  surface?: AppSurface;
}

export function buildApp(ctx: ServerContext, options: BuildAppOptions = {}): FastifyInstance {
  const surface = options.surface ?? 'all';
  const app = Fastify({ bodyLimit: MAX_JSON_BYTES, logger: false, forceCloseConnections: true });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  app.addContentTypeParser('application/gzip', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // An action without options (cancel, rerun) may come as JSON with no body at all, as a
  // browser's fetch sends it: that is no body, not an error. Anything else is parsed as before.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) =>
    body === '' ? done(null, undefined) : json(req, String(body), done),
  );

  app.setErrorHandler((err, req, reply) => {
    const [status, code, message] = classify(err);
    if (status >= 500) ctx.logger.error({ err, route: req.routeOptions.url }, 'request failed');
    // JSON, whatever the route meant to send (a stream that failed before its first byte).
    reply.type('application/json; charset=utf-8');
    reply.code(status).send({ error: { code, message, ...wireFields(err) } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url}` } });
  });

  // Counted down on the response's 'close', which fires also when the client hung up mid-request
  // (a killed agent's long poll) — onResponse does not, and the gauge would leak.
  app.addHook('onRequest', async (req, reply) => {
    ctx.metrics.inFlight.inc();
    const started = performance.now();
    reply.raw.once('close', () => {
      ctx.metrics.inFlight.dec();
      // The route's template, never its URL: ids stay out of the labels.
      const route = req.routeOptions.url ?? 'unmatched';
      const labels = { method: req.method, route, status: String(reply.statusCode) };
      ctx.metrics.httpDuration.observe(labels, (performance.now() - started) / 1000);
    });
  });
  app.get('/healthz', async () => ({ ok: true }));
  // The agent's side of the protocol: on both surfaces.
  agentRoutes(app, ctx);
  jobRoutes(app, ctx);
  jobArtifactRoutes(app, ctx);
  // A scope of its own: its archive content type reaches the route as a stream.
  app.register(async (scope) => cacheRoutes(scope, ctx));
  if (surface === 'agent') return app;

  app.get('/metrics', async (req, reply) => {
    if (!(ctx.metricsLoopback && isLoopback(req.ip) && !req.headers.authorization)) {
      ctx.auth.requireScope(await authenticate(ctx, req, ['adm', 'pat']), 'metrics:read');
    }
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
  runRoutes(app, ctx);
  adminRoutes(app, ctx);
  fleetRoutes(app, ctx);
  runArtifactRoutes(app, ctx);
  variableGroupRoutes(app, ctx);
  repositoryRoutes(app, ctx);
  webRoutes(app, ctx);
  return app;
}

/**
 * A client on this machine's loopback. Unix-socket clients have no address and are not: they
 * are the fleet's containers.
 */
function isLoopback(ip: string | undefined): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1';
}

/** One place maps domain errors to HTTP: domains never speak HTTP themselves. */
function classify(err: unknown): [number, string, string] {
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const field = issue?.path.join('.') || '(body)';
    return [400, 'invalid_request', `${field}: ${issue?.message ?? 'invalid'}`];
  }
  if (err instanceof SlipwayError) {
    const status = httpStatusOf(err);
    if (status < 500)
      return [status, err.code ?? 'error', err instanceof AuthError ? err.reason : err.message];
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (typeof e.statusCode === 'number' && e.statusCode < 500) {
    return [e.statusCode, (e.code ?? 'bad_request').toLowerCase(), e.message ?? 'bad request'];
  }
  return [500, 'internal', 'internal error'];
}

/**
 * The fields a client acts on besides the code (a log gap's stored length, to resend from
 * there). Only what the caller sent or may know: never a secret, never another job's state.
 */
function wireFields(err: unknown): Record<string, string | number> {
  if (err instanceof LogGapError) return { offset: err.offset, length: err.length };
  if (err instanceof LeaseLostError) return { jobId: err.jobId, epoch: err.epoch };
  if (err instanceof ClaimLostError) return { jobId: err.jobId };
  return {};
}
