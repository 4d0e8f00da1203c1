import type { FastifyInstance, FastifyReply } from 'fastify';
import { API_PREFIX } from '../../protocol/schemas.js';
import {
  ConflictError,
  ForbiddenError,
  LeaseLostError,
  LogGapError,
  NotFoundError,
  ValidationError,
} from '../../shared/errors.js';
import type { TokenRow } from '../../store/types.js';
import { authenticate, type ServerContext } from '../context.js';

/** Largest artifact accepted (compressed). */
export const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024;

type Req = { Params: { id: string; name?: string } };

/**
 * Pipeline artifacts, scoped to their run: a running job publishes and downloads with its lease
 * token (the agent's `publish` and `download` steps); people list and fetch them with a read
 * token. The step token that scripts see opens none of them: it reads the workspace only.
 */
export function artifactRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const runningJob = async (cred: TokenRow, jobId: string) => {
    if (cred.jobId !== jobId) throw new ForbiddenError('this token belongs to another job');
    const job = await ctx.store.getJob(jobId);
    if (!job) throw new NotFoundError('job', jobId);
    if (job.status !== 'running' || job.attempt !== cred.epoch) {
      throw new LeaseLostError(jobId, cred.epoch!);
    }
    return job;
  };
  const send = async (reply: FastifyReply, runId: string, name: string) => {
    const stream = await ctx.artifacts.open(runId, name);
    if (!stream) throw new NotFoundError('artifact', name);
    reply.header('content-type', 'application/gzip');
    return reply.send(stream);
  };

  app.put<Req>(
    `${API_PREFIX}/jobs/:id/artifacts/:name`,
    { bodyLimit: MAX_ARTIFACT_BYTES },
    async (req, reply) => {
      const job = await runningJob(await authenticate(ctx, req, ['job']), req.params.id);
      // Names are listed in clear and kept as file names; the agent refuses these already.
      const mask = await ctx.scheduler.runSecretMask(job.runId);
      if (mask(req.params.name!) !== req.params.name)
        throw new ValidationError('the artifact name contains a secret; choose another name');
      const stored = await ctx.artifacts.put(job.runId, req.params.name!, req.body as Buffer);
      reply.code(201);
      return stored;
    },
  );

  app.get<Req>(`${API_PREFIX}/jobs/:id/artifacts`, async (req) => {
    const job = await runningJob(await authenticate(ctx, req, ['job']), req.params.id);
    return ctx.artifacts.list(job.runId);
  });

  app.get<Req>(`${API_PREFIX}/jobs/:id/artifacts/:name`, async (req, reply) => {
    const job = await runningJob(await authenticate(ctx, req, ['job']), req.params.id);
    return send(reply, job.runId, req.params.name!);
  });

  const canRead = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    if (!cred.scopes.includes('runs:write')) ctx.auth.requireScope(cred, 'runs:read');
  };
  const findRun = async (idOrNumber: string) => {
    const run = /^\d+$/.test(idOrNumber)
      ? await ctx.store.getRunByNumber(Number(idOrNumber))
      : await ctx.store.getRun(idOrNumber);
    if (!run) throw new NotFoundError('run', idOrNumber);
    return run;
  };

  app.get<Req>(`${API_PREFIX}/runs/:id/artifacts`, async (req) => {
    await canRead(req);
    return ctx.artifacts.list((await findRun(req.params.id)).id);
  });

  app.get<Req>(`${API_PREFIX}/runs/:id/artifacts/:name`, async (req, reply) => {
    await canRead(req);
    return send(reply, (await findRun(req.params.id)).id, req.params.name!);
  });
}
