import type { JobPlan, PipelinePlan, TaskResult } from '../pipeline/index.js';
import {
  type BuildReason,
  buildNumberRevisionKey,
  DEFAULT_BUILD_NUMBER_FORMAT,
  formatBuildNumber,
  type JobStart,
  parsePipeline,
  prepareJobStart,
  sourceVariables,
} from '../pipeline/index.js';
import type {
  CoverageView,
  CreateRunBody,
  JobEventData,
  JobSpec,
  RunEventData,
  StepEventData,
  TestRunView,
} from '../protocol/index.js';
import type { Clock } from '../shared/clock.js';
import { formatSeconds } from '../shared/duration.js';
import {
  ClaimLostError,
  ConflictError,
  LeaseLostError,
  NotFoundError,
  ResultConflictError,
  ValidationError,
} from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { MIN_SECRET_LENGTH, maskText } from '../shared/index.js';
import type { Logger } from '../shared/logger.js';
import type { AgentRow, Announcement, JobMove, JobRow, NewEvent, RunRow, Store } from '../store/index.js';
import { taskCatalog } from '../tasks/index.js';
import type { Auth } from './auth.js';
import type { Dispatcher } from './dispatcher.js';
import type { Notifier } from './notifier.js';
import { assessQueuedJob, type PoolServers } from './queue-assessment.js';
import type { SecretVault } from './secret-vault.js';
import type { VariableGroupService } from './services/variable-groups.js';
import { applyVmImage, mapVmImage, type VmImageTarget } from './vm-images.js';

export interface SchedulerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  auth: Auth;
  dispatcher: Dispatcher;
  notifier: Notifier;
  vault: SecretVault;
  /** How long a job's lease lives without a heartbeat. Default 90 s. */
  leaseTtlMs: number;
  /** `pool: { vmImage }` names (lower case) mapped to pools; unmapped Linux images run in `default`. */
  vmImagePools?: Record<string, VmImageTarget>;
  /** Fills in the variable groups jobs reference (`- group: NAME`); without it such runs are refused. */
  variableGroups?: Pick<VariableGroupService, 'resolve'>;
}

/** A fleet that has not announced itself for this long no longer counts as able to start agents. */
export const FLEET_PRESENCE_MS = 30_000;

/** A queued job that no agent and no fleet serves fails after this long, unless its pool says otherwise. */
export const DEFAULT_QUEUE_TIMEOUT_S = 15 * 60;
/** How often queued jobs are looked at again when nothing announced a change. */
const QUEUE_PASS_MS = 5_000;

/** What the log of an untrusted run says first. */
export const UNTRUSTED_NOTE =
  'This run is untrusted (a pull request from a fork): it has no secrets and no secure variables, and writes no cache a trusted run reads.';

/** A job of a run just queued (or queued again): no attempt, no agent, nothing recorded yet. */
const notStarted = () =>
  ({
    status: 'pending',
    result: null,
    reason: null,
    attempt: 0,
    agentId: null,
    agentName: null,
    leaseExpiresAt: null,
    cancelRequested: false,
    outputs: {},
    queuedAt: null,
    startedAt: null,
    finishedAt: null,
  }) satisfies Partial<JobRow>;

/** A pending job's move into the queue, and why it waits if it does. */
type QueueMove = JobMove & { job: JobRow; waiting: string | null };

/** An attempt's lease token (the agent's) and step token (what its steps see), minted, not stored. */
interface AttemptTokens {
  lease: ReturnType<Auth['mint']>;
  step: ReturnType<Auth['mint']>;
}

/** A job event written in the same transaction as the move it tells of. */
function jobAnnouncement(job: JobRow, attempt: number, data: JobEventData, at: number): Announcement {
  return {
    runId: job.runId,
    event: { kind: 'job', jobId: job.id, jobName: job.name, attempt, step: null, data },
    at,
  };
}

/** Ordered from best to worst: a run's result is the worst of its jobs'. */
const SEVERITY: TaskResult[] = ['skipped', 'succeeded', 'succeededWithIssues', 'canceled', 'failed'];

/**
 * The run and job state machine: queues runs, releases jobs as their dependencies finish,
 * hands jobs to agents, takes results, and fails attempts whose agent went silent.
 */
export class Scheduler {
  private reaper?: NodeJS.Timeout;
  private queuePass?: NodeJS.Timeout;
  private readonly reconsidering = new Map<string, { again: boolean; done: Promise<void> }>();
  /** Runs being finished by this process right now (see `finishRunOnce`). */
  private readonly finishing = new Map<string, Promise<void>>();
  /** Told of every job that reaches a result, with its row from before (metrics). */
  onJobFinished: (result: TaskResult, reason: string | null, job: JobRow, now: number) => void = () => {};
  /** Told of every claim, with the job's row from before it (metrics: the queue wait). */
  onJobStarted: (job: JobRow, now: number) => void = () => {};
  /** Told of every lease that expired (metrics). */
  onLeaseExpired: (job: JobRow) => void = () => {};

  constructor(private readonly o: SchedulerOptions) {}

  start(): void {
    const every = Math.max(200, Math.min(1_000, this.o.leaseTtlMs / 4));
    this.reaper = setInterval(() => void this.reapExpiredLeases(), every);
    this.reaper.unref();
    this.queuePass = setInterval(() => void this.reconsiderQueue().catch(() => undefined), QUEUE_PASS_MS);
    this.queuePass.unref();
  }

  stop(): void {
    clearInterval(this.reaper);
    clearInterval(this.queuePass);
  }

  /** After a restart, agents get one more lease period to reconnect before they count as lost. */
  async recover(): Promise<void> {
    const n = await this.o.store.extendAllLeases(this.o.clock.now() + this.o.leaseTtlMs);
    if (n > 0) this.o.logger.info({ jobs: n }, 'extended leases of running jobs after start');
  }

  /**
   * Each job's pool as the store spells it (pool names compare case-insensitively, as in
   * Azure), with `vmImage` mapped by this server's mapping. A pool that does not exist, or an
   * image that maps to none, refuses the run naming the job.
   */
  private async placeJobs(plan: PipelinePlan): Promise<JobPlan[]> {
    const pools = new Map((await this.o.store.listPools()).map((p) => [p.name.toLowerCase(), p.name]));
    return plan.jobs.map((job) => {
      const at = `${plan.file}:${job.pos.line}:${job.pos.col}`;
      let placed = job;
      if (job.pool.vmImage !== undefined) {
        const mapped = mapVmImage(job.pool.vmImage, this.o.vmImagePools ?? {});
        if ('refused' in mapped) throw new ValidationError(`${at}: job '${job.name}': ${mapped.refused}`);
        placed = applyVmImage(job, mapped.target);
      }
      const name = pools.get(placed.pool.name.toLowerCase());
      if (name === undefined) {
        const via = job.pool.vmImage === undefined ? '' : ` (vmImage '${job.pool.vmImage}' maps to it)`;
        throw new ValidationError(
          `${at}: job '${job.name}' uses pool '${placed.pool.name}'${via}, which does not exist`,
        );
      }
      if (name === placed.pool.name) return placed;
      const vmImageMapping = placed.pool.vmImageMapping && { ...placed.pool.vmImageMapping, pool: name };
      return { ...placed, pool: { ...placed.pool, name, ...(vmImageMapping ? { vmImageMapping } : {}) } };
    });
  }

  /**
   * Queues a run; `reason` is `Manual` for a run asked for through the API, a trigger's otherwise.
   * `repository` is the mirrored repository the coordinator started it from (sources only).
   */
  async createRun(body: CreateRunBody, reason: BuildReason = 'Manual', repository?: string) {
    // `Build.SourceBranch` and the like, known at compile time as in Azure; `--var` overrides them.
    const req = { ...body, variables: { ...sourceVariables(body.source, reason), ...body.variables } };
    // Compiled here again, with the same templates and values the CLI used: the server decides.
    const plan = parsePipeline(req.pipeline.content, req.pipeline.file, {
      readFile: (path) => req.templates[path],
      parameters: req.parameters,
      variables: req.variables,
      tasks: taskCatalog,
      allowUnsupportedTasks: req.allowUnsupportedTasks,
    });
    plan.jobs = await this.placeJobs(plan);
    if (req.workspaceId && !(await this.o.store.getWorkspace(req.workspaceId))) {
      throw new ValidationError(`workspace ${req.workspaceId} was not uploaded`);
    }
    const now = this.o.clock.now();
    const runId = newId('run_');
    const jobs: JobRow[] = plan.jobs.map((j, idx) => ({
      id: newId('job_'),
      runId,
      idx,
      name: j.name,
      displayName: j.displayName,
      plan: j,
      pool: j.pool.name,
      dependsOn: j.dependsOn,
      ...notStarted(),
    }));
    for (const job of jobs) await this.fillVariableGroups(plan.file, job, req.untrusted, repository);
    const run = await this.o.store.createRun(
      {
        id: runId,
        pipelineFile: plan.file,
        plan,
        variables: req.variables,
        // An untrusted run (a fork's pull request) gets no secrets, whoever asked for them.
        secrets:
          !req.untrusted && Object.keys(req.secrets).length > 0 ? this.o.vault.seal(req.secrets) : null,
        workspaceId: req.workspaceId ?? null,
        status: 'queued',
        result: null,
        cancelRequested: false,
        buildNumber: null,
        tags: [],
        source: req.source ?? {},
        reason,
        untrusted: req.untrusted,
        createdAt: now,
        startedAt: null,
        finishedAt: null,
      },
      jobs,
      buildNumberOf(plan, now, req.variables),
    );
    await this.runEvent(run.id, { status: 'queued', number: run.number });
    if (run.untrusted) {
      await this.event(run.id, {
        kind: 'log',
        jobId: null,
        jobName: null,
        attempt: null,
        step: null,
        data: { text: `${UNTRUSTED_NOTE}\n` },
      });
    }
    this.o.logger.info({ runId: run.id, number: run.number, reason, jobs: jobs.length }, 'run queued');
    await this.advance(run.id);
    return run;
  }

  /**
   * Queues a new run of `runId`'s plan with the same workspace, variables, source and sealed
   * secrets (the plan is not compiled again: it is what ran). With `failedOnly`, only the jobs
   * that failed or were canceled run again, with every job that depends on one of them
   * (directly or not); every other job is carried over as it finished — result, outputs and
   * times — without its log, so the jobs that run again see the same dependency outputs.
   */
  async rerun(runId: string, failedOnly: boolean): Promise<RunRow> {
    const old = await this.o.store.getRun(runId);
    if (!old) throw new NotFoundError('run', runId);
    const oldJobs = await this.o.store.listJobs(old.id);
    const again = failedOnly ? jobsToRunAgain(oldJobs) : new Set(oldJobs.map((j) => j.name));
    if (failedOnly && old.status !== 'completed') {
      throw new ConflictError(`run ${old.number} has not finished: wait for it, or re-run all of it`);
    }
    if (again.size === 0) {
      throw new ConflictError(`run ${old.number} has no failed or canceled job to re-run`);
    }
    for (const pool of new Set(oldJobs.filter((j) => again.has(j.name)).map((j) => j.pool))) {
      if (!(await this.o.store.getPool(pool))) {
        throw new ValidationError(`run ${old.number} uses pool '${pool}', which no longer exists`);
      }
    }
    const now = this.o.clock.now();
    const newRunId = newId('run_');
    const jobs: JobRow[] = oldJobs.map((j) => ({
      ...j,
      id: newId('job_'),
      runId: newRunId,
      ...notStarted(),
    }));
    const run = await this.o.store.createRun(
      {
        id: newRunId,
        pipelineFile: old.pipelineFile,
        plan: old.plan,
        variables: old.variables,
        secrets: old.secrets,
        workspaceId: old.workspaceId,
        status: 'queued',
        result: null,
        cancelRequested: false,
        buildNumber: null,
        tags: [],
        source: old.source,
        reason: old.reason,
        untrusted: old.untrusted,
        rerunOf: { id: old.id, number: old.number, failedOnly },
        createdAt: now,
        startedAt: null,
        finishedAt: null,
      },
      jobs,
      buildNumberOf(old.plan, now, old.variables),
    );
    await this.runEvent(run.id, { status: 'queued', number: run.number });
    for (const [i, kept] of oldJobs.entries()) {
      if (again.has(kept.name)) continue;
      const job = jobs[i]!;
      const reason = `kept from run ${old.number}${kept.reason ? `: ${kept.reason}` : ''}`;
      const moved = await this.o.store.transitionJob(job.id, ['pending'], {
        status: 'completed',
        result: kept.result,
        reason,
        outputs: kept.outputs,
        startedAt: kept.startedAt,
        finishedAt: kept.finishedAt,
      });
      if (moved) await this.jobEvent(job, { status: 'completed', result: kept.result!, reason });
    }
    this.o.logger.info({ runId: run.id, rerunOf: old.id, failedOnly, jobs: again.size }, 'run queued again');
    await this.advance(run.id);
    return (await this.o.store.getRun(run.id)) ?? run;
  }

  /**
   * Releases every pending job whose dependencies have all finished; finishes the run when all
   * did. No lock: each move is a compare-and-set in the store, so two jobs finishing together —
   * on one replica or on two — start and finish the run once, and only the winner announces it.
   */
  async advance(runId: string): Promise<void> {
    const run = await this.o.store.getRun(runId);
    if (!run || run.status === 'completed') return;
    // Most calls find nothing pending (independent jobs are all queued at once): counting is
    // enough then, instead of reading every job of the run.
    const counts = await this.o.store.countRunJobs(runId);
    if (counts.pending > 0 && (await this.releasePending(run))) return this.advance(runId);
    if (counts.pending + counts.queued + counts.running === 0) {
      await this.finishRunOnce(run);
    } else if (run.status === 'queued' && counts.running + counts.completed > 0) {
      const now = this.o.clock.now();
      if (await this.o.store.transitionRun(run.id, ['queued'], { status: 'running', startedAt: now })) {
        await this.runEvent(run.id, { status: 'running' });
      }
    }
  }

  /** Queues or skips each pending job whose dependencies have finished; true when any moved. */
  private async releasePending(run: RunRow): Promise<boolean> {
    const jobs = await this.o.store.listJobs(run.id);
    const byName = new Map(jobs.map((j) => [j.name.toLowerCase(), j]));
    // What serves a pool is read once for all the jobs released together, not once per job.
    const servers = new Map<string, Promise<PoolServers>>();
    const serversOf = (pool: string) => {
      let s = servers.get(pool);
      if (!s) {
        s = this.poolServers(pool);
        servers.set(pool, s);
      }
      return s;
    };
    let changed = false;
    const moves: QueueMove[] = [];
    for (const job of jobs) {
      if (job.status !== 'pending') continue;
      const deps = job.dependsOn.map((d) => byName.get(d.toLowerCase())!);
      if (deps.some((d) => d.status !== 'completed')) continue;
      changed = true;
      if (run.cancelRequested) {
        await this.finishJob(job, ['pending'], 'canceled', 'the run was canceled');
        continue;
      }
      const start = jobStart(run, job, deps);
      if (!start.run) await this.finishJob(job, ['pending'], start.result, start.reason);
      else {
        const move = await this.queueMove(job, await serversOf(job.pool));
        if (move) moves.push(move);
      }
    }
    await this.queueJobs(moves);
    return changed;
  }

  /**
   * The move that queues `job`, with its event; undefined when nothing could ever serve it (the
   * job fails at once). The caller writes the moves of a pass together: one commit, not one a job.
   */
  private async queueMove(job: JobRow, servers: PoolServers): Promise<QueueMove | undefined> {
    const assessment = assessQueuedJob(job, servers);
    if (assessment.kind === 'impossible') {
      await this.finishJob(job, ['pending'], 'failed', assessment.reason);
      return undefined;
    }
    const waiting = assessment.kind === 'ready' ? null : assessment.reason;
    const now = this.o.clock.now();
    // A pending job has had no attempt that could change under it: its row is current.
    return {
      job,
      waiting,
      id: job.id,
      from: ['pending'],
      patch: { status: 'queued', queuedAt: now, reason: waiting },
      announce: jobAnnouncement(job, job.attempt, { status: 'queued' }, now),
    };
  }

  /** Queues the jobs of `moves` in one transaction, then wakes whoever waits for them. */
  private async queueJobs(moves: QueueMove[]): Promise<void> {
    if (moves.length === 0) return;
    const won = await this.o.store.transitionJobs(moves);
    const pools = new Set<string>();
    for (const [i, m] of moves.entries()) {
      if (!won[i]) continue;
      this.o.notifier.notify(`run:${m.job.runId}`);
      if (m.waiting) await this.freshJobEvent(m.job, { status: 'waiting', reason: m.waiting });
      pools.add(m.job.pool);
    }
    for (const pool of pools) this.o.notifier.notify(`pool:${pool}`);
    if (pools.size > 0) void this.o.dispatcher.kick();
  }

  /**
   * Something that could serve `pool` changed (an agent arrived, announced itself or left, a
   * fleet appeared, the pool's policy changed): its queued jobs are looked at again. Calls that
   * arrive while a pass runs are folded into one more pass.
   */
  poolChanged(pool: string): Promise<void> {
    const pass = this.reconsidering.get(pool);
    if (pass) {
      pass.again = true;
      return pass.done;
    }
    const state = { again: false, done: Promise.resolve() };
    this.reconsidering.set(pool, state);
    state.done = (async () => {
      try {
        do {
          state.again = false;
          await this.reconsiderPool(pool);
        } while (state.again);
      } catch (err) {
        this.o.logger.error({ err, pool }, 'looking at queued jobs again failed');
      } finally {
        this.reconsidering.delete(pool);
      }
    })();
    return state.done;
  }

  /**
   * Looks at every queued job again: a job that nothing could ever serve fails now, a job that
   * nothing has served for its pool's queue timeout fails, and a job's reason for waiting is kept
   * current. The periodic pass catches what no request announces: fleets that went silent, time.
   */
  async reconsiderQueue(): Promise<void> {
    // The pools, not every queued job, say where to look: a pool without queued jobs costs one
    // indexed look; reading a deep queue twice cost the pass most of its time.
    for (const pool of await this.o.store.listPools()) await this.poolChanged(pool.name);
  }

  private async reconsiderPool(poolName: string): Promise<void> {
    const queued = (await this.o.store.listJobsByStatus('queued', poolName)).filter(
      (j) => !j.cancelRequested,
    );
    if (queued.length === 0) return;
    const servers = await this.poolServers(poolName);
    const timeoutMs = (servers.pool.settings.queueTimeoutSeconds ?? DEFAULT_QUEUE_TIMEOUT_S) * 1000;
    const now = this.o.clock.now();
    for (const job of queued) {
      const a = assessQueuedJob(job, servers);
      if (a.kind === 'ready') continue;
      if (a.kind === 'impossible') {
        await this.failWaiting(job, a.reason);
      } else if (a.kind === 'unserved' && now - (job.queuedAt ?? now) >= timeoutMs) {
        await this.failWaiting(
          job,
          `${a.reason}: the job waited ${formatSeconds(timeoutMs / 1000)}, the pool's queue timeout`,
        );
      } else if (job.reason !== a.reason) {
        if (await this.o.store.transitionJob(job.id, ['queued'], { status: 'queued', reason: a.reason })) {
          await this.jobEvent(job, { status: 'waiting', reason: a.reason });
        }
      }
    }
  }

  private async failWaiting(job: JobRow, reason: string): Promise<void> {
    this.o.logger.info(
      { runId: job.runId, jobId: job.id, pool: job.pool, reason },
      'queued job failed: nothing can serve it',
    );
    await this.finishJob(job, ['queued'], 'failed', reason);
    await this.advance(job.runId);
  }

  /** What could serve `poolName` now: its agents, which are busy, its live fleets. */
  async poolServers(poolName: string): Promise<PoolServers> {
    const [pool, agents, running, fleets] = await Promise.all([
      this.o.store.getPool(poolName),
      this.o.store.listAgents(poolName),
      this.o.store.listJobsByStatus('running', poolName),
      this.o.store.listFleets(poolName, this.o.clock.now() - FLEET_PRESENCE_MS),
    ]);
    if (!pool) throw new NotFoundError('pool', poolName);
    const busyAgentIds = new Set(running.flatMap((j) => (j.agentId ? [j.agentId] : [])));
    return { pool, agents, busyAgentIds, fleets };
  }

  /**
   * Claims `jobId` for `agent` (compare-and-set) and returns everything the agent needs to run it.
   * `job` is the row the caller read already, if it did. The claim, the attempt's tokens, steps and
   * event are one transaction: one commit, and no claimed job without its tokens.
   */
  async claim(jobId: string, agent: AgentRow, job?: JobRow): Promise<JobSpec> {
    const before = job ?? (await this.o.store.getJob(jobId));
    if (!before) throw new NotFoundError('job', jobId);
    const now = this.o.clock.now();
    let tokens: AttemptTokens | undefined;
    const outcome = await this.o.store.claimJob(
      jobId,
      { id: agent.id, name: agent.name },
      now + this.o.leaseTtlMs,
      now,
      (claimed) => {
        tokens = this.attemptTokens(claimed);
        return {
          tokens: [tokens.lease.row, tokens.step.row],
          steps: claimed.plan.steps.map((step, idx) => ({
            jobId,
            attempt: claimed.attempt,
            idx,
            name: step.displayName,
            state: 'pending' as const,
            result: null,
            reason: null,
            startedAt: null,
            finishedAt: null,
          })),
          announce: jobAnnouncement(claimed, claimed.attempt, { status: 'running', agent: agent.name }, now),
        };
      },
    );
    this.o.dispatcher.claimed(jobId);
    if (outcome.ok) {
      this.o.notifier.notify(`run:${before.runId}`);
      this.onJobStarted(before, now);
      this.o.logger.debug(
        { runId: before.runId, jobId, agentId: agent.id, attempt: outcome.job.attempt },
        'job claimed',
      );
      return this.jobSpec(outcome.job, tokens!);
    }
    // The same agent asking again for the job it holds: its claim went through, but the
    // answer was lost (the replica it reached died, the connection broke). It gets the same
    // attempt again, with new tokens; else the job would wait for its lease to run out.
    const held = await this.o.store.getJob(jobId);
    if (!held || held.status !== 'running' || held.agentId !== agent.id) throw new ClaimLostError(jobId);
    this.o.logger.info(
      { runId: before.runId, jobId, agentId: agent.id, attempt: held.attempt },
      'claim repeated',
    );
    const again = this.attemptTokens(held);
    for (const t of [again.lease, again.step]) await this.o.store.insertToken(t.row, now);
    return this.jobSpec(held, again);
  }

  /** The lease and step tokens of an attempt, bounded by the job's own limit (completion and lease loss revoke them sooner). */
  private attemptTokens(claimed: JobRow): AttemptTokens {
    const ttlMs = (claimed.plan.timeoutInMinutes || 360) * 60_000 + 30 * 60_000;
    const fields = { jobId: claimed.id, epoch: claimed.attempt, ttlMs };
    return {
      lease: this.o.auth.mint('job', { ...fields, name: `lease ${claimed.name}#${claimed.attempt}` }),
      step: this.o.auth.mint('stp', { ...fields, name: `steps of ${claimed.name}#${claimed.attempt}` }),
    };
  }

  /** Everything the agent needs to run its attempt. */
  private async jobSpec(claimed: JobRow, tokens: AttemptTokens): Promise<JobSpec> {
    const jobId = claimed.id;
    const run = (await this.o.store.getRun(claimed.runId))!;
    const lease = tokens.lease;
    const stepToken = tokens.step;
    if (run.status === 'queued') await this.advance(run.id);
    const wanted = new Set(claimed.dependsOn.map((d) => d.toLowerCase()));
    const deps =
      wanted.size > 0
        ? (await this.o.store.listJobs(run.id)).filter((j) => wanted.has(j.name.toLowerCase()))
        : [];
    const start = jobStart(run, claimed, deps);
    return {
      jobId,
      runId: run.id,
      runNumber: run.number,
      attempt: claimed.attempt,
      epoch: claimed.attempt,
      leaseToken: lease.token,
      stepToken: stepToken.token,
      leaseTtlMs: this.o.leaseTtlMs,
      pipelineFile: run.pipelineFile,
      plan: claimed.plan,
      variables: {
        ...run.plan.variables,
        ...claimed.plan.variables,
        ...run.variables,
        ...(start.run ? start.variables : {}),
      },
      buildNumber: run.buildNumber ?? String(run.number),
      // The job's own (its groups'), then the run's: `--secret` wins.
      secrets: {
        ...(claimed.secrets ? this.o.vault.open(claimed.secrets) : {}),
        ...(run.secrets ? this.o.vault.open(run.secrets) : {}),
      },
      hasWorkspace: run.workspaceId !== null,
      untrusted: run.untrusted,
      dependencies: start.run ? start.dependencies : {},
      stageDependencies: start.run ? start.stageDependencies : {},
    };
  }

  /**
   * A job's variable groups, read now (a later change does not alter a queued run): their
   * values beneath the job's own, their secrets sealed for this job alone.
   */
  private async fillVariableGroups(
    file: string,
    job: JobRow,
    untrusted: boolean,
    repository?: string,
  ): Promise<void> {
    if (!job.plan.variableGroups?.length) return;
    if (!this.o.variableGroups) {
      throw new ValidationError(
        `${file}: job '${job.name}' uses variable groups, which this server does not keep`,
      );
    }
    const groups = await this.o.variableGroups.resolve(file, job, untrusted, repository);
    job.plan = { ...job.plan, variables: { ...groups.variables, ...job.plan.variables } };
    if (Object.keys(groups.secrets).length > 0) job.secrets = this.o.vault.seal(groups.secrets);
  }

  /** Records the agent's result. Sending the same result again is fine; a different one is a conflict. */
  async complete(
    jobId: string,
    epoch: number,
    result: TaskResult,
    reason?: string,
    extras: {
      outputs?: Record<string, string>;
      buildNumber?: string;
      tags?: string[];
      testRuns?: TestRunView[];
      coverage?: CoverageView[];
    } = {},
    /** The job's row as the caller just read it, if it did: not read again. */
    current?: JobRow,
  ): Promise<void> {
    const job = current ?? (await this.o.store.getJob(jobId));
    if (!job) throw new NotFoundError('job', jobId);
    const final = effectiveResult(job.plan, result);
    if (job.status === 'completed' && job.attempt === epoch) {
      if (job.result === final) return;
      throw new ResultConflictError(`job ${jobId} completed as ${job.result} already`);
    }
    if (job.status !== 'running' || job.attempt !== epoch) {
      throw new LeaseLostError(jobId, epoch);
    }
    // Opening every sealed secret of the run is most of a completion's cost: only when the agent
    // sent text to store is there anything to mask.
    const sent =
      reason !== undefined ||
      extras.buildNumber !== undefined ||
      (extras.tags?.length ?? 0) > 0 ||
      (extras.testRuns?.length ?? 0) > 0 ||
      Object.keys(extras.outputs ?? {}).length > 0;
    const mask = sent ? await this.runSecretMask(job.runId) : (text: string) => text;
    const outputs = Object.fromEntries(Object.entries(extras.outputs ?? {}).map(([k, v]) => [k, mask(v)]));
    const buildNumber = extras.buildNumber === undefined ? undefined : mask(extras.buildNumber);
    await this.recordRunInfo(job, { buildNumber, tags: extras.tags?.map(mask) });
    const testRuns = extras.testRuns?.map((t) => ({
      ...t,
      title: mask(t.title),
      files: t.files.map(mask),
      failures: t.failures.map((f) => ({ name: mask(f.name), message: mask(f.message) })),
    }));
    const coverage = extras.coverage?.map((c) => ({
      ...c,
      file: mask(c.file),
      ...(c.artifact === undefined ? {} : { artifact: mask(c.artifact) }),
    }));
    await this.finishJob(
      job,
      ['running'],
      final,
      reason === undefined ? null : mask(reason),
      outputs,
      testRuns,
      coverage,
      epoch,
    );
    await this.advance(job.runId);
  }

  /**
   * Masks the run's secrets in what an agent sends to be stored and shown (build number, tags,
   * outputs, step names, reasons, artifact names). The agent masks all of it first, and it alone
   * knows the secrets steps set at runtime: this is the second line, for the run's own.
   */
  async runSecretMask(runId: string): Promise<(text: string) => string> {
    const run = await this.o.store.getRun(runId);
    const sealed = [run?.secrets, ...(await this.o.store.listJobs(runId)).map((j) => j.secrets)];
    const secrets = sealed
      .flatMap((s) => (s ? Object.values(this.o.vault.open(s)) : []))
      .filter((v) => [...v].length >= MIN_SECRET_LENGTH);
    return secrets.length === 0 ? (text) => text : (text) => maskText(text, secrets);
  }

  /** What the job's logging commands said about the run: its build number and tags. */
  private async recordRunInfo(job: JobRow, extras: { buildNumber?: string; tags?: string[] }): Promise<void> {
    if (!extras.buildNumber && !extras.tags?.length) return;
    const run = (await this.o.store.getRun(job.runId))!;
    const tags = [...new Set([...run.tags, ...(extras.tags ?? [])])];
    await this.o.store.updateRun(run.id, { buildNumber: extras.buildNumber ?? run.buildNumber, tags });
  }

  /** Fails a job that is still waiting (a fleet could not start it); a job already running is left alone. */
  async failQueued(jobId: string, reason: string): Promise<void> {
    const job = await this.o.store.getJob(jobId);
    if (!job) throw new NotFoundError('job', jobId);
    if (job.status !== 'queued') throw new ConflictError(`job ${jobId} is ${job.status}, not queued`);
    await this.finishJob(job, ['queued'], 'failed', reason);
    await this.advance(job.runId);
  }

  async cancelRun(runId: string): Promise<void> {
    const run = await this.o.store.getRun(runId);
    if (!run) throw new NotFoundError('run', runId);
    if (run.status === 'completed') return;
    await this.o.store.updateRun(runId, { cancelRequested: true });
    for (const job of await this.o.store.listJobs(runId)) {
      if (job.status === 'pending' || job.status === 'queued') {
        await this.finishJob(job, ['pending', 'queued'], 'canceled', 'the run was canceled');
      } else if (job.status === 'running') {
        await this.o.store.requestJobCancel(job.id);
        this.o.notifier.notify(`job:${job.id}`);
      }
    }
    await this.advance(runId);
  }

  async isCancelRequested(jobId: string): Promise<boolean> {
    return (await this.o.store.getJob(jobId))?.cancelRequested ?? true;
  }

  /** Extends the lease of a live attempt; false when the attempt has lost it. */
  async heartbeat(jobId: string, epoch: number): Promise<number | null> {
    const until = this.o.clock.now() + this.o.leaseTtlMs;
    return (await this.o.store.renewLease(jobId, epoch, until)) ? until : null;
  }

  async reapExpiredLeases(): Promise<void> {
    try {
      for (const job of await this.o.store.listExpiredLeases(this.o.clock.now())) {
        this.o.logger.warn(
          {
            runId: job.runId,
            jobId: job.id,
            agentId: job.agentId,
            attempt: job.attempt,
            agent: job.agentName,
          },
          'lease expired: agent lost',
        );
        this.onLeaseExpired(job);
        const reason = `agent lost: ${job.agentName ?? 'the agent'} stopped renewing its lease`;
        for (const s of await this.o.store.listSteps(job.id, job.attempt)) {
          if (s.state !== 'running') continue;
          await this.o.store.upsertStep({
            ...s,
            state: 'completed',
            result: 'failed',
            reason: 'agent lost',
            finishedAt: this.o.clock.now(),
          });
        }
        if (!job.cancelRequested && job.attempt <= (await this.retriesOnAgentLoss(job))) {
          await this.retry(job, reason);
          continue;
        }
        await this.finishJob(job, ['running'], 'failed', reason);
        await this.advance(job.runId);
      }
    } catch (err) {
      this.o.logger.error({ err }, 'lease reaper failed');
    }
  }

  private async retriesOnAgentLoss(job: JobRow): Promise<number> {
    if (job.plan.retryCountOnAgentLoss !== undefined) return job.plan.retryCountOnAgentLoss;
    return (await this.o.store.getPool(job.pool))?.settings.retryCountOnAgentLoss ?? 0;
  }

  /** Puts a lost attempt's job back in the queue; the next claim starts a new attempt (epoch). */
  private async retry(job: JobRow, reason: string): Promise<void> {
    const ok = await this.o.store.transitionJob(job.id, ['running'], {
      status: 'queued',
      reason,
      agentId: null,
      agentName: null,
      leaseExpiresAt: null,
      queuedAt: this.o.clock.now(),
    });
    if (!ok) return;
    await this.jobEvent(job, { status: 'queued', retry: true, reason });
    this.o.notifier.notify(`job:${job.id}`);
    this.o.notifier.notify(`pool:${job.pool}`);
    void this.o.dispatcher.kick();
  }

  private async finishJob(
    job: JobRow,
    from: JobRow['status'][],
    result: TaskResult,
    reason: string | null,
    outputs: Record<string, string> = {},
    testRuns?: TestRunView[],
    coverage?: CoverageView[],
    /** The attempt finishing, when the caller knows it (a completion names its epoch). */
    knownAttempt?: number,
  ) {
    // The attempt as the store has it: `job` may be a snapshot from before a claim.
    const attempt = knownAttempt ?? ((await this.o.store.getJob(job.id)) ?? job).attempt;
    const now = this.o.clock.now();
    const ok = await this.o.store.transitionJob(
      job.id,
      from,
      {
        status: 'completed',
        result,
        reason,
        outputs,
        testRuns,
        coverage,
        finishedAt: now,
        leaseExpiresAt: null,
      },
      // Announced with the change: a coordinator killed between them cannot lose the event.
      jobAnnouncement(job, attempt, { status: 'completed', result, reason }, now),
    );
    if (!ok) return;
    this.o.notifier.notify(`run:${job.runId}`);
    this.onJobFinished(result, reason, job, this.o.clock.now());
    this.o.logger.debug(
      { runId: job.runId, jobId: job.id, agentId: job.agentId, attempt: job.attempt, result, reason },
      'job finished',
    );
    // A finished leg frees a place under its group's maxParallel for the next one.
    if (job.plan.parallelGroup) void this.o.dispatcher.kick();
    this.o.notifier.notify(`job:${job.id}`);
  }

  /**
   * The last completions of a run, landing together (one group commit), each find it done: one
   * reads its jobs and finishes it, the others wait for that instead of reading them all again.
   * Only work is saved here; the move itself stays a compare-and-set in the store.
   */
  private finishRunOnce(run: RunRow): Promise<void> {
    let finishing = this.finishing.get(run.id);
    if (!finishing) {
      finishing = (async () => this.finishRun(run, await this.o.store.listJobs(run.id)))().finally(() =>
        this.finishing.delete(run.id),
      );
      this.finishing.set(run.id, finishing);
    }
    return finishing;
  }

  private async finishRun(run: RunRow, jobs: JobRow[]): Promise<void> {
    const result = run.cancelRequested ? 'canceled' : worst(jobs.map((j) => j.result!));
    const finishedAt = this.o.clock.now();
    const won = await this.o.store.transitionRun(
      run.id,
      ['queued', 'running'],
      { status: 'completed', result, finishedAt },
      {
        runId: run.id,
        event: {
          kind: 'run',
          jobId: null,
          jobName: null,
          attempt: null,
          step: null,
          data: { status: 'completed', result },
        },
        at: finishedAt,
      },
    );
    if (!won) return;
    this.o.notifier.notify(`run:${run.id}`);
    this.o.logger.info({ runId: run.id, number: run.number, result }, 'run finished');
  }

  /** Records a job event, or a step event when `step` is given. */
  async jobEvent(job: JobRow, data: JobEventData): Promise<void>;
  async jobEvent(job: JobRow, data: StepEventData, step: number): Promise<void>;
  async jobEvent(job: JobRow, data: JobEventData | StepEventData, step: number | null = null): Promise<void> {
    const current = (await this.o.store.getJob(job.id)) ?? job;
    const head = { jobId: job.id, jobName: job.name, attempt: current.attempt };
    // Only step events carry a name; the overloads pair them with their step.
    if ('name' in data) await this.event(job.runId, { kind: 'step', ...head, step, data });
    else await this.event(job.runId, { kind: 'job', ...head, step: null, data });
  }

  /** A job event for a row the caller knows is current (just claimed or queued): no read first. */
  private freshJobEvent(job: JobRow, data: JobEventData): Promise<void> {
    return this.event(job.runId, {
      kind: 'job',
      jobId: job.id,
      jobName: job.name,
      attempt: job.attempt,
      step: null,
      data,
    });
  }

  private runEvent(runId: string, data: RunEventData): Promise<void> {
    return this.event(runId, { kind: 'run', jobId: null, jobName: null, attempt: null, step: null, data });
  }

  private async event(runId: string, e: NewEvent): Promise<void> {
    await this.o.store.appendEvent(runId, e, this.o.clock.now());
    this.o.notifier.notify(`run:${runId}`);
  }
}

/** `name:` (Azure's build-number format) rendered for a new run; the store supplies the revision. */
function buildNumberOf(plan: PipelinePlan, now: number, variables: Record<string, string>) {
  const format = plan.name ?? DEFAULT_BUILD_NUMBER_FORMAT;
  const input = {
    date: new Date(now),
    variables: {
      'Build.DefinitionName': plan.file.replace(/^.*\//, '').replace(/\.ya?ml$/i, ''),
      ...plan.variables,
      ...variables,
    },
  };
  return {
    revisionKey: `${plan.file}\u0000${buildNumberRevisionKey(format, input)}`,
    render: (rev: number) => formatBuildNumber(format, { ...input, rev }),
  };
}

/**
 * Whether a job whose dependencies have finished runs, and with which runtime variables and
 * dependency states: stage condition, `$[ ]` variables, then the job's condition. Pure and
 * repeatable, so the claim recomputes it instead of storing it.
 */
function jobStart(run: RunRow, job: JobRow, deps: JobRow[]): JobStart {
  return prepareJobStart(job.plan, {
    finished: deps.map((d) => ({ plan: d.plan, result: d.result!, outputs: d.outputs })),
    variables: { ...run.plan.variables, ...job.plan.variables, ...run.variables },
  });
}

/**
 * The jobs a failed-only re-run runs again, by name: those that failed or were canceled, and
 * every job that depends on one of them, directly or through others.
 */
export function jobsToRunAgain(jobs: readonly JobRow[]): Set<string> {
  const again = new Set<string>();
  for (const j of jobs) if (j.result === 'failed' || j.result === 'canceled') again.add(j.name);
  let grew = again.size > 0;
  while (grew) {
    grew = false;
    for (const j of jobs) {
      if (again.has(j.name)) continue;
      const names = new Set(j.dependsOn.map((d) => d.toLowerCase()));
      if ([...again].some((n) => names.has(n.toLowerCase()))) {
        again.add(j.name);
        grew = true;
      }
    }
  }
  return again;
}

/** A failed job that may fail (`continueOnError`) counts as succeeded with issues, as in Azure Pipelines. */
function effectiveResult(plan: JobPlan, result: TaskResult): TaskResult {
  return result === 'failed' && plan.continueOnError ? 'succeededWithIssues' : result;
}

function worst(results: TaskResult[]): TaskResult {
  const ranked = results.filter((r) => r !== 'skipped');
  if (ranked.length === 0) return 'succeeded';
  return ranked.reduce((a, b) => (SEVERITY.indexOf(b) > SEVERITY.indexOf(a) ? b : a));
}
