import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  createTicketRequest,
  failJobRequest,
  fleetHeartbeatRequest,
  type PoolDemand,
} from '../../protocol/schemas.js';
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import { authenticate, clientGone, type ServerContext } from '../context.js';
import { formatDemand } from '../demands.js';
import { needsContainerRuntime } from '../dispatcher.js';

type PoolReq = { Params: { pool: string } };

/** What a fleet manager needs: the pool's demand, one-use tickets, presence, draining. Admin only. */
export function fleetRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const admin = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    ctx.auth.requireScope(cred, 'admin');
  };
  const pool = async (name: string) => {
    const p = await ctx.store.getPool(name);
    if (!p) throw new NotFoundError('pool', name);
    return p;
  };

  app.post<PoolReq>(`${API_PREFIX}/pools/:pool/tickets`, async (req, reply) => {
    await admin(req);
    await pool(req.params.pool);
    const body = createTicketRequest.parse(req.body);
    if (body.jobId) {
      const job = await ctx.store.getJob(body.jobId);
      if (!job || job.pool !== req.params.pool)
        throw new ValidationError(`job ${body.jobId} is not in pool '${req.params.pool}'`);
    }
    const issued = await ctx.auth.issue('jit', {
      name: `ticket ${body.name}`,
      pool: req.params.pool,
      agentName: body.name,
      jobId: body.jobId ?? null,
      ttlMs: body.ttlSeconds * 1000,
    });
    reply.code(201);
    return { ticket: issued.token, expiresAt: new Date(issued.expiresAt!).toISOString() };
  });

  app.put<PoolReq>(`${API_PREFIX}/pools/:pool/fleet`, async (req) => {
    await admin(req);
    await pool(req.params.pool);
    const body = fleetHeartbeatRequest.parse(req.body);
    await ctx.store.upsertFleet({
      pool: req.params.pool,
      id: body.id,
      capabilities: body.capabilities,
      lastSeenAt: ctx.clock.now(),
    });
    void ctx.scheduler.poolChanged(req.params.pool);
    return { ok: true };
  });

  // Long-polled with `waitMs`: answers at once when work is queued, else when some arrives.
  app.get<PoolReq & { Querystring: { waitMs?: string } }>(
    `${API_PREFIX}/pools/:pool/demand`,
    async (req, reply) => {
      await admin(req);
      await pool(req.params.pool);
      const waitMs = Math.min(Math.max(Number(req.query.waitMs ?? 0) || 0, 0), 30_000);
      let demand = await poolDemand(ctx, req.params.pool);
      if (demand.queued.length === 0 && waitMs > 0) {
        await ctx.notifier.wait(`pool:${req.params.pool}`, waitMs, clientGone(reply));
        demand = await poolDemand(ctx, req.params.pool);
      }
      return demand;
    },
  );

  // A fleet that cannot start an agent for a job (its image will not start, or the job asks for
  // what the fleet refuses) fails the job with the reason, instead of leaving it queued forever.
  app.post<{ Params: { pool: string; id: string } }>(
    `${API_PREFIX}/pools/:pool/jobs/:id/fail`,
    async (req) => {
      await admin(req);
      const { reason } = failJobRequest.parse(req.body);
      const job = await ctx.store.getJob(req.params.id);
      if (!job || job.pool !== req.params.pool) throw new NotFoundError('job', req.params.id);
      await ctx.scheduler.failQueued(job.id, reason);
      return { ok: true };
    },
  );

  app.post<{ Params: { pool: string; name: string } }>(
    `${API_PREFIX}/pools/:pool/agents/:name/drain`,
    async (req) => {
      await admin(req);
      const agent = await ctx.store.findAgent(req.params.pool, req.params.name);
      if (!agent) throw new NotFoundError('agent', `${req.params.pool}/${req.params.name}`);
      await ctx.store.setAgentDraining(agent.id, true);
      ctx.dispatcher.release(agent.id);
      const busy = (await ctx.store.listJobsByStatus('running', req.params.pool)).some(
        (j) => j.agentId === agent.id,
      );
      return { busy };
    },
  );
}

async function poolDemand(ctx: ServerContext, pool: string): Promise<PoolDemand> {
  const queued = await ctx.store.listJobsByStatus('queued', pool);
  const running = await ctx.store.listJobsByStatus('running', pool);
  const agents = await ctx.store.listAgents(pool);
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    queued: queued
      .filter((j) => !j.cancelRequested)
      .map((j) => ({
        jobId: j.id,
        runId: j.runId,
        name: j.name,
        image: needsContainerRuntime(j) ? (j.plan.container?.image ?? null) : null,
        services: j.plan.services,
        docker: j.plan.docker,
        env: j.plan.container?.env ?? {},
        demands: j.plan.pool.demands.map(formatDemand),
        queuedAt: iso(j.queuedAt),
      })),
    agents: agents.map((a) => ({
      name: a.name,
      busy: running.some((j) => j.agentId === a.id),
      draining: a.draining,
      boundJobId: a.boundJobId,
      polling: ctx.dispatcher.isPolling(a.id),
    })),
    running: running.map((j) => j.id),
  };
}
