import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import {
  type appendLogQuery,
  type completeJobRequest,
  type heartbeatRequest,
  MAX_LOG_CHUNK_BYTES,
  type stepUpdateRequest,
} from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import {
  ForbiddenError,
  LeaseLostError,
  LogGapError,
  NotFoundError,
  ValidationError,
} from '../../shared/errors.js';
import {
  DEFAULT_MAX_LOG_MIB,
  DEFAULT_MAX_STEP_LOG_MIB,
  type JobRow,
  type LogLimits,
  type PoolSettings,
  type Store,
  type TokenRow,
} from '../../store/index.js';
import type { Notifier } from '../notifier.js';
import type { Scheduler } from '../scheduler.js';
import type { WorkspaceStore } from '../workspace-store.js';

/** How much of a log is read from the store at a time when it is served. */
export const LOG_PAGE_BYTES = 64 * 1024;

export type Heartbeat = z.output<typeof heartbeatRequest>;
export type StepUpdate = z.output<typeof stepUpdateRequest>;
/** Where an append's bytes go: the attempt (epoch), the step and the byte offset. */
export type LogAppend = z.output<typeof appendLogQuery>;
export type JobCompletion = z.output<typeof completeJobRequest>;

/** What a lease or step token proves: the one job it was issued for, and the attempt (epoch). */
export type JobCredential = Pick<TokenRow, 'jobId' | 'epoch'>;

export interface JobServiceOptions {
  store: Store;
  scheduler: Scheduler;
  /** Wakes a held heartbeat when its job is canceled (`job:<id>`), and run feeds on new log. */
  notifier: Notifier;
  workspaces: WorkspaceStore;
  clock: Clock;
  /** Told of the log bytes each append brought (metrics); default: nobody. */
  onLogBytes?: (pool: string, bytes: number) => void;
}

/**
 * What an agent does while it holds a job's lease — heartbeats, step updates, log appends,
 * completion — and reading a job's log back. Every write names its epoch; stale ones are fenced
 * off with `LeaseLostError`.
 */
export class JobService {
  constructor(private readonly o: JobServiceOptions) {}

  /**
   * Renews the attempt's lease, then holds up to `waitMs` unless the job is canceled, so that a
   * cancel reaches the agent the moment it is asked for.
   */
  async heartbeat(
    cred: JobCredential,
    jobId: string,
    beat: Heartbeat,
    signal?: AbortSignal,
  ): Promise<{ cancel: boolean; leaseExpiresAt: string }> {
    const job = await leasedJob(this.o.store, cred, jobId);
    const until = await this.o.scheduler.heartbeat(job.id, beat.epoch);
    if (until === null) throw new LeaseLostError(job.id, beat.epoch);
    if (!job.cancelRequested && beat.waitMs > 0 && !signal?.aborted) {
      await this.o.notifier.wait(`job:${job.id}`, beat.waitMs, signal);
    }
    const cancel = await this.o.scheduler.isCancelRequested(job.id);
    return { cancel, leaseExpiresAt: new Date(until).toISOString() };
  }

  /** Records a step starting or ending, with the run's secrets masked in its name and reason. */
  async updateStep(cred: JobCredential, jobId: string, update: StepUpdate): Promise<void> {
    const { store } = this.o;
    const job = await leasedJob(store, cred, jobId);
    const mask = await this.o.scheduler.runSecretMask(job.runId);
    const body = {
      ...update,
      name: update.name && mask(update.name),
      reason: update.reason && mask(update.reason),
    };
    requireEpoch(job, body.epoch);
    const step = job.plan.steps[body.index];
    if (!step) throw new NotFoundError('step', String(body.index));
    const now = this.o.clock.now();
    const existing = (await store.listSteps(job.id, job.attempt)).find((s) => s.idx === body.index);
    const name = body.name ?? existing?.name ?? step.displayName;
    await store.upsertStep({
      jobId: job.id,
      attempt: job.attempt,
      idx: body.index,
      name,
      state: body.state,
      result: body.result ?? null,
      reason: body.reason ?? null,
      startedAt: existing?.startedAt ?? now,
      finishedAt: body.state === 'completed' ? now : null,
    });
    await this.o.scheduler.jobEvent(
      job,
      { status: body.state, name, result: body.result ?? null, reason: body.reason ?? null },
      body.index,
    );
  }

  /**
   * Appends log bytes at their offset (a resend is harmless, a gap is refused with the length
   * to resend from), cut at the pool's limits. The bytes are stored as they came.
   */
  async appendLog(
    cred: JobCredential,
    jobId: string,
    append: LogAppend,
    data: Buffer,
  ): Promise<{ length: number; truncated?: true }> {
    const { store } = this.o;
    const job = await leasedJob(store, cred, jobId);
    if (data.length > MAX_LOG_CHUNK_BYTES) {
      throw new ValidationError(`data: ${data.length} bytes; at most ${MAX_LOG_CHUNK_BYTES} per append`);
    }
    // Stored and served as they are, and read back as text: only whole UTF-8 goes in.
    if (!isUtf8(data)) throw new ValidationError('log bytes must be UTF-8, cut between characters');
    const out = await store.appendLog(
      { id: job.id, runId: job.runId, name: job.name },
      append.epoch,
      append.step,
      append.offset,
      data,
      this.o.clock.now(),
      logLimits((await store.getPool(job.pool))?.settings),
    );
    if (!out.ok) {
      if (out.reason === 'gap') throw new LogGapError(append.offset, out.length);
      throw new LeaseLostError(job.id, append.epoch);
    }
    if (out.appended) this.o.onLogBytes?.(job.pool, data.length);
    if (out.appended) this.o.notifier.notify(`run:${job.runId}`);
    return out.truncated ? { length: out.length, truncated: true } : { length: out.length };
  }

  /** Takes the attempt's result; the same result again is fine, another is a `ResultConflictError`. */
  async complete(cred: JobCredential, jobId: string, completion: JobCompletion): Promise<void> {
    const job = await boundJob(this.o.store, cred, jobId);
    await this.o.scheduler.complete(
      job.id,
      completion.epoch,
      completion.result,
      completion.reason,
      completion,
      job,
    );
  }

  /** The run's workspace archive, for the attempt that holds the lease (or its steps). */
  async openWorkspace(cred: JobCredential, jobId: string): Promise<Readable> {
    const job = await leasedJob(this.o.store, cred, jobId);
    const run = await this.o.store.getRun(job.runId);
    if (!run?.workspaceId) throw new NotFoundError('workspace of run', job.runId);
    return this.o.workspaces.open(run.workspaceId);
  }

  /**
   * A job's log — one step's, or the whole attempt's — of its current attempt unless `attempt`
   * says otherwise. Read a page at a time as the consumer pulls: memory stays bounded whatever
   * the log's size and however many read it at once.
   */
  async openLog(jobId: string, which: { attempt?: number; step?: number }): Promise<AsyncIterable<string>> {
    const { store } = this.o;
    const job = await store.getJob(jobId);
    if (!job) throw new NotFoundError('job', jobId);
    const attempt = which.attempt ?? job.attempt;
    return (async function* pages() {
      let after = 0;
      for (;;) {
        const page = await store.readLogPage(job.id, attempt, which.step, after, LOG_PAGE_BYTES);
        if (!page) return;
        after = page.next;
        yield page.text;
      }
    })();
  }
}

/** The job a lease token is bound to; a token of one job can never touch another. */
export async function boundJob(store: Store, cred: JobCredential, jobId: string): Promise<JobRow> {
  if (cred.jobId !== jobId) throw new ForbiddenError('this token belongs to another job');
  const job = await store.getJob(jobId);
  if (!job) throw new NotFoundError('job', jobId);
  return job;
}

/** The bound job, while the token's attempt still holds its lease. */
export async function leasedJob(store: Store, cred: JobCredential, jobId: string): Promise<JobRow> {
  const job = await boundJob(store, cred, jobId);
  requireEpoch(job, cred.epoch ?? -1);
  return job;
}

function requireEpoch(job: JobRow, epoch: number): void {
  if (job.status !== 'running' || job.attempt !== epoch) {
    throw new LeaseLostError(job.id, epoch);
  }
}

const MIB = 1024 * 1024;

/** The pool's log caps, and the line the job's log gets where it was cut. */
export function logLimits(settings: PoolSettings | undefined): LogLimits {
  const job = settings?.maxLogMiB ?? DEFAULT_MAX_LOG_MIB;
  const step = settings?.maxStepLogMiB ?? DEFAULT_MAX_STEP_LOG_MIB;
  const mib = (bytes: number) => `${Number((bytes / MIB).toFixed(1))} MiB`;
  return {
    jobBytes: job * MIB,
    stepBytes: step * MIB,
    note: (scope, at) =>
      scope === 'step'
        ? `##[warning]log truncated at ${mib(at)} (pool limit: ${step} MiB per step, maxStepLogMiB); the rest of this step's output is not kept`
        : `##[warning]log truncated at ${mib(at)} for the job (pool limit: ${job} MiB per job, maxLogMiB); the rest of this job's output is not kept`,
  };
}
