import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { API_PREFIX } from '../../protocol/index.js';
import { ForbiddenError } from '../../shared/errors.js';
import {
  CSRF_HEADER,
  clearedSessionCookie,
  crossSiteRefusal,
  readSessionCookie,
  SECURITY_HEADERS,
  SESSION_TTL_MS,
  sessionCookie,
  WebAssets,
} from '../../web/index.js';
import { authenticate, type ServerContext } from '../context.js';

const signInRequest = z.object({ token: z.string().min(1).max(500) });

/** The UI's paths: each answers the same page, which then shows what the path names. */
const PAGES = ['/', '/signin', '/runs', '/runs/*', '/queue', '/agents'];

/**
 * The web UI: its page and files, the browser session (a cookie that stands for a bearer
 * token on every route, refused for cross-site state changes) and the headers every response
 * of the server carries.
 */
export function webRoutes(app: FastifyInstance, ctx: ServerContext, assets = new WebAssets()): void {
  const byCookie = new WeakSet<FastifyRequest>();

  app.addHook('onSend', async (_req, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  });

  // A bearer header always wins; without one, the session cookie stands for it.
  app.addHook('onRequest', async (req) => {
    if (req.headers.authorization) return;
    const token = readSessionCookie(req.headers.cookie);
    if (!token) return;
    refuseCrossSite(req);
    req.headers.authorization = `Bearer ${token}`;
    byCookie.add(req);
  });

  app.post(`${API_PREFIX}/session`, async (req, reply) => {
    // Signing in changes which account the browser uses: only the UI's own page may do it.
    refuseCrossSite(req);
    const { token } = signInRequest.parse(req.body);
    req.headers.authorization = `Bearer ${token}`;
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    const session = await ctx.auth.startSession(cred, SESSION_TTL_MS);
    reply.header(
      'set-cookie',
      sessionCookie(session.token, session.expiresAt - ctx.clock.now(), secure(req)),
    );
    reply.code(201);
    return sessionView(cred.kind === 'adm' ? ['admin'] : cred.scopes, session.expiresAt);
  });

  app.get(`${API_PREFIX}/session`, async (req) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    return sessionView(cred.kind === 'adm' ? ['admin'] : cred.scopes, cred.expiresAt);
  });

  app.delete(`${API_PREFIX}/session`, async (req, reply) => {
    reply.header('set-cookie', clearedSessionCookie(secure(req)));
    // Only a cookie's own session is revoked: a script's bearer token is never signed out here.
    if (byCookie.has(req)) {
      const cred = await authenticate(ctx, req, ['pat']).catch(() => undefined);
      if (cred?.name === 'web session') await ctx.tokens.revoke(cred.id);
    }
    return reply.code(204).send();
  });

  for (const path of PAGES) {
    app.get(path, async (_req, reply) => sendAsset(reply, await assets.get('index.html'), 'no-cache'));
  }
  app.get<{ Params: { name: string } }>('/assets/:name', async (req, reply) =>
    sendAsset(reply, await assets.get(req.params.name), 'no-cache'),
  );
}

function refuseCrossSite(req: FastifyRequest): void {
  const header = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const refusal = crossSiteRefusal({
    method: req.method,
    host: header('host'),
    origin: header('origin'),
    fetchSite: header('sec-fetch-site'),
    marked: header(CSRF_HEADER) !== undefined,
  });
  if (refusal) throw new ForbiddenError(refusal);
}

function secure(req: FastifyRequest): boolean {
  return req.protocol === 'https';
}

function sessionView(scopes: string[], expiresAt: number | null) {
  return { scopes, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString() };
}

function sendAsset(reply: FastifyReply, asset: Awaited<ReturnType<WebAssets['get']>>, cache: string) {
  if (!asset) {
    return reply
      .code(404)
      .type('text/plain; charset=utf-8')
      .send('not found (is the web UI built? `npm run build` makes it)');
  }
  return reply.header('cache-control', cache).type(asset.contentType).send(asset.body);
}
