import { IMAGE_CAPABILITY, type JobOffer } from '../protocol/index.js';
import type { Clock } from '../shared/clock.js';
import { normalizeImageRef } from '../shared/image-ref.js';
import type { Logger } from '../shared/logger.js';
import type { AgentRow, JobRow, QueuedJob, Store } from '../store/index.js';
import { unmetDemands } from './demands.js';
import type { Notifier } from './notifier.js';

/** How long an offered job is kept from other pollers while its agent claims it. */
const OFFER_HOLD_MS = 5_000;
/** How far down the queue the periodic pass looks for jobs that fit a waiting agent. */
const DEEP_WINDOW = 1_000;
/** Safety net: waiting polls re-check the queue this often (other replicas, expired offers). */
const RECHECK_MS = 1_000;

interface Waiter {
  agent: AgentRow;
  sessionId: string;
  resolve: (offer: JobOffer | null) => void;
}

export interface DispatcherOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /**
   * Wake-ups from other replicas: `pool:<name>` (work queued through another replica) starts a
   * pass at once instead of at the next re-check, `agent:<id>` (drained through another replica)
   * lets that agent's poll go. Default: none (one coordinator kicks its dispatcher directly).
   */
  notifier?: Notifier;
}

/** Whether `agent` may run `job` at all: same pool, demands met, and its ticket's job if bound. */
export function agentFits(agent: AgentRow, job: Pick<JobRow, 'id' | 'pool' | 'plan'>): boolean {
  if (agent.pool !== job.pool || agent.draining) return false;
  if (agent.boundJobId !== null) return agent.boundJobId === job.id;
  if (needsContainerRuntime(job) && !runsInImage(agent, job)) return false;
  return unmetDemands(job.plan.pool.demands, agent.capabilities).length === 0;
}

function runsInImage(agent: AgentRow, job: Pick<JobRow, 'plan'>): boolean {
  const image = job.plan.container?.image;
  return (
    image !== undefined &&
    Object.keys(job.plan.services).length === 0 &&
    job.plan.docker === 'none' &&
    agent.capabilities[IMAGE_CAPABILITY] !== undefined &&
    normalizeImageRef(agent.capabilities[IMAGE_CAPABILITY]) === normalizeImageRef(image)
  );
}

/** Jobs with their own image or services run only in containers a fleet starts for them. */
export function needsContainerRuntime(job: Pick<JobRow, 'plan'>): boolean {
  return (
    job.plan.container !== undefined ||
    Object.keys(job.plan.services).length > 0 ||
    job.plan.docker !== 'none'
  );
}

/**
 * Matches long-polling agents with queued jobs. An offer is a hint, not a reservation that
 * matters for correctness: the claim that follows is a compare-and-set in the store.
 */
export class Dispatcher {
  private readonly waiters = new Map<string, Waiter>();
  private readonly offered = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private matching?: Promise<void>;
  private again = false;
  private deep = false;
  /** Pools whose `pool:` topic this dispatcher follows (a handful: kept for its lifetime). */
  private readonly followed = new Map<string, () => void>();

  constructor(private readonly o: DispatcherOptions) {
    this.timer = setInterval(() => this.kick(true), RECHECK_MS);
    this.timer.unref();
  }

  /** Number of agents waiting for work right now, per pool. */
  waiting(pool: string): number {
    return [...this.waiters.values()].filter((w) => w.agent.pool === pool).length;
  }

  /** Waits up to `timeoutMs` for a job that fits `agent`; null when none came. */
  poll(agent: AgentRow, sessionId: string, timeoutMs: number, signal: AbortSignal): Promise<JobOffer | null> {
    this.waiters.get(sessionId)?.resolve(null);
    return new Promise((resolve) => {
      const finish = (offer: JobOffer | null) => {
        if (this.waiters.get(sessionId)?.resolve !== finish) return;
        this.waiters.delete(sessionId);
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        unfollow?.();
        resolve(offer);
      };
      const abort = () => finish(null);
      // Drained through another replica: the poll ends, the agent's next one sees it.
      const unfollow = this.o.notifier?.subscribe(`agent:${agent.id}`, abort);
      const timer = setTimeout(abort, timeoutMs);
      signal.addEventListener('abort', abort, { once: true });
      this.waiters.set(sessionId, { agent, sessionId, resolve: finish });
      this.followPool(agent.pool);
      this.kick();
    });
  }

  /** Looks for queued work for every waiting agent. Serialised so two kicks never race. */
  kick(deep = false): Promise<void> {
    this.deep ||= deep;
    // Kicks that arrive while a match runs collapse into one more pass, not one pass each.
    this.again = true;
    if (!this.matching) this.matching = this.matchUntilQuiet().finally(() => (this.matching = undefined));
    return this.matching;
  }

  private async matchUntilQuiet(): Promise<void> {
    while (this.again) {
      this.again = false;
      const deep = this.deep;
      this.deep = false;
      await this.match(deep).catch((err) => this.o.logger.error({ err }, 'dispatch failed'));
    }
  }

  /** A claimed job needs no hold any more; dropping it keeps the next look at the queue short. */
  claimed(jobId: string): void {
    this.offered.delete(jobId);
  }

  waitingTotal(): number {
    return this.waiters.size;
  }

  isPolling(agentId: string): boolean {
    return [...this.waiters.values()].some((w) => w.agent.id === agentId);
  }

  /** Ends an agent's waiting poll with nothing, so its next poll sees its new state (e.g. draining). */
  release(agentId: string): void {
    for (const w of [...this.waiters.values()]) if (w.agent.id === agentId) w.resolve(null);
  }

  private followPool(pool: string): void {
    if (!this.o.notifier || this.followed.has(pool)) return;
    this.followed.set(
      pool,
      this.o.notifier.subscribe(`pool:${pool}`, () => void this.kick()),
    );
  }

  stop(): void {
    clearInterval(this.timer);
    for (const off of this.followed.values()) off();
    this.followed.clear();
    for (const w of [...this.waiters.values()]) w.resolve(null);
  }

  private async match(deep: boolean): Promise<void> {
    if (this.waiters.size === 0) return;
    const now = this.o.clock.now();
    for (const [jobId, until] of this.offered) if (until <= now) this.offered.delete(jobId);
    const pools = new Set([...this.waiters.values()].map((w) => w.agent.pool));
    for (const pool of pools) {
      // The head of the queue is enough: each waiter takes one job. Jobs whose demands no waiter
      // meets can block the head, so the periodic pass looks much further down.
      const waiting = [...this.waiters.values()].filter((w) => w.agent.pool === pool).length;
      const window = this.offered.size + waiting + (deep ? DEEP_WINDOW : 8);
      const limits = new ParallelLimits(this.o.store, this.offered);
      for (const job of await this.o.store.listQueueHead(pool, window)) {
        if (this.offered.has(job.id) || job.cancelRequested) continue;
        if (await limits.full(job)) continue;
        const waiter = [...this.waiters.values()].find((w) => agentFits(w.agent, job));
        if (!waiter) continue;
        this.offered.set(job.id, now + OFFER_HOLD_MS);
        limits.started(job);
        waiter.resolve({ jobId: job.id, runId: job.runId, name: job.name });
        if (this.waiters.size === 0) return;
      }
    }
  }
}

/**
 * `strategy: maxParallel`: legs of one matrix or parallel job share a group, and only so many
 * of a group may run (or be on offer) at once. Read once per pass, per run.
 */
class ParallelLimits {
  private readonly busy = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly offered: ReadonlyMap<string, number>,
  ) {}

  async full(job: QueuedJob): Promise<boolean> {
    const { parallelGroup, maxParallel } = job.plan;
    if (!parallelGroup || !maxParallel) return false;
    const key = `${job.runId}\u0000${parallelGroup}`;
    let busy = this.busy.get(key);
    if (busy === undefined) {
      const siblings = (await this.store.listJobs(job.runId)).filter(
        (j) => j.plan.parallelGroup === parallelGroup,
      );
      busy = siblings.filter(
        (j) => j.status === 'running' || (j.status === 'queued' && this.offered.has(j.id)),
      ).length;
      this.busy.set(key, busy);
    }
    return busy >= maxParallel;
  }

  started(job: QueuedJob): void {
    const { parallelGroup } = job.plan;
    if (!parallelGroup) return;
    const key = `${job.runId}\u0000${parallelGroup}`;
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
  }
}
