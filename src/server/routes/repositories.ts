import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { API_PREFIX, addRepositoryRequest, forgeName, repositoryRunRequest } from '../../protocol/index.js';
import { ValidationError } from '../../shared/errors.js';
import { authenticate, type ServerContext } from '../context.js';

/** Largest webhook delivery accepted; GitHub caps its own at 25 MB, pushes are far smaller. */
export const MAX_HOOK_BYTES = 5 * 1024 * 1024;

type Name = { Params: { name: string } };
const hookParams = z.object({ forge: forgeName, name: z.string().min(1).max(100) });

/** Repositories (admin), their manual runs, and the forges' webhooks. */
export function repositoryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const admin = async (req: Parameters<typeof authenticate>[1]) => {
    ctx.auth.requireScope(await authenticate(ctx, req, ['adm', 'pat']), 'admin');
  };
  const canWrite = async (req: Parameters<typeof authenticate>[1]) => {
    ctx.auth.requireScope(await authenticate(ctx, req, ['adm', 'pat']), 'runs:write');
  };
  const canRead = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    if (!cred.scopes.includes('runs:write')) ctx.auth.requireScope(cred, 'runs:read');
  };

  app.post(`${API_PREFIX}/repositories`, async (req, reply) => {
    await admin(req);
    const added = await ctx.repositories.add(addRepositoryRequest.parse(req.body));
    reply.code(201);
    return added;
  });

  app.get(`${API_PREFIX}/repositories`, async (req) => {
    await canRead(req);
    return ctx.repositories.list();
  });

  app.delete<Name>(`${API_PREFIX}/repositories/:name`, async (req, reply) => {
    await admin(req);
    await ctx.repositories.remove(req.params.name);
    return reply.code(204).send();
  });

  app.get<Name>(`${API_PREFIX}/repositories/:name/errors`, async (req) => {
    await canRead(req);
    return ctx.repositories.errors(req.params.name);
  });

  app.post<Name>(`${API_PREFIX}/repositories/:name/runs`, async (req, reply) => {
    await canWrite(req);
    const view = await ctx.repositories.runManual(
      req.params.name,
      repositoryRunRequest.parse(req.body ?? {}),
    );
    reply.code(201);
    return view;
  });

  // Webhooks: no token, the forge's signature over the raw body is the credential, so the
  // body is kept as bytes (re-serialised JSON would not match the signature).
  void app.register(async (hooks) => {
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_HOOK_BYTES }, (_req, body, done) =>
      done(null, body),
    );
    hooks.post('/hooks/:forge/:name', { bodyLimit: MAX_HOOK_BYTES }, async (req, reply) => {
      const { forge, name } = hookParams.parse(req.params);
      if (!Buffer.isBuffer(req.body)) throw new ValidationError('a webhook delivery needs a body');
      const answer = await ctx.repositories.receiveHook(forge, name, req.headers, req.body);
      reply.code(202);
      return answer;
    });
  });
}
