import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { API_PREFIX, createRunRequest, type RunView } from '../../protocol/schemas.js';
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import type { RunRow } from '../../store/types.js';
import { authenticate, clientGone, type ServerContext } from '../context.js';

/** Events in one page of a run's feed, and about how many bytes of them: a log-heavy run pages. */
export const EVENTS_PAGE_LIMIT = 1000;
export const EVENTS_PAGE_BYTES = 1024 * 1024;
/** How much of a log is read from the store at a time when it is served. */
const LOG_PAGE_BYTES = 64 * 1024;

/** Largest workspace archive accepted (compressed). */
export const MAX_WORKSPACE_BYTES = 256 * 1024 * 1024;

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
    const body = req.body;
    const stored = await ctx.workspaces.put(body);
    await ctx.store.insertWorkspace(stored.id, stored.size, ctx.clock.now());
    reply.code(201);
    return stored;
  });

  app.post(`${API_PREFIX}/runs`, async (req, reply) => {
    await canWrite(req);
    const body = createRunRequest.parse(req.body);
    const run = await ctx.scheduler.createRun(body);
    reply.code(201);
    return runView(ctx, run);
  });

  app.get<{ Querystring: { limit?: string } }>(`${API_PREFIX}/runs`, async (req) => {
    await canRead(req);
    const runs = await ctx.store.listRuns(Math.min(Number(req.query.limit ?? 50) || 50, 500));
    return Promise.all(runs.map((r) => runView(ctx, r)));
  });

  app.get<{ Params: { id: string } }>(`${API_PREFIX}/runs/:id`, async (req) => {
    await canRead(req);
    return runView(ctx, await findRun(ctx, req.params.id));
  });

  // The run's feed, long-polled: returns at once when there is news after `after`, else waits.
  app.get<{ Params: { id: string }; Querystring: { after?: string; waitMs?: string } }>(
    `${API_PREFIX}/runs/:id/events`,
    async (req, reply) => {
      await canRead(req);
      const run = await findRun(ctx, req.params.id);
      const after = Number(req.query.after ?? 0) || 0;
      const waitMs = Math.min(Math.max(Number(req.query.waitMs ?? 0) || 0, 0), 30_000);
      let events = await ctx.store.listEvents(run.id, after, EVENTS_PAGE_LIMIT, EVENTS_PAGE_BYTES);
      if (events.length === 0 && waitMs > 0) {
        const current = await ctx.store.getRun(run.id);
        if (current?.status !== 'completed') {
          await ctx.notifier.wait(`run:${run.id}`, waitMs, clientGone(reply));
          events = await ctx.store.listEvents(run.id, after, EVENTS_PAGE_LIMIT, EVENTS_PAGE_BYTES);
        }
      }
      const last = events.at(-1)?.seq ?? after;
      const done =
        (await ctx.store.getRun(run.id))?.status === 'completed' &&
        (await ctx.store.listEvents(run.id, last, 1)).length === 0;
      return {
        events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
        next: last,
        done,
      };
    },
  );

  app.post<{ Params: { id: string } }>(`${API_PREFIX}/runs/:id/cancel`, async (req) => {
    await canWrite(req);
    const run = await findRun(ctx, req.params.id);
    await ctx.scheduler.cancelRun(run.id);
    return runView(ctx, (await ctx.store.getRun(run.id))!);
  });

  app.get<{ Params: { id: string }; Querystring: { attempt?: string; step?: string } }>(
    `${API_PREFIX}/jobs/:id/log`,
    async (req, reply) => {
      await canRead(req);
      const job = await ctx.store.getJob(req.params.id);
      if (!job) throw new NotFoundError('job', req.params.id);
      const attempt = Number(req.query.attempt ?? job.attempt);
      const step = req.query.step === undefined ? undefined : Number(req.query.step);
      reply.header('content-type', 'text/plain; charset=utf-8');
      // Streamed a page at a time, pulled as the client reads: memory stays bounded whatever the
      // log's size and however many read it at once.
      const store = ctx.store;
      async function* pages() {
        let after = 0;
        for (;;) {
          const page = await store.readLogPage(job!.id, attempt, step, after, LOG_PAGE_BYTES);
          if (!page) return;
          after = page.next;
          yield page.text;
        }
      }
      return reply.send(Readable.from(pages(), { objectMode: false, highWaterMark: LOG_PAGE_BYTES }));
    },
  );
}

/** Runs are addressed by id or by number (`slipway cancel 12`). */
async function findRun(ctx: ServerContext, idOrNumber: string): Promise<RunRow> {
  const run = /^\d+$/.test(idOrNumber)
    ? await ctx.store.getRunByNumber(Number(idOrNumber))
    : await ctx.store.getRun(idOrNumber);
  if (!run) throw new NotFoundError('run', idOrNumber);
  return run;
}

export async function runView(ctx: ServerContext, run: RunRow): Promise<RunView> {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  const jobs = await ctx.store.listJobs(run.id);
  return {
    id: run.id,
    number: run.number,
    pipelineFile: run.pipelineFile,
    status: run.status,
    result: run.result,
    buildNumber: run.buildNumber ?? String(run.number),
    tags: run.tags,
    createdAt: new Date(run.createdAt).toISOString(),
    finishedAt: iso(run.finishedAt),
    jobs: await Promise.all(
      jobs.map(async (j) => ({
        id: j.id,
        name: j.name,
        displayName: j.displayName,
        status: j.status,
        result: j.result,
        reason: j.reason,
        attempt: j.attempt,
        agentName: j.agentName,
        dependsOn: j.dependsOn,
        outputs: j.outputs,
        queuedAt: iso(j.queuedAt),
        startedAt: iso(j.startedAt),
        finishedAt: iso(j.finishedAt),
        steps: (await ctx.store.listSteps(j.id, j.attempt)).map((s) => ({
          index: s.idx,
          name: s.name,
          state: s.state,
          result: s.result,
          reason: s.reason,
          startedAt: iso(s.startedAt),
          finishedAt: iso(s.finishedAt),
        })),
      })),
    ),
  };
}
