import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  createTicketRequest,
  failJobRequest,
  fleetHeartbeatRequest,
  poolDemandQuery,
} from '../../protocol/index.js';
import { authenticate, clientGone, type ServerContext } from '../context.js';

type PoolReq = { Params: { pool: string } };

/** What a fleet manager needs: the pool's demand, one-use tickets, presence, draining. Admin only. */
export function fleetRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const admin = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    ctx.auth.requireScope(cred, 'admin');
  };

  app.post<PoolReq>(`${API_PREFIX}/pools/:pool/tickets`, async (req, reply) => {
    await admin(req);
    const ticket = await ctx.pools.createTicket(req.params.pool, createTicketRequest.parse(req.body));
    reply.code(201);
    return ticket;
  });

  app.put<PoolReq>(`${API_PREFIX}/pools/:pool/fleet`, async (req) => {
    await admin(req);
    await ctx.pools.fleetPresent(req.params.pool, fleetHeartbeatRequest.parse(req.body));
    return { ok: true };
  });

  // Long-polled with `waitMs`: answers at once when work is queued, else when some arrives.
  app.get<PoolReq>(`${API_PREFIX}/pools/:pool/demand`, async (req, reply) => {
    await admin(req);
    const { waitMs } = poolDemandQuery.parse(req.query);
    return ctx.pools.demand(req.params.pool, waitMs, clientGone(reply));
  });

  // A fleet that cannot start an agent for a job (its image will not start, or the job asks for
  // what the fleet refuses) fails the job with the reason, instead of leaving it queued forever.
  app.post<{ Params: { pool: string; id: string } }>(
    `${API_PREFIX}/pools/:pool/jobs/:id/fail`,
    async (req) => {
      await admin(req);
      const { reason } = failJobRequest.parse(req.body);
      await ctx.pools.failQueuedJob(req.params.pool, req.params.id, reason);
      return { ok: true };
    },
  );

  app.post<{ Params: { pool: string; name: string } }>(
    `${API_PREFIX}/pools/:pool/agents/:name/drain`,
    async (req) => {
      await admin(req);
      return ctx.pools.drainAgent(req.params.pool, req.params.name);
    },
  );
}
