import type { z } from 'zod';
import type {
  AgentView,
  createPoolRequest,
  createTicketRequest,
  FleetStatus,
  FleetView,
  fleetHeartbeatRequest,
  PoolDemand,
  PoolView,
  updatePoolRequest,
} from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import { AgentBusyError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentRow, PoolRow, Store } from '../../store/index.js';
import type { Auth } from '../auth.js';
import { formatDemand } from '../demands.js';
import { type Dispatcher, needsContainerRuntime } from '../dispatcher.js';
import type { Notifier } from '../notifier.js';
import { FLEET_PRESENCE_MS, type Scheduler } from '../scheduler.js';

export type CreatePoolBody = z.output<typeof createPoolRequest>;
export type CreateTicketBody = z.output<typeof createTicketRequest>;
export type FleetHeartbeatBody = z.output<typeof fleetHeartbeatRequest>;
export type UpdatePoolBody = z.output<typeof updatePoolRequest>;

/** An agent as an admin sees it (`GET /agents`): capabilities are the host's environment. */
export type AgentListItem = AgentView;

/** Fleets seen in this window are listed (`GET /fleets`); older ones are gone. */
const FLEET_LIST_WINDOW_MS = 10 * 60_000;
/** An agent polls again at once after a poll ends; this covers the gap and a slow network. */
const REPLICA_POLL_GRACE_MS = 5_000;

export interface PoolServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  auth: Auth;
  scheduler: Scheduler;
  dispatcher: Dispatcher;
  /** Wakes a pool's demand long-poll when work arrives (`pool:<name>`). */
  notifier: Notifier;
  /**
   * Longest poll an agent holds open; an idle agent not seen for this long and a grace of 30 s
   * more counts as offline. Default 50 s.
   */
  pollTimeoutMs?: number;
  /**
   * Other coordinators share the store, so an agent may be polling one of them: an agent whose
   * poll began (`touchAgent`) within a poll's length counts as polling here too. Default false:
   * one coordinator knows its pollers exactly.
   */
  replicated?: boolean;
  /** Told of each fleet heartbeat's status (metrics); default: nobody. */
  onFleetStatus?: (pool: string, fleetId: string, status: FleetStatus | undefined) => void;
}

/**
 * Pools and what serves them: creating and summarising pools, the agents in them, and what a
 * fleet manager needs — the pool's demand, one-use tickets, presence, failing a job it cannot
 * start, draining an agent.
 */
export class PoolService {
  constructor(private readonly o: PoolServiceOptions) {}

  /** Creates a pool; its summary, as `list` shows it. */
  async create(body: CreatePoolBody): Promise<PoolView> {
    const pool = await this.o.store.createPool(body.name, body.settings, this.o.clock.now());
    return this.summary(pool);
  }

  /**
   * The settings given replace the pool's; the others stay. Fleets read them for every job, so a
   * change applies to the next job; queued jobs are looked at again under the new policy.
   */
  async update(name: string, body: UpdatePoolBody): Promise<PoolView> {
    const pool = await this.requirePool(name);
    const given = Object.fromEntries(Object.entries(body.settings).filter(([, v]) => v !== undefined));
    const updated = await this.o.store.updatePoolSettings(pool.name, { ...pool.settings, ...given });
    if (!updated) throw new NotFoundError('pool', name);
    void this.o.scheduler.poolChanged(pool.name);
    return this.summary(updated);
  }

  async list(): Promise<PoolView[]> {
    const pools = await this.o.store.listPools();
    return Promise.all(pools.map((p) => this.summary(p)));
  }

  /**
   * Every agent, or a pool's: its state (busy with a job, draining, idle while it polls or was
   * seen within a poll's length, offline otherwise), the job it runs and what it reported.
   */
  async listAgents(pool?: string): Promise<AgentListItem[]> {
    const { store, clock, dispatcher } = this.o;
    const agents = await store.listAgents(pool);
    const running = await store.listJobsByStatus('running', pool);
    const jobOf = new Map(running.flatMap((j) => (j.agentId ? [[j.agentId, j] as const] : [])));
    const runNumbers = new Map<string, number>();
    for (const id of new Set(running.map((j) => j.runId))) {
      const run = await store.getRun(id);
      if (run) runNumbers.set(id, run.number);
    }
    const now = clock.now();
    const seenWithin = (this.o.pollTimeoutMs ?? 50_000) + 30_000;
    return agents.map((a) => {
      const job = jobOf.get(a.id);
      const seen = a.lastSeenAt !== null && now - a.lastSeenAt <= seenWithin;
      const online = a.sessionId !== null && (dispatcher.isPolling(a.id) || seen);
      const state = job ? 'busy' : a.draining ? 'draining' : online ? 'idle' : 'offline';
      return {
        id: a.id,
        pool: a.pool,
        name: a.name,
        version: a.version,
        capabilities: a.capabilities,
        busy: job !== undefined,
        state,
        currentJob: job
          ? { id: job.id, name: job.name, runId: job.runId, runNumber: runNumbers.get(job.runId) ?? 0 }
          : null,
        lastSeenAt: a.lastSeenAt === null ? null : new Date(a.lastSeenAt).toISOString(),
        boundJobId: a.boundJobId,
      };
    });
  }

  /** The fleets seen in the last ten minutes, with what each last reported of its containers. */
  async listFleets(pool?: string): Promise<FleetView[]> {
    const { store, clock } = this.o;
    const now = clock.now();
    const pools = pool === undefined ? (await store.listPools()).map((p) => p.name) : [pool];
    if (pool !== undefined) await this.requirePool(pool);
    const views: FleetView[] = [];
    for (const name of pools) {
      for (const f of await store.listFleets(name, now - FLEET_LIST_WINDOW_MS)) {
        views.push({
          pool: f.pool,
          id: f.id,
          lastSeenAt: new Date(f.lastSeenAt).toISOString(),
          live: now - f.lastSeenAt <= FLEET_PRESENCE_MS,
          capabilities: f.capabilities,
          status: f.status ?? null,
        });
      }
    }
    return views;
  }

  /** Removes an agent by name; refused while it runs a job. Its pool's queue is looked at again. */
  async removeAgent(pool: string, name: string): Promise<void> {
    const agent = await this.findAgent(pool, name);
    if (!(await this.o.store.deleteAgent(agent.id, this.o.clock.now()))) {
      throw new AgentBusyError(`agent '${agent.name}' is running a job; cancel it or wait`);
    }
    await this.o.scheduler.poolChanged(agent.pool);
  }

  /** A one-use ticket that registers the agent `name` in `pool`, optionally bound to one of its jobs. */
  async createTicket(pool: string, body: CreateTicketBody): Promise<{ ticket: string; expiresAt: string }> {
    await this.requirePool(pool);
    if (body.jobId) {
      const job = await this.o.store.getJob(body.jobId);
      if (!job || job.pool !== pool) throw new ValidationError(`job ${body.jobId} is not in pool '${pool}'`);
    }
    const issued = await this.o.auth.issue('jit', {
      name: `ticket ${body.name}`,
      pool,
      agentName: body.name,
      jobId: body.jobId ?? null,
      ttlMs: body.ttlSeconds * 1000,
    });
    return { ticket: issued.token, expiresAt: new Date(issued.expiresAt!).toISOString() };
  }

  /** A fleet's heartbeat: while it is present, jobs only its agents could serve wait for it. */
  async fleetPresent(pool: string, body: FleetHeartbeatBody): Promise<void> {
    await this.requirePool(pool);
    await this.o.store.upsertFleet({
      pool,
      id: body.id,
      capabilities: body.capabilities,
      lastSeenAt: this.o.clock.now(),
      status: body.status ?? null,
    });
    this.o.onFleetStatus?.(pool, body.id, body.status);
    void this.o.scheduler.poolChanged(pool);
  }

  /**
   * The pool's demand. With `waitMs` > 0 and nothing queued, waits until work arrives, the time
   * is up or `signal` aborts, and answers what is there then.
   */
  async demand(pool: string, waitMs: number, signal: AbortSignal): Promise<PoolDemand> {
    await this.requirePool(pool);
    let demand = await this.demandNow(pool);
    // A fleet that hung up while the demand was read is not waited for.
    if (demand.queued.length === 0 && waitMs > 0 && !signal.aborted) {
      await this.o.notifier.wait(`pool:${pool}`, waitMs, signal);
      demand = await this.demandNow(pool);
    }
    return demand;
  }

  /**
   * Fails a queued job a fleet cannot start an agent for (its image will not start, or it asks
   * for what the fleet refuses), instead of leaving it queued forever.
   */
  async failQueuedJob(pool: string, jobId: string, reason: string): Promise<void> {
    const job = await this.o.store.getJob(jobId);
    if (!job || job.pool !== pool) throw new NotFoundError('job', jobId);
    await this.o.scheduler.failQueued(job.id, reason);
  }

  /** Drains an agent: it gets no more work, and its waiting poll is let go. Answers whether it runs a job. */
  async drainAgent(pool: string, name: string): Promise<{ busy: boolean }> {
    const agent = await this.findAgent(pool, name);
    await this.o.store.setAgentDraining(agent.id, true);
    this.o.dispatcher.release(agent.id);
    // Its poll may be held by another replica: that one lets it go too.
    this.o.notifier.notify(`agent:${agent.id}`);
    return { busy: (await this.o.store.listRunningJobIds(agent.id)).length > 0 };
  }

  /**
   * Whether the agent waits for work now. A fleet trusts this to know its agents registered and
   * are idle; with replicas, the agent's poll may be on another one, whose start it recorded.
   */
  private isPolling(agent: AgentRow, now: number): boolean {
    if (this.o.dispatcher.isPolling(agent.id)) return true;
    if (!this.o.replicated || agent.sessionId === null || agent.lastSeenAt === null) return false;
    return now - agent.lastSeenAt <= (this.o.pollTimeoutMs ?? 50_000) + REPLICA_POLL_GRACE_MS;
  }

  private async requirePool(name: string): Promise<PoolRow> {
    const pool = await this.o.store.getPool(name);
    if (!pool) throw new NotFoundError('pool', name);
    return pool;
  }

  private async findAgent(pool: string, name: string): Promise<AgentRow> {
    const agent = await this.o.store.findAgent(pool, name);
    if (!agent) throw new NotFoundError('agent', `${pool}/${name}`);
    return agent;
  }

  private async summary(pool: PoolRow): Promise<PoolView> {
    const { store } = this.o;
    const agents = await store.listAgents(pool.name);
    const running = await store.listJobsByStatus('running', pool.name);
    const isBusy = (a: AgentRow) => running.some((j) => j.agentId === a.id);
    const busy = agents.filter(isBusy).length;
    const now = this.o.clock.now();
    const online = agents.filter((a) => !isBusy(a) && this.isPolling(a, now)).length;
    return {
      name: pool.name,
      settings: pool.settings,
      createdAt: new Date(pool.createdAt).toISOString(),
      agents: { online: online + busy, busy, offline: Math.max(0, agents.length - online - busy) },
      queued: (await store.listJobsByStatus('queued', pool.name)).length,
    };
  }

  private async demandNow(pool: string): Promise<PoolDemand> {
    const { store } = this.o;
    const queued = await store.listJobsByStatus('queued', pool);
    const running = await store.listJobsByStatus('running', pool);
    const agents = await store.listAgents(pool);
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    const now = this.o.clock.now();
    return {
      queued: queued
        .filter((j) => !j.cancelRequested)
        .map((j) => ({
          jobId: j.id,
          runId: j.runId,
          name: j.name,
          image: needsContainerRuntime(j) ? (j.plan.container?.image ?? null) : null,
          services: j.plan.services,
          docker: j.plan.docker,
          env: j.plan.container?.env ?? {},
          ...(j.plan.container?.options ? { options: j.plan.container.options } : {}),
          demands: j.plan.pool.demands.map(formatDemand),
          queuedAt: iso(j.queuedAt),
          timeoutInMinutes: j.plan.timeoutInMinutes,
        })),
      agents: agents.map((a) => ({
        name: a.name,
        busy: running.some((j) => j.agentId === a.id),
        draining: a.draining,
        boundJobId: a.boundJobId,
        polling: this.isPolling(a, now),
      })),
      running: running.map((j) => j.id),
    };
  }
}
