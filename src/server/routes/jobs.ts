import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  appendLogQuery,
  completeJobRequest,
  heartbeatRequest,
  MAX_LOG_CHUNK_BYTES,
  stepUpdateRequest,
} from '../../protocol/index.js';
import { ValidationError } from '../../shared/errors.js';
import { authenticate, clientGone, type ServerContext } from '../context.js';

type JobReq = { Params: { id: string } };

/** What an agent does while it holds a job's lease. Every write names its epoch; stale ones get 409. */
export function jobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<JobReq>(`${API_PREFIX}/jobs/:id/heartbeat`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['job']);
    const beat = heartbeatRequest.parse(req.body);
    return ctx.jobService.heartbeat(cred, req.params.id, beat, clientGone(reply));
  });

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/steps`, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    await ctx.jobService.updateStep(cred, req.params.id, stepUpdateRequest.parse(req.body));
    return { ok: true };
  });

  // The body is the log bytes themselves; where they go is in the query.
  app.post<JobReq>(`${API_PREFIX}/jobs/:id/logs`, { bodyLimit: MAX_LOG_CHUNK_BYTES }, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    const at = appendLogQuery.parse(req.query);
    if (!Buffer.isBuffer(req.body)) {
      throw new ValidationError('a log append is the raw log bytes: send them as application/octet-stream');
    }
    return ctx.jobService.appendLog(cred, req.params.id, at, req.body);
  });

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/complete`, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    await ctx.jobService.complete(cred, req.params.id, completeJobRequest.parse(req.body));
    return { ok: true };
  });

  // The one route a step token opens: the run's own workspace, while the attempt runs.
  app.get<JobReq>(`${API_PREFIX}/jobs/:id/workspace`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['job', 'stp']);
    const archive = await ctx.jobService.openWorkspace(cred, req.params.id);
    reply.header('content-type', 'application/gzip');
    return reply.send(archive);
  });
}
