import type { PoolDemand, QueuedJobView } from '../protocol/index.js';
import { assertNever } from '../shared/errors.js';

type AgentView = PoolDemand['agents'][number];

/** A unit as the planner sees it. */
export interface PlannedUnit {
  name: string;
  /** Set for a cold unit, started for that one job. */
  jobId?: string;
  /** starting: the container is being made; running: it runs; stopping: it is being removed. */
  phase: 'starting' | 'running' | 'stopping';
  startedAt: number;
  /** When the fleet first saw its agent registered and polling or busy; undefined until then. */
  registeredAt?: number;
  /** Since when its agent has been idle (polling, no job); undefined when it is not. */
  idleSince?: number;
  /** Its agent took its one job (or registered and left): it will exit and takes no more work. */
  spent: boolean;
}

/** What the pool lets its jobs have, read from its settings for every round with such jobs. */
export interface DockerPolicy {
  pool: string;
  allowDind: boolean;
  allowDockerSocket: boolean;
  allowRootlessBuilds: boolean;
}

export interface PlanInput {
  demand: PoolDemand;
  /** The pool's Docker policy now; default: neither allowed. */
  policy?: DockerPolicy;
  units: PlannedUnit[];
  defaultImage: string;
  minIdle: number;
  max: number;
  /** False while the fleet drains: nothing new starts and every idle agent goes. */
  accepting: boolean;
  /** Jobs to start nothing for: refused, or given up on after failed starts. */
  skip: ReadonlySet<string>;
  now: number;
  /** An idle agent above `minIdle` is removed only after idling this long. */
  scaleDownDelayMs: number;
  /** A unit whose agent has not registered this long after it started is removed. */
  registerTimeoutMs: number;
}

export interface Plan {
  /** Warm agents (default image, any job) to start. */
  warm: number;
  /** Jobs to start a cold agent for, bound to that job, in queue order. */
  cold: QueuedJobView[];
  /** Idle agents to drain and remove. */
  drain: string[];
  /** Units whose agent never registered: removed. */
  stale: string[];
  /** Jobs this fleet cannot run, with the reason; never started. */
  refuse: Array<{ jobId: string; reason: string }>;
}

/** Why the Docker fleet does not run a job, or null when it can: what its pool does not allow, and the flag that would. */
export function refusal(job: QueuedJobView, policy?: DockerPolicy): string | null {
  const pool = policy?.pool ?? 'default';
  switch (job.docker) {
    case 'none':
      return null;
    case 'dind':
      return policy?.allowDind
        ? null
        : `job '${job.name}' asks for 'docker: dind', which pool '${pool}' does not allow: allow it with 'slipway pool update ${pool} --allow-dind'`;
    case 'rootless':
      return policy?.allowRootlessBuilds
        ? null
        : `job '${job.name}' asks for 'docker: rootless', which pool '${pool}' does not allow: allow it with 'slipway pool update ${pool} --allow-rootless-builds'`;
    case 'socket':
      return policy?.allowDockerSocket
        ? null
        : `job '${job.name}' asks for 'docker: socket', which pool '${pool}' does not allow (it gives the job root on the host): allow it with 'slipway pool update ${pool} --allow-docker-socket'`;
    default:
      return assertNever(job.docker);
  }
}

/** A job a warm agent of the default image can take: no services, no other image, no Docker. */
export function isWarmJob(job: QueuedJobView, defaultImage: string): boolean {
  return (
    job.docker === 'none' &&
    Object.keys(job.services).length === 0 &&
    (job.image === null || job.image === defaultImage)
  );
}

/**
 * What to start and stop now, from the pool's demand and the fleet's units. Pure, so the
 * scaling rules are tested as a table: queued jobs first in queue order (a warm job takes a
 * free warm agent, else a new one; a cold job gets its own agent), then `minIdle` free warm
 * agents on top, all within `max` units; only idle agents above that are removed.
 */
export function planFleet(input: PlanInput): Plan {
  const { demand, units } = input;
  const agents = new Map(demand.agents.map((a) => [a.name, a]));
  const refuse = demand.queued.flatMap((job) => {
    const reason = input.skip.has(job.jobId) ? null : refusal(job, input.policy);
    return reason ? [{ jobId: job.jobId, reason }] : [];
  });
  const live = units.filter((u) => u.phase !== 'stopping');
  const stale = live
    .filter((u) => u.phase === 'running' && u.registeredAt === undefined)
    .filter((u) => input.now - u.startedAt >= input.registerTimeoutMs)
    .map((u) => u.name);
  const idle = (u: PlannedUnit) => u.phase === 'running' && !u.spent && isIdle(agents.get(u.name));

  if (!input.accepting) {
    return { warm: 0, cold: [], drain: live.filter(idle).map((u) => u.name), stale, refuse };
  }

  const free = live.filter(
    (u) => u.jobId === undefined && !u.spent && !stale.includes(u.name) && isFree(agents.get(u.name)),
  );
  const boundJobs = new Set(live.map((u) => u.jobId).filter((id) => id !== undefined));
  let capacity = Math.max(0, input.max - units.length);
  let freeLeft = free.length;
  let warm = 0;
  const cold: QueuedJobView[] = [];
  for (const job of demand.queued) {
    if (refusal(job, input.policy) !== null || input.skip.has(job.jobId)) continue;
    if (isWarmJob(job, input.defaultImage)) {
      if (freeLeft > 0) freeLeft--;
      else if (capacity > 0) {
        warm++;
        capacity--;
      }
    } else if (!boundJobs.has(job.jobId) && capacity > 0) {
      cold.push(job);
      capacity--;
    }
  }
  const topUp = Math.min(capacity, Math.max(0, input.minIdle - freeLeft));
  warm += topUp;

  const surplus = freeLeft - input.minIdle;
  const drain =
    surplus > 0 && warm === 0
      ? free
          .filter(idle)
          .filter((u) => u.idleSince !== undefined && input.now - u.idleSince >= input.scaleDownDelayMs)
          .sort((a, b) => nameIndex(b.name) - nameIndex(a.name))
          .slice(0, surplus)
          .map((u) => u.name)
      : [];
  return { warm, cold, drain, stale, refuse };
}

/** Registered, waiting for work, not asked to drain. */
export function isIdle(agent: AgentView | undefined): boolean {
  return agent?.polling === true && !agent.busy && !agent.draining;
}

/** Not (yet) running a job and not draining: will take work. */
function isFree(agent: AgentView | undefined): boolean {
  return agent === undefined || (!agent.busy && !agent.draining);
}

/** `<pool>-<n>` names, lowest free first, skipping `taken`. */
export function allocateNames(pool: string, count: number, taken: ReadonlySet<string>): string[] {
  const names: string[] = [];
  for (let n = 1; names.length < count; n++) {
    const name = `${pool}-${n}`;
    if (!taken.has(name)) names.push(name);
  }
  return names;
}

function nameIndex(name: string): number {
  const n = Number(/-(\d+)$/.exec(name)?.[1]);
  return Number.isFinite(n) ? n : 0;
}
