import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  createPoolRequest,
  createTokenRequest,
  listAgentsQuery,
  poolQuery,
  updatePoolRequest,
} from '../../protocol/index.js';
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
    const token = await ctx.tokens.create(createTokenRequest.parse(req.body));
    reply.code(201);
    return token;
  });

  app.delete<{ Params: { id: string } }>(`${API_PREFIX}/tokens/:id`, async (req, reply) => {
    await admin(req);
    await ctx.tokens.revoke(req.params.id);
    return reply.code(204).send();
  });

  app.post(`${API_PREFIX}/pools`, async (req, reply) => {
    await admin(req);
    const pool = await ctx.pools.create(createPoolRequest.parse(req.body));
    reply.code(201);
    return pool;
  });

  app.patch<{ Params: { pool: string } }>(`${API_PREFIX}/pools/:pool`, async (req) => {
    await admin(req);
    return ctx.pools.update(req.params.pool, updatePoolRequest.parse(req.body));
  });

  app.get(`${API_PREFIX}/pools`, async (req) => {
    await authenticate(ctx, req, ['adm', 'pat']);
    return ctx.pools.list();
  });

  // Capabilities are the agents' host environment values: admin or `agents:read` only.
  app.get(`${API_PREFIX}/agents`, async (req) => {
    ctx.auth.requireScope(await authenticate(ctx, req, ['adm', 'pat']), 'agents:read');
    const { pool } = listAgentsQuery.parse(req.query);
    return ctx.pools.listAgents(pool);
  });

  // What each fleet runs and its recent scale events; its capabilities are like an agent's.
  app.get(`${API_PREFIX}/fleets`, async (req) => {
    ctx.auth.requireScope(await authenticate(ctx, req, ['adm', 'pat']), 'agents:read');
    const { pool } = poolQuery.parse(req.query);
    return ctx.pools.listFleets(pool);
  });

  app.delete<{ Params: { pool: string; name: string } }>(
    `${API_PREFIX}/pools/:pool/agents/:name`,
    async (req, reply) => {
      await admin(req);
      await ctx.pools.removeAgent(req.params.pool, req.params.name);
      return reply.code(204).send();
    },
  );
}
