import {
  type QueueEntry,
  type QueueView,
  UNSERVED_WINDOW_MS,
  type UnservedJob,
} from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import type { JobRow, RunRow, Store } from '../../store/index.js';
import { formatDemand } from '../demands.js';
import { needsContainerRuntime } from '../dispatcher.js';
import { assessQueuedJob, type PoolServers } from '../queue-assessment.js';

/** Most jobs `GET /queue` lists as failed without starting. */
const MAX_UNSERVED = 50;

export interface QueueServiceOptions {
  store: Store;
  clock: Clock;
  /** What could serve a pool now (the scheduler's own view, so both give the same reasons). */
  poolServers(pool: string): Promise<PoolServers>;
}

/** The queue as people see it: every waiting job with why it waits, and jobs nothing could serve. */
export class QueueService {
  constructor(private readonly o: QueueServiceOptions) {}

  async view(pool?: string): Promise<QueueView> {
    const { store, clock } = this.o;
    const now = clock.now();
    const queued = (await store.listJobsByStatus('queued', pool)).filter((j) => !j.cancelRequested);
    const failed = await store.listFailedUnstartedJobs(now - UNSERVED_WINDOW_MS, MAX_UNSERVED, pool);
    const runs = await this.runsOf([...queued, ...failed]);
    const servers = new Map<string, PoolServers>();
    for (const name of new Set(queued.map((j) => j.pool))) servers.set(name, await this.o.poolServers(name));
    const entries: QueueEntry[] = [];
    for (const job of queued) {
      const run = runs.get(job.runId);
      if (!run) continue;
      const a = assessQueuedJob(job, servers.get(job.pool)!);
      const throttled = a.kind === 'ready' ? await this.heldByMaxParallel(job) : undefined;
      const queuedAt = job.queuedAt ?? now;
      entries.push({
        jobId: job.id,
        jobName: job.name,
        displayName: job.displayName,
        runId: run.id,
        runNumber: run.number,
        pipelineFile: run.pipelineFile,
        pool: job.pool,
        demands: job.plan.pool.demands.map(formatDemand),
        image: needsContainerRuntime(job) ? (job.plan.container?.image ?? null) : null,
        kind: throttled ? 'waiting' : a.kind,
        reason: throttled ?? (a.kind === 'ready' ? null : a.reason),
        queuedAt: new Date(queuedAt).toISOString(),
        waitedSeconds: Math.max(0, Math.floor((now - queuedAt) / 1000)),
        attempt: job.attempt,
      });
    }
    const unserved: UnservedJob[] = failed.flatMap((job) => {
      const run = runs.get(job.runId);
      return run
        ? [
            {
              jobId: job.id,
              jobName: job.name,
              runId: run.id,
              runNumber: run.number,
              pool: job.pool,
              demands: job.plan.pool.demands.map(formatDemand),
              reason: job.reason,
              failedAt: new Date(job.finishedAt ?? now).toISOString(),
            },
          ]
        : [];
    });
    return { queued: entries, failed: unserved };
  }

  private async runsOf(jobs: JobRow[]): Promise<Map<string, RunRow>> {
    const runs = new Map<string, RunRow>();
    for (const id of new Set(jobs.map((j) => j.runId))) {
      const run = await this.o.store.getRun(id);
      if (run) runs.set(id, run);
    }
    return runs;
  }

  /** `strategy: maxParallel`: a leg whose group runs as many as it may waits for one to finish. */
  private async heldByMaxParallel(job: JobRow): Promise<string | undefined> {
    const { parallelGroup, maxParallel } = job.plan;
    if (!parallelGroup || !maxParallel) return undefined;
    const running = (await this.o.store.listJobs(job.runId)).filter(
      (j) => j.plan.parallelGroup === parallelGroup && j.status === 'running',
    ).length;
    return running >= maxParallel
      ? `waiting for another leg of '${parallelGroup}' to finish: ${running} of at most ${maxParallel} run (maxParallel)`
      : undefined;
  }
}
