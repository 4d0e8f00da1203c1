import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  API_PREFIX,
  agentTokenRequest,
  claimRequest,
  openSessionRequest,
  pollRequest,
  registerAgentRequest,
  startAgentRequest,
} from '../../protocol/index.js';
import type { AgentRow } from '../../store/index.js';
import { authenticate, clientGone, clientOf, type ServerContext } from '../context.js';

/** Registration, access tokens, sessions, polling and claiming: the agent's side of the protocol. */
export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  /** The calling agent, from its access token: refused once it was removed or replaced. */
  const agentOf = async (req: FastifyRequest): Promise<AgentRow> =>
    ctx.agents.agentFor(await authenticate(ctx, req, ['agt']));

  app.post(`${API_PREFIX}/agents/register`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat', 'jit']);
    const body = registerAgentRequest.parse(req.body);
    // A ticket is its own authority (checked against the body by the service); tokens need the scope.
    if (cred.kind !== 'jit') ctx.auth.requireScope(cred, 'agent:register');
    const registered = await ctx.agents.register(cred, body);
    reply.code(201);
    return registered;
  });

  // A ticket's agent: register, token, session and its bound job's claim in one round trip.
  app.post(`${API_PREFIX}/agents/start`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['jit']);
    const started = await ctx.agents.start(cred, startAgentRequest.parse(req.body));
    reply.code(201);
    return started;
  });

  app.post(`${API_PREFIX}/agents/token`, async (req) => {
    const { assertion } = agentTokenRequest.parse(req.body);
    return ctx.agents.exchangeToken(assertion, { client: clientOf(req), route: req.routeOptions.url });
  });

  app.post(`${API_PREFIX}/agents/session`, async (req) => {
    const agent = await agentOf(req);
    return ctx.agents.openSession(agent, openSessionRequest.parse(req.body));
  });

  app.post(`${API_PREFIX}/agents/poll`, async (req, reply) => {
    const agent = await agentOf(req);
    const { sessionId, claim } = pollRequest.parse(req.body);
    const offer = await ctx.agents.poll(agent, sessionId, clientGone(reply), claim === true);
    if (!offer) return reply.code(204).send();
    return offer;
  });

  app.post<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id/claim`, async (req) => {
    const agent = await agentOf(req);
    const { sessionId } = claimRequest.parse(req.body);
    return ctx.agents.claim(agent, req.params.id, sessionId);
  });

  app.delete(`${API_PREFIX}/agents/self`, async (req, reply) => {
    await ctx.agents.deregister(await agentOf(req));
    return reply.code(204).send();
  });
}
