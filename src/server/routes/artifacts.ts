import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { API_PREFIX } from '../../protocol/index.js';
import { ValidationError } from '../../shared/errors.js';
import { authenticate, type ServerContext } from '../context.js';

/** Largest artifact accepted (compressed). */
export const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024;

type Req = { Params: { id: string } };
type NamedReq = { Params: { id: string; name: string } };

/**
 * Pipeline artifacts, scoped to their run: a running job publishes and downloads with its lease
 * token (the agent's `publish` and `download` steps, these routes); people list and fetch them
 * with a read token (`runArtifactRoutes`). The step token that scripts see opens none of them:
 * it reads the workspace only.
 */
export function jobArtifactRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.put<NamedReq>(
    `${API_PREFIX}/jobs/:id/artifacts/:name`,
    { bodyLimit: MAX_ARTIFACT_BYTES },
    async (req, reply) => {
      const cred = await authenticate(ctx, req, ['job']);
      const archive = gzipBody(req.body);
      const stored = await ctx.artifactService.publish(cred, req.params.id, req.params.name, archive);
      reply.code(201);
      return stored;
    },
  );

  app.get<Req>(`${API_PREFIX}/jobs/:id/artifacts`, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    return ctx.artifactService.listForJob(cred, req.params.id);
  });

  app.get<NamedReq>(`${API_PREFIX}/jobs/:id/artifacts/:name`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['job']);
    return send(reply, await ctx.artifactService.openForJob(cred, req.params.id, req.params.name));
  });
}

/** A run's artifacts as people list and fetch them, with a token that may read runs. */
export function runArtifactRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const canRead = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    if (!cred.scopes.includes('runs:write')) ctx.auth.requireScope(cred, 'runs:read');
  };

  app.get<Req>(`${API_PREFIX}/runs/:id/artifacts`, async (req) => {
    await canRead(req);
    return ctx.artifactService.listForRun(req.params.id);
  });

  app.get<NamedReq>(`${API_PREFIX}/runs/:id/artifacts/:name`, async (req, reply) => {
    await canRead(req);
    return send(reply, await ctx.artifactService.openForRun(req.params.id, req.params.name));
  });
}

function send(reply: FastifyReply, archive: Readable): FastifyReply {
  reply.header('content-type', 'application/gzip');
  return reply.send(archive);
}

/** The archive sent, as the content-type parsers hand it over; anything else is refused. */
function gzipBody(body: unknown): Buffer {
  if (!Buffer.isBuffer(body)) {
    throw new ValidationError(
      'an artifact is a gzip-compressed tar archive: send it as application/gzip or application/octet-stream',
    );
  }
  return body;
}
