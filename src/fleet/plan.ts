import type { PoolDemand, QueuedJobView } from '../protocol/index.js';
import { assertNever } from '../shared/errors.js';
import { normalizeImageRef } from '../shared/image-ref.js';

type AgentView = PoolDemand['agents'][number];

/** A unit as the planner sees it. */
export interface PlannedUnit {
  name: string;
  /** Set for a cold unit, started for that one job. */
  jobId?: string;
  /** The image its agent runs in; default the fleet's default image. */
  image?: string;
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
  /** Custom images used recently, most recent first (`rememberImages`); default none. */
  recentImages?: readonly string[];
  /** Idle agents kept warm for each recent custom image, within `max`; default 0. */
  warmPerImage?: number;
}

export interface Plan {
  /** Warm agents (default image, any job) to start. */
  warm: number;
  /** Warm agents of recent custom images to start, one entry per agent, most recent image first. */
  warmImages: string[];
  /** Jobs to start a cold agent for, bound to that job, in queue order. */
  cold: QueuedJobView[];
  /** Idle agents to drain and remove. */
  drain: string[];
  /** Units whose agent never registered: removed. */
  stale: string[];
  /** Jobs this fleet cannot run, with the reason; never started. */
  refuse: Array<{ jobId: string; reason: string }>;
  /** Queued jobs a free agent is there for (it will claim them). */
  takenByFree: string[];
  /** Whether a queued job waits for an agent to start: else every start is a top-up. */
  jobsWait: boolean;
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
  return warmImageOf(job, defaultImage) === normalizeImageRef(defaultImage);
}

/**
 * The image a warm (unbound) agent must run to take `job`, or null when only an agent started
 * for it can: services and Docker engines are made per job, an image alone is not.
 */
export function warmImageOf(job: QueuedJobView, defaultImage: string): string | null {
  if (job.docker !== 'none' || Object.keys(job.services).length > 0) return null;
  return normalizeImageRef(job.image ?? defaultImage);
}

/**
 * The custom images worth warm agents, most recent first: those of the queued jobs (seen now)
 * and those seen within `ttlMs`, at most `limit`. Pure; the fleet keeps the map between rounds.
 */
export function rememberImages(
  seen: ReadonlyMap<string, number>,
  queued: readonly QueuedJobView[],
  o: { defaultImage: string; now: number; ttlMs: number; limit: number },
): Map<string, number> {
  const next = new Map(seen);
  const defaultRef = normalizeImageRef(o.defaultImage);
  for (const job of queued) {
    const image = warmImageOf(job, o.defaultImage);
    if (image !== null && image !== defaultRef) next.set(image, o.now);
  }
  const kept = [...next].filter(([, at]) => o.now - at < o.ttlMs).sort((a, b) => b[1] - a[1]);
  return new Map(kept.slice(0, Math.max(0, o.limit)));
}

/**
 * What to start and stop now, from the pool's demand and the fleet's units. Pure, so the
 * scaling rules are tested as a table: queued jobs first in queue order (a job takes a free
 * warm agent of its image; else a default-image job gets a new warm one and any other job an
 * agent of its own), then `minIdle` free warm agents of the default image on top, then
 * `warmPerImage` for each recent custom image (leaving one unit free), all within `max` units.
 * Only idle agents above that are removed, after the scale-down delay, except that idle agents
 * of custom images give way at once to jobs that find no room and to more recent images.
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
    return {
      warm: 0,
      warmImages: [],
      cold: [],
      drain: live.filter(idle).map((u) => u.name),
      stale,
      refuse,
      takenByFree: [],
      jobsWait: false,
    };
  }

  const defaultRef = normalizeImageRef(input.defaultImage);
  const imageOf = (u: PlannedUnit) => normalizeImageRef(u.image ?? input.defaultImage);
  const free = live.filter(
    (u) => u.jobId === undefined && !u.spent && !stale.includes(u.name) && isFree(agents.get(u.name)),
  );
  /** Free warm agents not yet spoken for by a queued job, by image. */
  const freeLeft = new Map<string, number>();
  for (const u of free) freeLeft.set(imageOf(u), (freeLeft.get(imageOf(u)) ?? 0) + 1);
  const boundJobs = new Set(live.map((u) => u.jobId).filter((id) => id !== undefined));
  let capacity = Math.max(0, input.max - units.length);
  let warm = 0;
  let starved = 0;
  const cold: QueuedJobView[] = [];
  const takenByFree: string[] = [];
  for (const job of demand.queued) {
    if (refusal(job, input.policy) !== null || input.skip.has(job.jobId)) continue;
    // It has an agent of its own on the way; a warm one of its image may still win it.
    if (boundJobs.has(job.jobId)) continue;
    const image = warmImageOf(job, input.defaultImage);
    const waiting = image === null ? 0 : (freeLeft.get(image) ?? 0);
    if (image !== null && waiting > 0) {
      freeLeft.set(image, waiting - 1);
      takenByFree.push(job.jobId);
    } else if (capacity === 0) starved++;
    else if (image === defaultRef) {
      warm++;
      capacity--;
    } else {
      cold.push(job);
      capacity--;
    }
  }
  const freeOf = (image: string) => freeLeft.get(image) ?? 0;
  // Jobs that wait for an agent come first: no agent starts on speculation beside them.
  const jobsWait = starved > 0 || warm > 0 || cold.length > 0;
  const topUp = Math.min(capacity, Math.max(0, input.minIdle - freeOf(defaultRef)));
  warm += topUp;
  capacity -= topUp;

  // Then the custom images used recently, most recent first: their next job starts warm. They
  // leave one slot free, so a job in an image not seen lately starts at once instead of waiting
  // for an idle agent to make way, and start only in a round where no job waits for an agent.
  const perImage = input.warmPerImage ?? 0;
  const recent = (input.recentImages ?? []).map(normalizeImageRef).filter((i) => i !== defaultRef);
  const rank = (image: string) => {
    const at = recent.indexOf(image);
    return at === -1 ? Number.POSITIVE_INFINITY : at;
  };
  let room = Math.max(0, capacity - 1);
  const warmImages: string[] = [];
  /** One entry per warm agent a recent image lacks for want of room. */
  const short: string[] = [];
  for (const image of perImage > 0 && !jobsWait ? recent : []) {
    const need = Math.max(0, perImage - freeOf(image));
    const count = Math.min(room, need);
    for (let i = 0; i < need; i++) (i < count ? warmImages : short).push(image);
    room -= count;
  }
  capacity -= warmImages.length;

  const idleLongEnough = (u: PlannedUnit) =>
    u.idleSince !== undefined && input.now - u.idleSince >= input.scaleDownDelayMs;
  const byName = (a: PlannedUnit, b: PlannedUnit) => nameIndex(b.name) - nameIndex(a.name);
  const drain: string[] = [];
  const surplus = freeOf(defaultRef) - input.minIdle;
  if (surplus > 0 && warm === 0) {
    const candidates = free.filter((u) => imageOf(u) === defaultRef && idle(u) && idleLongEnough(u));
    drain.push(
      ...candidates
        .sort(byName)
        .slice(0, surplus)
        .map((u) => u.name),
    );
  }
  // Custom images: above the per-image cap, or no longer recent, after the same delay.
  const images = [...freeLeft.keys()].filter((i) => i !== defaultRef);
  for (const image of images) {
    const keep = recent.includes(image) ? perImage : 0;
    const extra = freeOf(image) - keep;
    if (extra <= 0) continue;
    const candidates = free.filter((u) => imageOf(u) === image && idle(u) && idleLongEnough(u));
    drain.push(
      ...candidates
        .sort(byName)
        .slice(0, extra)
        .map((u) => u.name),
    );
  }
  // Idle agents of custom images make way at once, least recent image first: for jobs that find
  // no room, then for a more recent image that lacks its warm agent. Never one a queued job takes.
  const spare = free
    .filter((u) => imageOf(u) !== defaultRef && idle(u) && !drain.includes(u.name))
    .filter((u) => {
      const left = freeLeft.get(imageOf(u)) ?? 0;
      if (left <= 0) return false;
      freeLeft.set(imageOf(u), left - 1);
      return true;
    })
    .sort((a, b) => rank(imageOf(b)) - rank(imageOf(a)) || byName(a, b));
  let next = 0;
  for (; next < Math.min(starved, spare.length); next++) drain.push(spare[next]!.name);
  for (const image of short) {
    const unit = spare[next];
    if (!unit || rank(imageOf(unit)) <= rank(image)) break;
    drain.push(unit.name);
    next++;
  }
  return { warm, warmImages, cold, drain, stale, refuse, takenByFree, jobsWait };
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
