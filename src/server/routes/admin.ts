import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  createPoolRequest,
  createTokenRequest,
  updatePoolRequest,
} from '../../protocol/schemas.js';
import { AgentBusyError, NotFoundError } from '../../shared/errors.js';
import { authenticate, type ServerContext } from '../context.js';

/** Pools, tokens and agent removal: the admin's side. */
export function adminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const admin = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    ctx.auth.requireScope(cred, 'admin');
    return cred;
  };

  app.post(`${API_PREFIX}/tokens`, async (req, reply) => {
    await admin(req);
    const body = createTokenRequest.parse(req.body);
    const issued = await ctx.auth.issue('pat', {
      name: body.name,
      scopes: body.scopes,
      ttlMs:
        body.expiresInSeconds !== undefined ? body.expiresInSeconds * 1000 : body.expiresInDays * 86_400_000,
    });
    ctx.logger.info({ tokenId: issued.id, scopes: body.scopes }, 'personal access token created');
    reply.code(201);
    return { id: issued.id, token: issued.token, expiresAt: new Date(issued.expiresAt!).toISOString() };
  });

  app.delete<{ Params: { id: string } }>(`${API_PREFIX}/tokens/:id`, async (req, reply) => {
    await admin(req);
    const n = await ctx.store.revokeTokens({ id: req.params.id }, ctx.clock.now());
    if (n === 0) throw new NotFoundError('token', req.params.id);
    return reply.code(204).send();
  });

  app.post(`${API_PREFIX}/pools`, async (req, reply) => {
    await admin(req);
    const body = createPoolRequest.parse(req.body);
    const pool = await ctx.store.createPool(body.name, body.settings, ctx.clock.now());
    reply.code(201);
    return poolSummary(ctx, pool.name);
  });

  // The settings given replace the pool's; the others stay. Fleets read them for every job.
  app.patch<{ Params: { pool: string } }>(`${API_PREFIX}/pools/:pool`, async (req) => {
    await admin(req);
    const { settings } = updatePoolRequest.parse(req.body);
    const pool = await ctx.store.getPool(req.params.pool);
    if (!pool) throw new NotFoundError('pool', req.params.pool);
    const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
    await ctx.store.updatePoolSettings(pool.name, { ...pool.settings, ...given });
    void ctx.scheduler.poolChanged(pool.name);
    return poolSummary(ctx, pool.name);
  });

  app.get(`${API_PREFIX}/pools`, async (req) => {
    await authenticate(ctx, req, ['adm', 'pat']);
    const pools = await ctx.store.listPools();
    return Promise.all(pools.map((p) => poolSummary(ctx, p.name)));
  });

  // Capabilities are the agents' host environment values: admin or `agents:read` only.
  app.get<{ Querystring: { pool?: string } }>(`${API_PREFIX}/agents`, async (req) => {
    ctx.auth.requireScope(await authenticate(ctx, req, ['adm', 'pat']), 'agents:read');
    const agents = await ctx.store.listAgents(req.query.pool);
    const running = await ctx.store.listJobsByStatus('running');
    return agents.map((a) => ({
      id: a.id,
      pool: a.pool,
      name: a.name,
      version: a.version,
      capabilities: a.capabilities,
      busy: running.some((j) => j.agentId === a.id),
      lastSeenAt: a.lastSeenAt === null ? null : new Date(a.lastSeenAt).toISOString(),
    }));
  });

  app.delete<{ Params: { pool: string; name: string } }>(
    `${API_PREFIX}/pools/:pool/agents/:name`,
    async (req, reply) => {
      await admin(req);
      const agent = await ctx.store.findAgent(req.params.pool, req.params.name);
      if (!agent) throw new NotFoundError('agent', `${req.params.pool}/${req.params.name}`);
      if (!(await ctx.store.deleteAgent(agent.id, ctx.clock.now()))) {
        throw new AgentBusyError(`agent '${agent.name}' is running a job; cancel it or wait`);
      }
      await ctx.scheduler.poolChanged(agent.pool);
      return reply.code(204).send();
    },
  );
}

async function poolSummary(ctx: ServerContext, name: string) {
  const pool = (await ctx.store.getPool(name))!;
  const agents = await ctx.store.listAgents(name);
  const running = await ctx.store.listJobsByStatus('running', name);
  const busy = agents.filter((a) => running.some((j) => j.agentId === a.id)).length;
  const online = ctx.dispatcher.waiting(name);
  return {
    name: pool.name,
    settings: pool.settings,
    createdAt: new Date(pool.createdAt).toISOString(),
    agents: { online: online + busy, busy, offline: Math.max(0, agents.length - online - busy) },
    queued: (await ctx.store.listJobsByStatus('queued', name)).length,
  };
}
