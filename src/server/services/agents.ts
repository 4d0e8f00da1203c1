import type { z } from 'zod';
import type {
  JobSpec,
  openSessionRequest,
  PollAnswer,
  registerAgentRequest,
  StartAgentAnswer,
  startAgentRequest,
} from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import {
  AgentBusyError,
  AuthError,
  ClaimLostError,
  ForbiddenError,
  GoneError,
  SessionReplacedError,
} from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentRow, Store, TokenRow } from '../../store/index.js';
import { type Auth, type AuthCaller, type FailureLimiter, refuseAuth } from '../auth.js';
import { agentFits, type Dispatcher } from '../dispatcher.js';
import type { Scheduler } from '../scheduler.js';

/** How finely an agent's last poll is recorded. */
const SEEN_RESOLUTION_MS = 1_000;

export type RegisterAgentBody = z.output<typeof registerAgentRequest>;
export type OpenSessionBody = z.output<typeof openSessionRequest>;
export type StartAgentBody = z.output<typeof startAgentRequest>;

export interface AgentServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  auth: Auth;
  /** Counts failed assertion exchanges per client, as every other authentication is counted. */
  limiter: FailureLimiter;
  scheduler: Scheduler;
  dispatcher: Dispatcher;
  /** Longest a poll is held open, in ms. */
  pollTimeoutMs: number;
}

/**
 * The agent's side of the protocol: registration (with a one-use ticket or a token), access
 * tokens, sessions, polling and claiming, deregistration. The rules that keep an agent's
 * credentials away from jobs it should not see live here.
 */
export class AgentService {
  constructor(private readonly o: AgentServiceOptions) {}

  /**
   * Registers an agent. A ticket (`jit`) registers exactly the agent it was made for, once; its
   * agent takes over the name (fleets reuse names), runs one job ever, and — when the ticket is
   * bound to a job — gets a session bound to that job before it opens its own.
   */
  async register(
    cred: TokenRow,
    body: RegisterAgentBody,
  ): Promise<{ agentId: string; name: string; pool: string; boundJobId?: string }> {
    const { store, clock } = this.o;
    if (cred.kind === 'jit') await this.useTicket(cred, body.pool, body.name);
    const agent = await store.registerAgent(
      {
        id: newId('agent_'),
        pool: body.pool,
        name: body.name,
        publicKey: body.publicKey,
        replace: body.replace || cred.kind === 'jit',
        singleJob: cred.kind === 'jit',
      },
      clock.now(),
    );
    // A fleet agent exists for one job: it may see that job and nothing else.
    if (cred.jobId) {
      await store.openSession(
        agent.id,
        { sessionId: '', capabilities: {}, version: '', boundJobId: cred.jobId },
        clock.now(),
      );
    }
    this.o.logger.info(
      { agentId: agent.id, agent: agent.name, pool: agent.pool, via: cred.kind },
      'agent registered',
    );
    void this.o.scheduler.poolChanged(agent.pool);
    void this.o.dispatcher.kick();
    return {
      agentId: agent.id,
      name: agent.name,
      pool: agent.pool,
      ...(cred.jobId ? { boundJobId: cred.jobId } : {}),
    };
  }

  /**
   * A ticket's agent in one request: what `register`, `exchangeToken`, `openSession` and — for a
   * ticket bound to a job — `claim` would do, in that order, with the same rules (one use of the
   * ticket, its pool and name, the name taken over, one job ever, every guard of the claim). No
   * assertion is needed for the first access token: whoever holds the ticket could register a
   * key of its own and sign one; the key proves itself at every renewal. A claim that fails is
   * not the start's failure: the ticket is spent, so the agent claims by itself (or learns the
   * job is gone) with the session it got.
   */
  async start(cred: TokenRow, body: StartAgentBody): Promise<StartAgentAnswer> {
    const { store, clock } = this.o;
    if (cred.kind !== 'jit') {
      throw new ForbiddenError('only a registration ticket starts an agent in one request; register instead');
    }
    await this.useTicket(cred, body.pool, body.name);
    const registered = await store.registerAgent(
      {
        id: newId('agent_'),
        pool: body.pool,
        name: body.name,
        publicKey: body.publicKey,
        replace: true,
        singleJob: true,
      },
      clock.now(),
    );
    const session = {
      sessionId: newId('sess_'),
      capabilities: body.capabilities,
      version: body.version,
      boundJobId: cred.jobId,
    };
    await store.openSession(registered.id, session, clock.now());
    const access = await this.o.auth.issueAccessToken(registered);
    const agent: AgentRow = { ...registered, ...session };
    const log = this.o.logger.child({ agentId: agent.id, agent: agent.name, pool: agent.pool });
    log.info({ via: cred.kind, boundJobId: cred.jobId ?? undefined }, 'agent registered');
    void this.o.scheduler.poolChanged(agent.pool);
    let spec: JobSpec | undefined;
    if (cred.jobId) {
      try {
        spec = await this.claim(agent, cred.jobId, session.sessionId);
      } catch (err) {
        log.info(
          { jobId: cred.jobId, err: (err as Error).message },
          'the bound job was not claimed at start',
        );
      }
    } else {
      void this.o.dispatcher.kick();
    }
    return {
      agentId: agent.id,
      name: agent.name,
      pool: agent.pool,
      ...(cred.jobId ? { boundJobId: cred.jobId } : {}),
      accessToken: access.token,
      expiresAt: new Date(access.expiresAt).toISOString(),
      sessionId: session.sessionId,
      pollTimeoutMs: this.o.pollTimeoutMs,
      ...(spec ? { spec } : {}),
    };
  }

  /**
   * Trades an assertion signed with the agent's key for an access token. Assertions are
   * single-use, so a failure counts against the caller only, and a valid one always passes.
   */
  async exchangeToken(
    assertion: string,
    caller: AuthCaller,
  ): Promise<{ accessToken: string; expiresAt: string }> {
    try {
      const issued = await this.o.auth.exchangeAssertion(assertion);
      return { accessToken: issued.token, expiresAt: new Date(issued.expiresAt).toISOString() };
    } catch (err) {
      if (err instanceof AuthError) refuseAuth(this.o, caller, err);
      throw err;
    }
  }

  /** The agent an access token speaks for; refused once the agent was removed or replaced. */
  async agentFor(cred: TokenRow): Promise<AgentRow> {
    const agent = cred.agentId ? await this.o.store.getAgent(cred.agentId) : undefined;
    if (!agent) throw new AuthError('the agent was removed or replaced');
    return agent;
  }

  /** Opens a new session, replacing any earlier one; a bound agent stays bound to its job. */
  async openSession(
    agent: AgentRow,
    body: OpenSessionBody,
  ): Promise<{ sessionId: string; pollTimeoutMs: number }> {
    const sessionId = newId('sess_');
    await this.o.store.openSession(
      agent.id,
      { sessionId, capabilities: body.capabilities, version: body.version, boundJobId: agent.boundJobId },
      this.o.clock.now(),
    );
    // Its capabilities are known now: jobs it could never run, and nothing else could, fail.
    void this.o.scheduler.poolChanged(agent.pool);
    void this.o.dispatcher.kick();
    return { sessionId, pollTimeoutMs: this.o.pollTimeoutMs };
  }

  /**
   * Waits for a job to offer, up to the poll timeout or until `signal` aborts; null when none.
   * A busy agent is refused, and so is an agent whose bound job is gone. With `claim`, the offer
   * is claimed for the agent at once (every guard of `claim` applies) and comes with its spec; an
   * offer another agent won first is not the agent's business: the poll waits on for the next.
   */
  async poll(
    agent: AgentRow,
    sessionId: string,
    signal: AbortSignal,
    claim = false,
  ): Promise<PollAnswer | null> {
    requireSession(agent, sessionId);
    // A poll a second after the last one tells no one anything new; the write costs every poll.
    const now = this.o.clock.now();
    if (agent.lastSeenAt === null || now - agent.lastSeenAt >= SEEN_RESOLUTION_MS) {
      await this.o.store.touchAgent(agent.id, now);
    }
    if (claim) {
      // A poll that claimed a job for this agent whose answer never came back (the replica died,
      // the connection broke): the agent polls again, and gets the same attempt with new tokens.
      const [held] = await this.o.store.listRunningJobIds(agent.id);
      if (held !== undefined) {
        const spec = await this.claim(agent, held, sessionId);
        return { jobId: held, runId: spec.runId, name: spec.plan.name, spec };
      }
    } else {
      // With `claim`, the look for a held job above was this check already: one query, not two.
      await this.refuseBusyAgent(agent);
    }
    if (agent.boundJobId !== null) {
      // An agent started for one job has nothing to wait for once that job is gone.
      const job = await this.o.store.getJob(agent.boundJobId);
      if (!job || job.status === 'completed' || (job.status === 'running' && job.agentId !== agent.id)) {
        throw new GoneError(
          `job ${agent.boundJobId}, which this agent was started for, is no longer waiting`,
        );
      }
    }
    const until = this.o.clock.now() + this.o.pollTimeoutMs;
    for (;;) {
      const left = until - this.o.clock.now();
      const offer = left > 0 ? await this.o.dispatcher.poll(agent, sessionId, left, signal) : null;
      if (!offer || !claim) return offer;
      // The row read before the wait may be stale by now (a newer session took over).
      const current = await this.o.store.getAgent(agent.id);
      if (!current) throw new AuthError('the agent was removed or replaced');
      try {
        return { ...offer, spec: await this.claim(current, offer.jobId, sessionId) };
      } catch (err) {
        if (!(err instanceof ClaimLostError) || signal.aborted) throw err;
      }
    }
  }

  /**
   * Claims a job for the agent, after the guards: same pool, its bound job if it has one, the
   * job's demands met, nothing else running, and a ticket's agent only once.
   */
  async claim(agent: AgentRow, jobId: string, sessionId: string): Promise<JobSpec> {
    requireSession(agent, sessionId);
    const job = await this.o.store.getJob(jobId);
    if (job && job.pool !== agent.pool) throw new ForbiddenError('that job belongs to another pool');
    if (agent.boundJobId !== null && agent.boundJobId !== jobId) {
      throw new ForbiddenError('this agent was started for another job');
    }
    if (job && !agentFits(agent, job)) throw new ForbiddenError("this agent does not meet the job's demands");
    // A job's steps run as the agent's user and can read the agent's credentials from its
    // memory: an agent may claim only while it runs nothing, and a ticket's agent only once.
    await this.refuseBusyAgent(agent, jobId);
    // Asking again for the job it holds (the answer to its claim was lost) is not a second job.
    const holds = job?.status === 'running' && job.agentId === agent.id;
    if (agent.singleJob && agent.claims > 0 && !holds) {
      throw new ForbiddenError('this agent was registered with a one-use ticket and has had its job');
    }
    return this.o.scheduler.claim(jobId, agent, job);
  }

  /** The agent removes itself; refused while it runs a job. */
  async deregister(agent: AgentRow): Promise<void> {
    if (!(await this.o.store.deleteAgent(agent.id, this.o.clock.now()))) {
      throw new AgentBusyError('the agent still runs a job; deregister after it completes');
    }
    this.o.logger.info({ agentId: agent.id, agent: agent.name, pool: agent.pool }, 'agent deregistered');
    await this.o.scheduler.poolChanged(agent.pool);
  }

  /** An agent that still runs a job gets no other: its credentials may be in that job's hands. */
  private async refuseBusyAgent(agent: AgentRow, except?: string): Promise<void> {
    const running = await this.o.store.listRunningJobIds(agent.id);
    if (running.some((id) => id !== except)) {
      throw new AgentBusyError('this agent is running a job and gets no other until it ends');
    }
  }

  /** A JIT ticket registers exactly the agent it was made for, once. */
  private async useTicket(ticket: TokenRow, pool: string, name: string): Promise<void> {
    if (ticket.pool !== pool || ticket.agentName !== name) {
      throw new ForbiddenError(`this ticket registers '${ticket.agentName}' in pool '${ticket.pool}' only`);
    }
    if (!(await this.o.store.consumeToken(ticket.id, this.o.clock.now()))) {
      throw new AuthError('registration ticket used already');
    }
  }
}

function requireSession(agent: AgentRow, sessionId: string): void {
  // One session per agent: a second process with the same identity takes over, the first stops.
  if (agent.sessionId !== sessionId) throw new SessionReplacedError();
}
