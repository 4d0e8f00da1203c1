import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { BASE_IMAGE } from '../images/index.js';
import type { PoolDemand, QueuedJobView } from '../protocol/index.js';
import { AGENT_VERSION, type ApiClient, answerDetail, IMAGE_CAPABILITY } from '../protocol/index.js';
import { type Clock, sleep, systemClock } from '../shared/clock.js';
import { NotFoundError } from '../shared/errors.js';
import { normalizeImageRef } from '../shared/image-ref.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import type { DockerEngineOptions, FleetDriver, UnitExit } from './driver.js';
import { FleetApi } from './fleet-api.js';
import { FleetStatusRecorder } from './fleet-status.js';
import {
  allocateNames,
  type DockerPolicy,
  isIdle,
  type PlannedUnit,
  planFleet,
  rememberImages,
} from './plan.js';

export type FleetState = 'idle' | 'running' | 'draining' | 'stopped';

export interface FleetManagerOptions {
  /** The coordinator (HTTP or `unix://`); the fleet's own calls, not its agents'. */
  client: ApiClient;
  /** Admin token for the fleet API. Never given to a container. */
  adminToken: string;
  driver: FleetDriver;
  /** Labels everything the fleet makes; keep it stable across restarts so a restart collects a crash's leftovers. */
  fleetId: string;
  /** Pool served; default 'default'. */
  pool?: string;
  /** Idle agents of the default image kept running; default 1. */
  minIdle?: number;
  /** Most agent containers at once; default 4. */
  max?: number;
  /**
   * Idle agents kept warm for each custom image used recently (a job with only `container:`),
   * within `max`, so the next job in that image starts warm; 0 turns it off. Default 1.
   */
  warmPerImage?: number;
  /** A custom image counts as recently used this long after a job in it was queued, in ms; default 600 000. */
  recentImageMs?: number;
  /** Default image; default the pool's `defaultImage`, else `slipway/base:latest`. */
  image?: string;
  /** Capabilities announced for the fleet's agents, beside those it knows; default none. */
  capabilities?: Record<string, string>;
  /** Longest `stop()` lets running jobs go on before canceling them, in ms; default 300 000. */
  drainTimeoutMs?: number;
  /** An idle agent above `minIdle` is removed after idling this long, in ms; default 30 000. */
  scaleDownDelayMs?: number;
  /** A unit whose agent has not registered this long after starting is removed, in ms; default 60 000. */
  registerTimeoutMs?: number;
  /** Presence announcements, in ms; default 5 000 (the server forgets a fleet after 30 s). */
  heartbeatMs?: number;
  /** Garbage collection of untracked objects, in ms; default 60 000. */
  gcIntervalMs?: number;
  /** Longest the demand long-poll is held, in ms; default 10 000. */
  demandWaitMs?: number;
  /** Ticket lifetime, in seconds; default 300. */
  ticketTtlSeconds?: number;
  /** Failed starts for one job before the fleet gives up on it; default 3. */
  maxStartAttempts?: number;
  /** SIGTERM to SIGKILL when agents are stopped, in seconds; default 15. */
  stopGraceSeconds?: number;
  /** Default: silent. */
  logger?: Logger;
  /** Default: the system clock. */
  clock?: Clock;
}

export interface UnitEvent {
  unitId: string;
  name: string;
  image: string;
  jobId?: string;
}

export interface FleetEvents {
  state: [state: FleetState];
  unitStarted: [unit: UnitEvent & { startMs: number }];
  unitExited: [unit: UnitEvent & { exit: UnitExit; reason: string }];
  startFailed: [unit: UnitEvent & { error: string }];
  jobRefused: [job: { jobId: string; reason: string }];
  scaledDown: [unit: UnitEvent];
}

interface Unit extends PlannedUnit, UnitEvent {
  image: string;
  /** Stopped on purpose (drain, stale, shutdown): its exit is not a crash. */
  deliberate: boolean;
  exited?: Promise<void>;
  /**
   * Its container has exited and is being removed: it no longer counts against `max`, so its
   * replacement starts at once instead of after the removal and the deregistration (its name
   * stays taken until then, so no new agent is deregistered by mistake).
   */
  ended?: boolean;
}

/** Environment and facts that differ between containers, so never announced for all. */
const PER_AGENT = new Set(['Agent.Name', 'Agent.ComputerName', 'HOSTNAME']);
/**
 * How long topping the warm pool up waits when a free agent is about to take a job and no other
 * job waits: on a small host, creating and starting a container beside a job's first steps slows
 * them (the engine's work is most of a core for that while) and no job is waiting for the new agent.
 */
const WARM_YIELD_MS = 150;

export class PoolNotFoundError extends NotFoundError {}

/**
 * Turns a pool's queue into one-job agent containers: a warm pool of idle agents of the
 * default image, a cold agent bound to each job that needs another image or services, and
 * nothing left behind. It holds the admin token; its agents get one-use tickets as files.
 */
export class FleetManager extends EventEmitter<FleetEvents> {
  state: FleetState = 'idle';
  readonly fleetId: string;
  readonly pool: string;
  #defaultImage = '';
  #minIdle: number;
  #max: number;
  #warmPerImage: number;
  /** Custom images seen in queued jobs, with when they were last seen (`rememberImages`). */
  #recentImages = new Map<string, number>();
  /**
   * Custom images a unit of ours was started in: only they get warm agents, so an image that
   * cannot be pulled or started fails its own job alone and is never started on speculation.
   */
  readonly #provenImages = new Set<string>();
  readonly #o: FleetManagerOptions;
  readonly #api: FleetApi;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #units = new Map<string, Unit>();
  /** Jobs refused or given up on: nothing is started for them again. */
  readonly #skip = new Set<string>();
  readonly #startFailures = new Map<string, number>();
  /** Registrations of exited units the server still counted busy; removed once it lets go. */
  readonly #orphans = new Set<string>();
  #warmFailures = 0;
  #warmBackoffUntil = 0;
  /** Until then the warm pool is not topped up: an agent of it has just taken a job (see WARM_YIELD_MS). */
  #warmYieldUntil = 0;
  /** Jobs the warm pool's top-up has yielded to once already. */
  readonly #yieldedFor = new Set<string>();
  /** When a round put something off, the time to run the next one (not waiting for the demand to change). */
  #retryAt: number | undefined;
  #learned: Record<string, string> | undefined;
  #wakeup = new AbortController();
  #dirty = false;
  #loop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #status: FleetStatusRecorder;

  constructor(options: FleetManagerOptions) {
    super();
    this.#o = options;
    this.fleetId = options.fleetId;
    this.pool = options.pool ?? 'default';
    this.#minIdle = options.minIdle ?? 1;
    this.#max = options.max ?? 4;
    this.#warmPerImage = options.warmPerImage ?? 1;
    this.#api = new FleetApi(options.client, options.adminToken, this.pool);
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.logger ?? silentLogger).child({ fleet: this.fleetId, pool: this.pool });
    // Scale events go to the server with the next heartbeat (`GET /fleets`, `/metrics`).
    const status = new FleetStatusRecorder(() => this.#clock.now());
    this.#status = status;
    this.on('unitStarted', (u) => status.record('started', u));
    this.on('unitExited', (u) => status.record('exited', u, u.reason));
    this.on('scaledDown', (u) => status.record('scaled-down', u));
    this.on('startFailed', (u) => status.record('start-failed', u, u.error));
  }

  /** The image warm agents run, known once started. */
  get defaultImage(): string {
    return this.#defaultImage;
  }

  /** What the fleet runs now. */
  units(): Array<UnitEvent & { phase: PlannedUnit['phase'] }> {
    return [...this.#units.values()].map((u) => ({
      unitId: u.unitId,
      name: u.name,
      image: u.image,
      phase: u.phase,
      ...(u.jobId === undefined ? {} : { jobId: u.jobId }),
    }));
  }

  /** Changes the scaling bounds of a running fleet; surplus idle agents go after the scale-down delay. */
  setLimits(limits: { minIdle?: number; max?: number; warmPerImage?: number }): void {
    this.#minIdle = limits.minIdle ?? this.#minIdle;
    this.#max = limits.max ?? this.#max;
    this.#warmPerImage = limits.warmPerImage ?? this.#warmPerImage;
    this.#wake();
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`the fleet is ${this.state}; it starts once`);
    const settings = await this.#api.poolSettings();
    if (!settings) throw new PoolNotFoundError('pool', this.pool);
    this.#defaultImage = this.#o.image ?? settings.defaultImage ?? BASE_IMAGE;
    try {
      await this.#o.driver.prepare(this.fleetId);
      await this.#collect();
      await this.#heartbeat();
      if (this.#stopping) throw new Error('the fleet was stopped while it started');
    } catch (error) {
      await this.#o.driver.teardown(this.fleetId).catch(() => undefined);
      this.#setState('stopped');
      throw error;
    }
    this.#setState('running');
    this.#timers.push(
      setInterval(() => void this.#heartbeat(), this.#o.heartbeatMs ?? 5_000),
      setInterval(() => void this.#collect(), this.#o.gcIntervalMs ?? 60_000),
    );
    for (const t of this.#timers) t.unref();
    this.#log.info(
      { image: this.#defaultImage, minIdle: this.#minIdle, max: this.#max, warmPerImage: this.#warmPerImage },
      'fleet started',
    );
    // The first round must not wait for news: the warm pool starts now.
    this.#dirty = true;
    this.#loop = this.#run();
  }

  /**
   * Stops starting agents, lets running jobs finish (up to the drain timeout, then cancels
   * them), removes every agent and everything the fleet made.
   */
  stop(): Promise<void> {
    if (this.state === 'idle') this.#setState('stopped');
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  async #drain(): Promise<void> {
    if (this.state === 'stopped') return;
    this.#setState('draining');
    for (const t of this.#timers.splice(0)) clearInterval(t);
    this.#wake();
    const deadline = this.#clock.now() + (this.#o.drainTimeoutMs ?? 300_000);
    while (this.#units.size > 0 && this.#clock.now() < deadline) await sleep(100);
    const grace = this.#o.stopGraceSeconds ?? 15;
    const left = [...this.#units.values()];
    if (left.length > 0)
      this.#log.warn({ agents: left.map((u) => u.name) }, 'drain timeout: canceling running jobs');
    if (left.length > 0) {
      await Promise.all(left.map((u) => this.#stopUnit(u, grace)));
      const timeout = new AbortController();
      await Promise.race([
        Promise.all(left.map((u) => u.exited)),
        sleep((grace + 10) * 1000, timeout.signal),
      ]);
      timeout.abort();
    }
    this.#setState('stopped');
    this.#wake();
    await this.#loop;
    for (const u of [...this.#units.values()]) await this.#o.driver.remove(u.unitId).catch(() => undefined);
    this.#units.clear();
    await this.#collect();
    await this.#o.driver.teardown(this.fleetId).catch((error) => {
      this.#log.warn({ err: describe(error) }, 'could not remove the fleet network');
    });
    for (const name of this.#orphans) await this.#api.removeAgent(name).catch(() => undefined);
    this.#log.info('fleet stopped');
  }

  #setState(state: FleetState): void {
    this.state = state;
    this.emit('state', state);
  }

  #wake(): void {
    this.#dirty = true;
    this.#wakeup.abort();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (this.state === 'running' || this.state === 'draining') {
      const busyPhase = this.state === 'draining' || this.#dirty;
      this.#dirty = false;
      this.#wakeup = new AbortController();
      const signal = this.#wakeup.signal;
      let demand: PoolDemand;
      try {
        demand = await this.#api.demand(busyPhase ? 0 : (this.#o.demandWaitMs ?? 10_000), signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) continue;
        failures++;
        if (failures === 1 || failures % 30 === 0)
          this.#log.warn({ err: describe(error) }, 'cannot read the pool demand');
        await sleep(Math.min(5_000, 250 * 2 ** Math.min(failures, 5)), signal);
        continue;
      }
      let acted = false;
      try {
        acted = await this.#reconcile(demand);
      } catch (error) {
        this.#log.error({ err: describe(error) }, 'reconcile failed');
      }
      // The long-poll answers at once while work is queued; pause briefly instead of spinning.
      // Units ending wake the loop early, so freed capacity is used at once.
      const queued = demand.queued.some((j) => !this.#skip.has(j.jobId));
      if (this.state === 'draining') await sleep(200, this.#wakeup.signal);
      else if (queued) await sleep(acted ? 100 : 250, this.#wakeup.signal);
      else if (this.#retryAt !== undefined) {
        // A warm start put off for a moment: come back for it then, without waiting for news.
        await sleep(Math.max(0, this.#retryAt - performance.now()), this.#wakeup.signal);
        this.#retryAt = undefined;
        this.#dirty = true;
      }
    }
  }

  /** One round: learn agent states, plan, act. True when something was started or stopped. */
  async #reconcile(demand: PoolDemand): Promise<boolean> {
    const now = this.#clock.now();
    const agents = new Map(demand.agents.map((a) => [a.name, a]));
    for (const unit of this.#units.values()) {
      if (unit.phase !== 'running') continue;
      const agent = agents.get(unit.name);
      if (agent && (agent.polling || agent.busy)) unit.registeredAt ??= now;
      if (agent?.busy || (unit.registeredAt !== undefined && !agent)) unit.spent = true;
      unit.idleSince = isIdle(agent) ? (unit.idleSince ?? now) : undefined;
    }
    // Forget jobs that left the queue, so a long-lived fleet does not remember every job id.
    const queued = new Set(demand.queued.map((j) => j.jobId));
    for (const id of this.#skip) if (!queued.has(id)) this.#skip.delete(id);
    for (const id of this.#yieldedFor) if (!queued.has(id)) this.#yieldedFor.delete(id);
    for (const id of this.#startFailures.keys()) if (!queued.has(id)) this.#startFailures.delete(id);
    if (this.#learned === undefined && this.state === 'running') await this.#learnCapabilities(demand);
    await this.#removeOrphans(agents);

    // The pool's policy is read for every round that has Docker jobs: a change applies to the next job.
    const settings = demand.queued.some((j) => j.docker !== 'none' && !this.#skip.has(j.jobId))
      ? await this.#api.poolSettings()
      : undefined;
    const policy: DockerPolicy = {
      pool: this.pool,
      allowDind: settings?.allowDind ?? false,
      allowDockerSocket: settings?.allowDockerSocket ?? false,
      allowRootlessBuilds: settings?.allowRootlessBuilds ?? false,
    };
    this.#recentImages = rememberImages(this.#recentImages, demand.queued, {
      defaultImage: this.#defaultImage,
      now,
      ttlMs: this.#o.recentImageMs ?? 600_000,
      // More images than containers could never all be warm.
      limit: this.#max,
    });
    for (const image of this.#provenImages)
      if (!this.#recentImages.has(image)) this.#provenImages.delete(image);
    const plan = planFleet({
      demand,
      recentImages: [...this.#recentImages.keys()].filter((i) => this.#provenImages.has(i)),
      warmPerImage: this.#warmPerImage,
      policy,
      units: [...this.#units.values()].filter((u) => !u.ended),
      defaultImage: this.#defaultImage,
      minIdle: this.#minIdle,
      max: this.#max,
      accepting: this.state === 'running',
      skip: this.#skip,
      now,
      scaleDownDelayMs: this.#o.scaleDownDelayMs ?? 30_000,
      registerTimeoutMs: this.#o.registerTimeoutMs ?? 60_000,
    });
    for (const { jobId, reason } of plan.refuse) {
      this.#skip.add(jobId);
      this.#log.error({ jobId }, reason);
      this.emit('jobRefused', { jobId, reason });
      await this.#api
        .failJob(jobId, reason)
        .catch((err) => this.#log.warn({ err, jobId }, 'could not fail the job'));
    }
    for (const name of plan.stale) {
      const unit = this.#byName(name);
      if (!unit) continue;
      this.#log.warn(
        { agent: name, output: await this.#o.driver.logs(unit.unitId, 20) },
        'agent never registered; removing it',
      );
      await this.#stopUnit(unit, 0);
    }
    await Promise.all(plan.drain.map((name) => this.#drainUnit(name)));

    // A free agent is about to take a job and no other job waits: topping the warm pool up yields
    // to that job's start for a moment (once per job), as its first steps share the CPU with it.
    const fresh = plan.takenByFree.filter((id) => !this.#yieldedFor.has(id));
    if (!plan.jobsWait && fresh.length > 0) {
      for (const id of fresh) this.#yieldedFor.add(id);
      this.#warmYieldUntil = performance.now() + WARM_YIELD_MS;
    }
    const yielding = !plan.jobsWait && performance.now() < this.#warmYieldUntil;
    const backoff = now < this.#warmBackoffUntil || yielding;
    const warm = backoff ? 0 : plan.warm;
    const warmImages = backoff ? [] : plan.warmImages;
    if (yielding && plan.warm + plan.warmImages.length > 0) this.#retryAt = this.#warmYieldUntil;
    const taken = new Set([
      ...[...this.#units.values()].map((u) => u.name),
      // A live agent that is not ours keeps its name: tickets register with `replace`.
      ...demand.agents.filter((a) => a.polling || a.busy).map((a) => a.name),
    ]);
    const names = allocateNames(this.pool, warm + warmImages.length + plan.cold.length, taken);
    for (let i = 0; i < warm; i++) this.#launch(names[i]!, this.#defaultImage);
    // Cold agents first: their jobs wait now, a warm agent of the same image is for the next one.
    plan.cold.forEach((job, i) => {
      this.#launch(names[warm + i]!, job.image ?? this.#defaultImage, job, settings?.dockerEngine);
    });
    warmImages.forEach((image, i) => {
      this.#launch(names[warm + plan.cold.length + i]!, image);
    });
    const started = warm + warmImages.length + plan.cold.length;
    return started + plan.drain.length + plan.stale.length > 0;
  }

  #byName(name: string): Unit | undefined {
    return [...this.#units.values()].find((u) => u.name === name && u.phase !== 'stopping');
  }

  /** Starts one unit in the background; it is tracked (and counted) from this moment. */
  #launch(name: string, image: string, job?: QueuedJobView, dockerEngine?: DockerEngineOptions): void {
    const unit: Unit = {
      unitId: randomBytes(5).toString('hex'),
      name,
      image,
      ...(job ? { jobId: job.jobId } : {}),
      phase: 'starting',
      startedAt: this.#clock.now(),
      spent: false,
      deliberate: false,
    };
    this.#units.set(unit.unitId, unit);
    const log = this.#log.child({ agent: name, unit: unit.unitId, ...(job ? { jobId: job.jobId } : {}) });
    const started = performance.now();
    void (async () => {
      try {
        // Asked for while the driver makes the containers: it is needed only just before start.
        const ticket = this.#api.ticket(name, job?.jobId, this.#o.ticketTtlSeconds ?? 300);
        ticket.catch(() => undefined);
        await this.#o.driver.start({
          unitId: unit.unitId,
          fleetId: this.fleetId,
          pool: this.pool,
          agentName: name,
          image,
          ...(job ? { jobId: job.jobId } : {}),
          services: job?.services ?? {},
          env: job?.env ?? {},
          ...(job?.options ? { options: job.options } : {}),
          docker: job?.docker ?? 'none',
          ...(job?.docker === 'dind' && dockerEngine ? { dockerEngine } : {}),
          ...(job?.timeoutInMinutes == null ? {} : { timeoutMinutes: job.timeoutInMinutes }),
          ticket,
        });
      } catch (error) {
        this.#units.delete(unit.unitId);
        this.#startFailed(unit, describe(error), log);
        this.#wake();
        return;
      }
      if (unit.deliberate) {
        // Stopped (drain timeout) while it was being made: it never serves.
        await this.#o.driver.remove(unit.unitId).catch(() => undefined);
        this.#units.delete(unit.unitId);
        return;
      }
      unit.phase = 'running';
      this.#provenImages.add(normalizeImageRef(image));
      const startMs = Math.round(performance.now() - started);
      log.info({ image, startMs }, job ? 'started an agent for a job' : 'started a warm agent');
      this.emit('unitStarted', { ...event(unit), startMs });
      unit.exited = this.#o.driver.wait(unit.unitId).then(
        (exit) => this.#onExit(unit, exit),
        (error) => this.#onExit(unit, { exitCode: -1, oomKilled: false, vanished: false }, describe(error)),
      );
    })();
  }

  #startFailed(unit: Unit, error: string, log: Logger): void {
    this.emit('startFailed', { ...event(unit), error });
    if (unit.jobId !== undefined) {
      const failures = (this.#startFailures.get(unit.jobId) ?? 0) + 1;
      this.#startFailures.set(unit.jobId, failures);
      const max = this.#o.maxStartAttempts ?? 3;
      if (failures >= max) {
        this.#skip.add(unit.jobId);
        log.error(
          { err: error, attempts: failures },
          'could not start an agent for this job; giving up on it',
        );
        const reason = `the fleet could not start an agent for this job (${failures} attempts): ${error}`;
        void this.#api
          .failJob(unit.jobId, reason)
          .catch((err) => log.warn({ err }, 'could not fail the job'));
        return;
      }
    } else {
      this.#warmFailures++;
      this.#warmBackoffUntil = this.#clock.now() + Math.min(30_000, 500 * 2 ** this.#warmFailures);
    }
    if (this.state === 'running') log.error({ err: error }, 'could not start an agent');
  }

  async #onExit(unit: Unit, exit: UnitExit, waitError?: string): Promise<void> {
    unit.phase = 'stopping';
    unit.ended = true;
    // Its slot is free now: the next round may start a replacement while this one is removed.
    this.#wake();
    const reason = waitError ?? describeExit(exit);
    const log = this.#log.child({ agent: unit.name, unit: unit.unitId });
    const crashed = !unit.deliberate && (exit.exitCode !== 0 || exit.oomKilled);
    if (crashed) {
      log.warn(
        { reason, output: await this.#o.driver.logs(unit.unitId, 20) },
        'agent container ended abnormally',
      );
      if (unit.registeredAt === undefined)
        this.#startFailed(unit, `the agent exited before registering (${reason})`, log);
    } else {
      log.debug({ reason }, 'agent container ended');
      if (unit.jobId === undefined && unit.registeredAt !== undefined) this.#warmFailures = 0;
    }
    try {
      await this.#o.driver.remove(unit.unitId);
    } catch (error) {
      log.warn({ err: describe(error) }, 'could not remove the unit; the garbage collector will');
    }
    try {
      if ((await this.#api.removeAgent(unit.name)) === 'busy') this.#orphans.add(unit.name);
    } catch (error) {
      log.debug({ err: describe(error) }, 'could not remove the registration');
      this.#orphans.add(unit.name);
    }
    this.#units.delete(unit.unitId);
    this.emit('unitExited', { ...event(unit), exit, reason });
    this.#wake();
  }

  /** Drains an idle agent; one that took a job meanwhile keeps it and leaves after it. */
  async #drainUnit(name: string): Promise<void> {
    const unit = this.#byName(name);
    if (!unit) return;
    try {
      if (await this.#api.drain(name)) {
        unit.spent = true;
        return;
      }
    } catch (error) {
      this.#log.warn({ agent: name, err: describe(error) }, 'could not drain');
      return;
    }
    this.#log.info(
      { agent: name },
      this.state === 'running' ? 'scaling down: removing an idle agent' : 'removing an idle agent',
    );
    this.emit('scaledDown', event(unit));
    await this.#stopUnit(unit, 5);
  }

  async #stopUnit(unit: Unit, graceSeconds: number): Promise<void> {
    unit.deliberate = true;
    unit.phase = 'stopping';
    try {
      await this.#o.driver.stop(unit.unitId, graceSeconds);
    } catch (error) {
      this.#log.warn({ agent: unit.name, err: describe(error) }, 'could not stop; removing');
      await this.#o.driver.remove(unit.unitId).catch(() => undefined);
    }
  }

  async #removeOrphans(agents: Map<string, PoolDemand['agents'][number]>): Promise<void> {
    for (const name of this.#orphans) {
      const agent = agents.get(name);
      if (this.#byName(name)) this.#orphans.delete(name);
      else if (!agent) this.#orphans.delete(name);
      else if (
        !agent.busy &&
        !agent.polling &&
        (await this.#api.removeAgent(name).catch(() => 'busy')) !== 'busy'
      ) {
        this.#orphans.delete(name);
      }
    }
  }

  /** Removes whatever carries this fleet's label but is not tracked, with its registrations. */
  async #collect(): Promise<void> {
    try {
      const report = await this.#o.driver.gc(this.fleetId, new Set(this.#units.keys()));
      if (report.containers + report.networks + report.volumes === 0) return;
      this.#log.info(
        { containers: report.containers, networks: report.networks, volumes: report.volumes },
        'removed leftovers of this fleet',
      );
      for (const unit of report.units) {
        if (!this.#byName(unit.agentName) && (await this.#api.removeAgent(unit.agentName)) === 'busy') {
          this.#orphans.add(unit.agentName);
        }
      }
    } catch (error) {
      this.#log.warn({ err: describe(error) }, 'garbage collection failed');
    }
  }

  async #heartbeat(): Promise<void> {
    try {
      const status = this.#status.status([...this.#units.values()], {
        minIdle: this.#minIdle,
        max: this.#max,
        image: this.#defaultImage,
        warmPerImage: this.#warmPerImage,
        recentImages: [...this.#recentImages.keys()],
      });
      await this.#api.heartbeat(this.fleetId, this.#capabilities(), status);
    } catch (error) {
      this.#log.warn({ err: describe(error) }, 'could not announce the fleet');
    }
  }

  #capabilities(): Record<string, string> {
    return {
      'Agent.OS': 'Linux',
      'Agent.Version': AGENT_VERSION,
      ...this.#learned,
      ...this.#o.capabilities,
      [IMAGE_CAPABILITY]: this.#defaultImage,
    };
  }

  /**
   * What a warm agent really reports (its image's environment, node, architecture), learned
   * from the first one to register, so jobs with demands are judged against the truth.
   */
  async #learnCapabilities(demand: PoolDemand): Promise<void> {
    const warmNames = new Set(
      [...this.#units.values()]
        .filter((u) => u.jobId === undefined && u.registeredAt !== undefined)
        .map((u) => u.name),
    );
    if (!demand.agents.some((a) => warmNames.has(a.name))) return;
    try {
      const agent = (await this.#api.agents()).find((a) => warmNames.has(a.name));
      if (!agent) return;
      this.#learned = Object.fromEntries(
        Object.entries(agent.capabilities).filter(([k]) => !PER_AGENT.has(k)),
      );
      await this.#heartbeat();
    } catch (error) {
      this.#log.debug({ err: describe(error) }, 'could not read agent capabilities');
    }
  }
}

function event(unit: Unit): UnitEvent {
  return {
    unitId: unit.unitId,
    name: unit.name,
    image: unit.image,
    ...(unit.jobId === undefined ? {} : { jobId: unit.jobId }),
  };
}

function describeExit(exit: UnitExit): string {
  if (exit.vanished) return 'the container disappeared';
  if (exit.oomKilled) return `killed for using too much memory (exit ${exit.exitCode})`;
  return `exit ${exit.exitCode}`;
}

function describe(error: unknown): string {
  const detail = answerDetail(error);
  if (detail !== undefined) return detail;
  return (error as Error)?.message ?? String(error);
}
