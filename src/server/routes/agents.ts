import type { FastifyInstance } from 'fastify';
import {
  API_PREFIX,
  agentTokenRequest,
  claimRequest,
  openSessionRequest,
  pollRequest,
  registerAgentRequest,
} from '../../protocol/schemas.js';
import {
  AgentBusyError,
  AuthError,
  ForbiddenError,
  GoneError,
  SessionReplacedError,
} from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { AgentRow, TokenRow } from '../../store/types.js';
import { authenticate, authFailed, clientGone, type ServerContext } from '../context.js';
import { agentFits } from '../dispatcher.js';

/** Registration, access tokens, sessions, polling and claiming: the agent's side of the protocol. */
export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post(`${API_PREFIX}/agents/register`, async (req, reply) => {
    const cred = await authenticate(ctx, req, ['adm', 'pat', 'jit']);
    const body = registerAgentRequest.parse(req.body);
    if (cred.kind === 'jit') await useTicket(ctx, cred, body.pool, body.name);
    else ctx.auth.requireScope(cred, 'agent:register');
    const agent = await ctx.store.registerAgent(
      {
        id: newId('agent_'),
        pool: body.pool,
        name: body.name,
        publicKey: body.publicKey,
        // A ticket's agent takes its name over (fleets reuse names) and runs one job, ever.
        replace: body.replace || cred.kind === 'jit',
        singleJob: cred.kind === 'jit',
      },
      ctx.clock.now(),
    );
    // A fleet agent exists for one job: it may see that job and nothing else.
    if (cred.jobId) {
      await ctx.store.openSession(
        agent.id,
        { sessionId: '', capabilities: {}, version: '', boundJobId: cred.jobId },
        ctx.clock.now(),
      );
    }
    ctx.logger.info({ agent: agent.name, pool: agent.pool, via: cred.kind }, 'agent registered');
    void ctx.scheduler.poolChanged(agent.pool);
    void ctx.dispatcher.kick();
    reply.code(201);
    return { agentId: agent.id, name: agent.name, pool: agent.pool };
  });

  app.post(`${API_PREFIX}/agents/token`, async (req) => {
    const { assertion } = agentTokenRequest.parse(req.body);
    try {
      const issued = await ctx.auth.exchangeAssertion(assertion);
      return { accessToken: issued.token, expiresAt: new Date(issued.expiresAt).toISOString() };
    } catch (err) {
      // Assertions are single-use: only the client is counted, and a valid one always passes.
      if (err instanceof AuthError) authFailed(ctx, req, err);
      throw err;
    }
  });

  app.post(`${API_PREFIX}/agents/session`, async (req) => {
    const agent = await agentOf(ctx, await authenticate(ctx, req, ['agt']));
    const body = openSessionRequest.parse(req.body);
    const sessionId = newId('sess_');
    await ctx.store.openSession(
      agent.id,
      { sessionId, capabilities: body.capabilities, version: body.version, boundJobId: agent.boundJobId },
      ctx.clock.now(),
    );
    // Its capabilities are known now: jobs it could never run, and nothing else could, fail.
    void ctx.scheduler.poolChanged(agent.pool);
    void ctx.dispatcher.kick();
    return { sessionId, pollTimeoutMs: ctx.pollTimeoutMs };
  });

  app.post(`${API_PREFIX}/agents/poll`, async (req, reply) => {
    const agent = await agentOf(ctx, await authenticate(ctx, req, ['agt']));
    const { sessionId } = pollRequest.parse(req.body);
    requireSession(agent, sessionId);
    await ctx.store.touchAgent(agent.id, ctx.clock.now());
    await refuseBusyAgent(ctx, agent);
    if (agent.boundJobId !== null) {
      // An agent started for one job has nothing to wait for once that job is gone.
      const job = await ctx.store.getJob(agent.boundJobId);
      if (!job || job.status === 'completed' || (job.status === 'running' && job.agentId !== agent.id)) {
        throw new GoneError(
          `job ${agent.boundJobId}, which this agent was started for, is no longer waiting`,
        );
      }
    }
    const offer = await ctx.dispatcher.poll(agent, sessionId, ctx.pollTimeoutMs, clientGone(reply));
    if (!offer) return reply.code(204).send();
    return offer;
  });

  app.post<{ Params: { id: string } }>(`${API_PREFIX}/jobs/:id/claim`, async (req) => {
    const agent = await agentOf(ctx, await authenticate(ctx, req, ['agt']));
    const { sessionId } = claimRequest.parse(req.body);
    requireSession(agent, sessionId);
    const job = await ctx.store.getJob(req.params.id);
    if (job && job.pool !== agent.pool) throw new ForbiddenError('that job belongs to another pool');
    if (agent.boundJobId !== null && agent.boundJobId !== req.params.id) {
      throw new ForbiddenError('this agent was started for another job');
    }
    if (job && !agentFits(agent, job)) throw new ForbiddenError("this agent does not meet the job's demands");
    // A job's steps run as the agent's user and can read the agent's credentials from its
    // memory: an agent may claim only while it runs nothing, and a ticket's agent only once.
    await refuseBusyAgent(ctx, agent, req.params.id);
    if (agent.singleJob && agent.claims > 0) {
      throw new ForbiddenError('this agent was registered with a one-use ticket and has had its job');
    }
    return ctx.scheduler.claim(req.params.id, agent);
  });

  app.delete(`${API_PREFIX}/agents/self`, async (req, reply) => {
    const agent = await agentOf(ctx, await authenticate(ctx, req, ['agt']));
    if (!(await ctx.store.deleteAgent(agent.id, ctx.clock.now()))) {
      throw new AgentBusyError('the agent still runs a job; deregister after it completes');
    }
    ctx.logger.info({ agent: agent.name, pool: agent.pool }, 'agent deregistered');
    await ctx.scheduler.poolChanged(agent.pool);
    return reply.code(204).send();
  });
}

/** An agent that still runs a job gets no other: its credentials may be in that job's hands. */
async function refuseBusyAgent(ctx: ServerContext, agent: AgentRow, except?: string): Promise<void> {
  const running = await ctx.store.listJobsByStatus('running', agent.pool);
  if (running.some((j) => j.agentId === agent.id && j.id !== except)) {
    throw new AgentBusyError('this agent is running a job and gets no other until it ends');
  }
}

async function agentOf(ctx: ServerContext, cred: TokenRow): Promise<AgentRow> {
  const agent = cred.agentId ? await ctx.store.getAgent(cred.agentId) : undefined;
  if (!agent) throw new AuthError('the agent was removed or replaced');
  return agent;
}

function requireSession(agent: AgentRow, sessionId: string): void {
  // One session per agent: a second process with the same identity takes over, the first stops.
  if (agent.sessionId !== sessionId) throw new SessionReplacedError();
}

/** A JIT ticket registers exactly the agent it was made for, once. */
async function useTicket(ctx: ServerContext, ticket: TokenRow, pool: string, name: string): Promise<void> {
  if (ticket.pool !== pool || ticket.agentName !== name) {
    throw new ForbiddenError(`this ticket registers '${ticket.agentName}' in pool '${ticket.pool}' only`);
  }
  if (!(await ctx.store.consumeToken(ticket.id, ctx.clock.now()))) {
    throw new AuthError('registration ticket used already');
  }
}
