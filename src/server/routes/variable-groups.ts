import type { FastifyInstance } from 'fastify';
import { API_PREFIX, createVariableGroupRequest, updateVariableGroupRequest } from '../../protocol/index.js';
import { authenticate, type ServerContext } from '../context.js';

/** Variable groups: the admin's alone, since their secrets reach whatever jobs they allow. */
export function variableGroupRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const admin = async (req: Parameters<typeof authenticate>[1]) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat']);
    ctx.auth.requireScope(cred, 'admin');
  };
  type Named = { Params: { name: string } };

  app.post(`${API_PREFIX}/groups`, async (req, reply) => {
    await admin(req);
    const group = await ctx.variableGroups.create(createVariableGroupRequest.parse(req.body));
    reply.code(201);
    return group;
  });

  app.get(`${API_PREFIX}/groups`, async (req) => {
    await admin(req);
    return ctx.variableGroups.list();
  });

  app.get<Named>(`${API_PREFIX}/groups/:name`, async (req) => {
    await admin(req);
    return ctx.variableGroups.get(req.params.name);
  });

  app.patch<Named>(`${API_PREFIX}/groups/:name`, async (req) => {
    await admin(req);
    return ctx.variableGroups.update(req.params.name, updateVariableGroupRequest.parse(req.body));
  });

  app.delete<Named>(`${API_PREFIX}/groups/:name`, async (req, reply) => {
    await admin(req);
    await ctx.variableGroups.delete(req.params.name);
    return reply.code(204).send();
  });
}
