import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  API_PREFIX,
  createRunRequest,
  listRunsQuery,
  poolQuery,
  rerunRequest,
} from '../../protocol/index.js';
import { ValidationError } from '../../shared/errors.js';
import { authenticate, clientGone, type ServerContext } from '../context.js';
import { LOG_PAGE_BYTES } from '../services/index.js';

/** Largest workspace archive accepted (compressed). */
export const MAX_WORKSPACE_BYTES = 256 * 1024 * 1024;

const count = z.coerce.number().int().min(0);
const feedQuery = z.object({ after: count.default(0), waitMs: count.default(0) });
/** `step=-1` is the job-level lines (setup, teardown); no step, the whole attempt's log. */
const logQuery = z.object({ attempt: count.optional(), step: z.coerce.number().int().min(-1).optional() });

type Id = { Params: { id: string } };

export function runRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const canWrite = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    ctx.auth.requireScope(cred, 'runs:write');
  };
  const canRead = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    if (!cred.scopes.includes('runs:write')) ctx.auth.requireScope(cred, 'runs:read');
  };

  app.put(`${API_PREFIX}/workspaces`, { bodyLimit: MAX_WORKSPACE_BYTES }, async (req, reply) => {
    await canWrite(req);
    if (!Buffer.isBuffer(req.body)) {
      throw new ValidationError(
        'a workspace is a gzip-compressed tar archive: send it as application/gzip or application/octet-stream',
      );
    }
    const stored = await ctx.runService.uploadWorkspace(req.body);
    reply.code(201);
    return stored;
  });

  app.post(`${API_PREFIX}/runs`, async (req, reply) => {
    await canWrite(req);
    const body = createRunRequest.parse(req.body);
    const view = await ctx.runService.create(body);
    reply.code(201);
    return view;
  });

  app.get(`${API_PREFIX}/runs`, async (req) => {
    await canRead(req);
    const { limit, ...filter } = listRunsQuery.parse(req.query);
    return ctx.runService.list(limit, filter);
  });

  app.get<Id>(`${API_PREFIX}/runs/:id`, async (req) => {
    await canRead(req);
    return ctx.runService.view(req.params.id);
  });

  // The run's feed, long-polled: returns at once when there is news after `after`, else waits.
  app.get<Id>(`${API_PREFIX}/runs/:id/events`, async (req, reply) => {
    await canRead(req);
    const page = feedQuery.parse(req.query);
    return ctx.runService.feed(req.params.id, page, clientGone(reply));
  });

  // The same feed as frames of raw bytes, streamed (`feedFrame`): log text is never put in JSON.
  app.get<Id>(`${API_PREFIX}/runs/:id/stream`, async (req, reply) => {
    await canRead(req);
    const { after } = feedQuery.parse(req.query);
    const frames = await ctx.runService.feedStream(req.params.id, after, clientGone(reply));
    reply.header('content-type', 'application/octet-stream');
    // Pulled as the client reads: memory stays bounded however fast the log grows.
    return reply.send(Readable.from(frames, { objectMode: false }));
  });

  app.post<Id>(`${API_PREFIX}/runs/:id/cancel`, async (req) => {
    await canWrite(req);
    return ctx.runService.cancel(req.params.id);
  });

  // A new run of the same plan and workspace; `failedOnly` re-runs what failed and what follows it.
  app.post<Id>(`${API_PREFIX}/runs/:id/rerun`, async (req, reply) => {
    await canWrite(req);
    const { failedOnly } = rerunRequest.parse(req.body ?? {});
    const view = await ctx.runService.rerun(req.params.id, failedOnly);
    reply.code(201);
    return view;
  });

  // Every queued job with why it waits, and the jobs that failed because nothing could serve them.
  app.get(`${API_PREFIX}/queue`, async (req) => {
    await canRead(req);
    const { pool } = poolQuery.parse(req.query);
    return ctx.queue.view(pool);
  });

  app.get<Id>(`${API_PREFIX}/jobs/:id/log`, async (req, reply) => {
    await canRead(req);
    const which = logQuery.parse(req.query);
    const pages = await ctx.jobService.openLog(req.params.id, which);
    reply.header('content-type', 'text/plain; charset=utf-8');
    // Pulled as the client reads: memory stays bounded whatever the log's size.
    return reply.send(Readable.from(pages, { objectMode: false, highWaterMark: LOG_PAGE_BYTES }));
  });
}
