import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  CACHE_ARCHIVE_TYPE,
  cacheLookupRequest,
  cacheReserveRequest,
  cacheSaveQuery,
} from '../../protocol/index.js';
import { ValidationError } from '../../shared/errors.js';
import { authenticate, type ServerContext } from '../context.js';

type JobReq = { Params: { id: string } };
type EntryReq = { Params: { id: string; entry: string } };

/**
 * Caches, for the running attempt of a job (its lease token; the step token scripts see opens
 * none of them). Archives stream both ways: this scope takes the tar body as the request
 * stream, never as one buffer, and the blob store checks its size and checksum as it lands.
 */
export async function cacheRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.addContentTypeParser(CACHE_ARCHIVE_TYPE, (_req, payload, done) => done(null, payload));

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/caches/lookup`, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    const { keys } = cacheLookupRequest.parse(req.body);
    return { entry: await ctx.caches.lookup(cred, req.params.id, keys) };
  });

  app.post<JobReq>(`${API_PREFIX}/jobs/:id/caches/reserve`, async (req) => {
    const cred = await authenticate(ctx, req, ['job']);
    const { key, size } = cacheReserveRequest.parse(req.body);
    return ctx.caches.reserve(cred, req.params.id, key, size);
  });

  app.put<JobReq>(`${API_PREFIX}/jobs/:id/caches`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['job']);
    const q = cacheSaveQuery.parse(req.query);
    const saved = await ctx.caches.save(cred, req.params.id, q, archiveBody(req.body));
    reply.code(saved.saved ? 201 : 200);
    return saved;
  });

  app.get<EntryReq>(`${API_PREFIX}/jobs/:id/caches/entries/:entry`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['job']);
    const archive = await ctx.caches.open(cred, req.params.id, req.params.entry);
    reply.header('content-type', CACHE_ARCHIVE_TYPE);
    return reply.send(archive);
  });
}

function archiveBody(body: unknown): IncomingMessage {
  if (body === null || typeof body !== 'object' || typeof (body as IncomingMessage).pipe !== 'function') {
    throw new ValidationError(`a cache archive is an uncompressed tar sent as ${CACHE_ARCHIVE_TYPE}`);
  }
  return body as IncomingMessage;
}
