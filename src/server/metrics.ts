import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Demand, TaskResult } from '../pipeline/index.js';
import type { AgentView, FleetStatus, FleetView } from '../protocol/index.js';
import type { JobRow, Store } from '../store/index.js';
import { formatDemand } from './demands.js';
import type { Dispatcher } from './dispatcher.js';

/** Distinct demand sets given a label of their own; the rest are counted as `other`. */
export const MAX_DEMAND_SETS = 20;
/** A demand set's label is cut to this length. */
const MAX_DEMAND_LABEL = 120;
/** `demands` label of a job without demands. */
const NO_DEMANDS = 'none';

export interface ServerMetricsOptions {
  store: Store;
  dispatcher: Dispatcher;
  /** Agents as `GET /agents` shows them (with their state), read at scrape time. */
  listAgents(): Promise<AgentView[]>;
  /** Live fleets with what they last reported, read at scrape time. */
  listFleets(): Promise<FleetView[]>;
}

/**
 * Prometheus metrics. Gauges of state are read from the store at scrape time, so they cannot
 * drift from the truth (and every replica reports the same); what happens once — a job
 * started or finished, a lease expired, log bytes, requests — is counted by the replica that
 * saw it, so sums across replicas are right. No label holds a run, job or agent id: labels are
 * pools (made by admins), results, states, routes and at most `MAX_DEMAND_SETS` demand sets.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly inFlight: Gauge;
  readonly jobsCompleted: Counter<'result'>;
  readonly agentsLost: Counter;
  readonly leaseExpiries: Counter<'pool'>;
  readonly queueWait: Histogram<'pool' | 'demands'>;
  readonly jobDuration: Histogram<'pool' | 'result'>;
  readonly logBytes: Counter<'pool'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly fleetScaleEvents: Counter<'pool' | 'kind'>;
  readonly #demandSets = new Set<string>();
  /** The totals each fleet reported last, so a heartbeat adds only what is new. */
  readonly #fleetTotals = new Map<string, FleetStatus['totals']>();

  constructor(o: ServerMetricsOptions) {
    const { store, dispatcher } = o;
    const registry = this.registry;
    const registers = [registry];
    this.inFlight = new Gauge({
      name: 'slipway_http_requests_in_flight',
      help: 'HTTP requests being served, long polls included',
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'slipway_http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status (long polls included)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.jobsCompleted = new Counter({
      name: 'slipway_jobs_completed_total',
      help: 'Jobs that reached a result',
      labelNames: ['result'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'slipway_job_duration_seconds',
      help: 'Jobs that ran, from their first start to their result, by pool and result',
      labelNames: ['pool', 'result'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'slipway_queue_wait_seconds',
      help: 'Time from queued to claimed by an agent, by pool and demand set',
      labelNames: ['pool', 'demands'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900, 3600],
      registers,
    });
    this.agentsLost = new Counter({
      name: 'slipway_agent_lost_total',
      help: 'Job attempts failed because their agent stopped renewing the lease',
      registers,
    });
    this.leaseExpiries = new Counter({
      name: 'slipway_lease_expiries_total',
      help: 'Job leases that expired without a heartbeat (the attempt failed or was retried)',
      labelNames: ['pool'],
      registers,
    });
    this.logBytes = new Counter({
      name: 'slipway_log_bytes_total',
      help: 'Log bytes received from agents, by pool',
      labelNames: ['pool'],
      registers,
    });
    this.fleetScaleEvents = new Counter({
      name: 'slipway_fleet_scale_events_total',
      help: 'What fleets did to their containers, as they reported it: started, exited, scaled-down, start-failed',
      labelNames: ['pool', 'kind'],
      registers,
    });
    const labelOf = (demands: Demand[]) => this.demandLabel(demands);
    new Gauge({
      name: 'slipway_queue_depth',
      help: 'Queued jobs by pool and demand set',
      labelNames: ['pool', 'demands'],
      registers,
      async collect() {
        this.reset();
        const counts = new Map<string, { pool: string; demands: string; n: number }>();
        // Counted in the database: a scrape reads one row per pool and demand set, not every job.
        for (const group of await store.countQueuedByDemands()) {
          const demands = labelOf(group.demands);
          const key = `${group.pool}\u0000${demands}`;
          const entry = counts.get(key) ?? { pool: group.pool, demands, n: 0 };
          entry.n += group.n;
          counts.set(key, entry);
        }
        for (const { pool, demands, n } of counts.values()) this.set({ pool, demands }, n);
      },
    });
    new Gauge({
      name: 'slipway_jobs',
      help: 'Jobs by state',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await store.countJobsByStatus();
        for (const state of ['pending', 'queued', 'running'] as const) this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'slipway_leases_active',
      help: 'Job leases held by agents',
      registers,
      async collect() {
        this.set((await store.countJobsByStatus()).running);
      },
    });
    new Gauge({
      name: 'slipway_polls_waiting',
      help: 'Agents waiting in a long poll (on this replica)',
      registers,
      collect() {
        this.set(dispatcher.waitingTotal());
      },
    });
    new Gauge({
      name: 'slipway_agents_registered',
      help: 'Registered agents',
      registers,
      async collect() {
        this.set((await store.listAgents()).length);
      },
    });
    new Gauge({
      name: 'slipway_agents',
      help: 'Agents by pool and state: idle, busy, draining, offline',
      labelNames: ['pool', 'state'],
      registers,
      async collect() {
        this.reset();
        const counts = new Map<string, { pool: string; state: string; n: number }>();
        for (const a of await o.listAgents()) {
          const key = `${a.pool}\u0000${a.state}`;
          const entry = counts.get(key) ?? { pool: a.pool, state: a.state, n: 0 };
          entry.n++;
          counts.set(key, entry);
        }
        for (const { pool, state, n } of counts.values()) this.set({ pool, state }, n);
      },
    });
    new Gauge({
      name: 'slipway_fleet_containers',
      help: "Agent containers of the pool's live fleets, by state: starting, idle, busy",
      labelNames: ['pool', 'state'],
      registers,
      async collect() {
        this.reset();
        const sums = new Map<string, { starting: number; idle: number; busy: number }>();
        for (const f of await o.listFleets()) {
          if (!f.status) continue;
          const sum = sums.get(f.pool) ?? { starting: 0, idle: 0, busy: 0 };
          sum.starting += f.status.starting;
          sum.idle += f.status.idle;
          sum.busy += f.status.busy;
          sums.set(f.pool, sum);
        }
        for (const [pool, sum] of sums) {
          for (const state of ['starting', 'idle', 'busy'] as const) this.set({ pool, state }, sum[state]);
        }
      },
    });
    new Gauge({
      name: 'slipway_fleet_max_containers',
      help: "Most agent containers the pool's live fleets may run",
      labelNames: ['pool'],
      registers,
      async collect() {
        this.reset();
        const sums = new Map<string, number>();
        for (const f of await o.listFleets()) {
          if (f.status) sums.set(f.pool, (sums.get(f.pool) ?? 0) + f.status.max);
        }
        for (const [pool, max] of sums) this.set({ pool }, max);
      },
    });
  }

  /**
   * The `demands` label of a job: its demands, sorted, as written. The first
   * `MAX_DEMAND_SETS` distinct sets seen get a label of their own, later ones `other`.
   */
  demandLabel(demands: Demand[]): string {
    const formatted = demands.map(formatDemand).sort();
    if (formatted.length === 0) return NO_DEMANDS;
    const label = formatted.join(',').slice(0, MAX_DEMAND_LABEL);
    if (this.#demandSets.has(label)) return label;
    if (this.#demandSets.size >= MAX_DEMAND_SETS) return 'other';
    this.#demandSets.add(label);
    return label;
  }

  /** A job was claimed: how long it waited in the queue. */
  jobStarted(job: JobRow, now: number): void {
    if (job.queuedAt === null) return;
    this.queueWait.observe(
      { pool: job.pool, demands: this.demandLabel(job.plan.pool.demands) },
      Math.max(0, now - job.queuedAt) / 1000,
    );
  }

  /** A job reached its result; `job` is the row before it did. */
  jobFinished(job: JobRow, result: TaskResult, reason: string | null, now: number): void {
    this.jobsCompleted.inc({ result });
    if (reason?.startsWith('agent lost')) this.agentsLost.inc();
    if (job.startedAt !== null) {
      this.jobDuration.observe({ pool: job.pool, result }, Math.max(0, now - job.startedAt) / 1000);
    }
  }

  /** A fleet's heartbeat: adds what its totals grew by since its last one (all of them when it restarted). */
  fleetReported(pool: string, fleetId: string, status: FleetStatus | undefined): void {
    if (!status) return;
    const key = `${pool}\u0000${fleetId}`;
    const before = this.#fleetTotals.get(key);
    this.#fleetTotals.set(key, status.totals);
    const kinds = [
      ['started', 'started'],
      ['exited', 'exited'],
      ['scaledDown', 'scaled-down'],
      ['startFailed', 'start-failed'],
    ] as const;
    const restarted = before !== undefined && kinds.some(([k]) => status.totals[k] < before[k]);
    for (const [k, kind] of kinds) {
      const grew = status.totals[k] - (before && !restarted ? before[k] : 0);
      this.fleetScaleEvents.inc({ pool, kind }, Math.max(0, grew));
    }
  }
}
