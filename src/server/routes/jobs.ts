import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  appendLogRequest,
  completeJobRequest,
  heartbeatRequest,
  MAX_LOG_CHUNK_BYTES,
  stepUpdateRequest,
} from '../../protocol/schemas.js';
import {
  ConflictError,
  ForbiddenError,
  LeaseLostError,
  LogGapError,
  NotFoundError,
  ValidationError,
} from '../../shared/errors.js';
import {
  DEFAULT_MAX_LOG_MIB,
  DEFAULT_MAX_STEP_LOG_MIB,
  type JobRow,
  type LogLimits,
  type PoolSettings,
  type TokenRow,
} from '../../store/types.js';
import { authenticate, clientGone, type ServerContext } from '../context.js';

type JobReq = { Params: { id: string } };

/** What an agent does while it holds a job's lease. Every write names its epoch; stale ones get 409. */
export function jobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post<JobReq>(`${API_PREFIX}/jobs/:id/heartbeat`, async (req, reply) => {
    const job = await leasedJob(ctx, await authenticate(ctx, req, ['job']), req.params.id);
    const { epoch, waitMs } = heartbeatRequest.parse(req.body);
    const until = await ctx.scheduler.heartbeat(job.id, epoch);
    if (until === null) throw new LeaseLostError(job.id, epoch);
    // Held open so that a cancel reaches the agent the moment it is asked for.
    if (!job.cancelRequested && waitMs > 0)
      await ctx.notifier.wait(`job:${job.id}`, waitMs, clientGone(reply));
    const cancel = await ctx.scheduler.isCancelRequested(job.id);
    return { cancel, leaseExpiresAt: new Date(until).toISOString() };
  });

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/steps`, async (req) => {
    const job = await leasedJob(ctx, await authenticate(ctx, req, ['job']), req.params.id);
    const update = stepUpdateRequest.parse(req.body);
    const mask = await ctx.scheduler.runSecretMask(job.runId);
    const body = {
      ...update,
      name: update.name && mask(update.name),
      reason: update.reason && mask(update.reason),
    };
    requireEpoch(job, body.epoch);
    const step = job.plan.steps[body.index];
    if (!step) throw new NotFoundError('step', String(body.index));
    const now = ctx.clock.now();
    const existing = (await ctx.store.listSteps(job.id, job.attempt)).find((s) => s.idx === body.index);
    await ctx.store.upsertStep({
      jobId: job.id,
      attempt: job.attempt,
      idx: body.index,
      name: body.name ?? existing?.name ?? step.displayName,
      state: body.state,
      result: body.result ?? null,
      reason: body.reason ?? null,
      startedAt: existing?.startedAt ?? now,
      finishedAt: body.state === 'completed' ? now : null,
    });
    await ctx.scheduler.jobEvent(
      job,
      {
        status: body.state,
        name: body.name ?? existing?.name ?? step.displayName,
        result: body.result ?? null,
        reason: body.reason ?? null,
      },
      body.index,
    );
    return { ok: true };
  });

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/logs`, async (req) => {
    const job = await leasedJob(ctx, await authenticate(ctx, req, ['job']), req.params.id);
    const body = appendLogRequest.parse(req.body);
    const data = Buffer.from(body.data, 'utf8');
    if (data.length > MAX_LOG_CHUNK_BYTES) {
      throw new ValidationError(`data: ${data.length} bytes; at most ${MAX_LOG_CHUNK_BYTES} per append`);
    }
    const out = await ctx.store.appendLog(
      { id: job.id, runId: job.runId, name: job.name },
      body.epoch,
      body.step,
      body.offset,
      data,
      ctx.clock.now(),
      logLimits((await ctx.store.getPool(job.pool))?.settings),
    );
    if (!out.ok) {
      if (out.reason === 'gap') throw new LogGapError(body.offset, out.length);
      throw new LeaseLostError(job.id, body.epoch);
    }
    if (out.appended) ctx.notifier.notify(`run:${job.runId}`);
    return out.truncated ? { length: out.length, truncated: true } : { length: out.length };
  });

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/complete`, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    const job = await boundJob(ctx, cred, req.params.id);
    const body = completeJobRequest.parse(req.body);
    await ctx.scheduler.complete(job.id, body.epoch, body.result, body.reason, body);
    return { ok: true };
  });

  // The one route a step token opens: the run's own workspace, while the attempt runs.
  app.get<JobReq>(`${API_PREFIX}/jobs/:id/workspace`, async (req, reply) => {
    const job = await leasedJob(ctx, await authenticate(ctx, req, ['job', 'stp']), req.params.id);
    const run = await ctx.store.getRun(job.runId);
    if (!run?.workspaceId) throw new NotFoundError('workspace of run', job.runId);
    reply.header('content-type', 'application/gzip');
    return reply.send(ctx.workspaces.open(run.workspaceId));
  });
}

/** The job a lease token is bound to; a token of one job can never touch another. */
async function boundJob(ctx: ServerContext, cred: TokenRow, jobId: string): Promise<JobRow> {
  if (cred.jobId !== jobId) throw new ForbiddenError('this token belongs to another job');
  const job = await ctx.store.getJob(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  return job;
}

async function leasedJob(ctx: ServerContext, cred: TokenRow, jobId: string): Promise<JobRow> {
  const job = await boundJob(ctx, cred, jobId);
  requireEpoch(job, cred.epoch ?? -1);
  return job;
}

function requireEpoch(job: JobRow, epoch: number): void {
  if (job.status !== 'running' || job.attempt !== epoch) {
    throw new LeaseLostError(job.id, epoch);
  }
}

const MIB = 1024 * 1024;

/** The pool's log caps, and the line the job's log gets where it was cut. */
export function logLimits(settings: PoolSettings | undefined): LogLimits {
  const job = settings?.maxLogMiB ?? DEFAULT_MAX_LOG_MIB;
  const step = settings?.maxStepLogMiB ?? DEFAULT_MAX_STEP_LOG_MIB;
  const mib = (bytes: number) => `${Number((bytes / MIB).toFixed(1))} MiB`;
  return {
    jobBytes: job * MIB,
    stepBytes: step * MIB,
    note: (scope, at) =>
      scope === 'step'
        ? `##[warning]log truncated at ${mib(at)} (pool limit: ${step} MiB per step, maxStepLogMiB); the rest of this step's output is not kept`
        : `##[warning]log truncated at ${mib(at)} for the job (pool limit: ${job} MiB per job, maxLogMiB); the rest of this job's output is not kept`,
  };
}
