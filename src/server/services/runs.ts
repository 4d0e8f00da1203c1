import type { CreateRunBody, RunView } from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import { NotFoundError } from '../../shared/errors.js';
import type { EventRow, JobRow, RunFilter, RunRow, StepRow, Store } from '../../store/index.js';
import type { Notifier } from '../notifier.js';
import type { Scheduler } from '../scheduler.js';
import type { WorkspaceStore } from '../workspace-store.js';
import { feedStream } from './feed-stream.js';

/** Events in one page of a run's feed, and about how many bytes of them: a log-heavy run pages. */
export const EVENTS_PAGE_LIMIT = 1000;
export const EVENTS_PAGE_BYTES = 1024 * 1024;
/** Longest a feed request waits for news. */
export const MAX_FEED_WAIT_MS = 30_000;

export interface RunServiceOptions {
  store: Store;
  scheduler: Scheduler;
  /** Wakes a waiting feed when its run has news (`run:<id>`). */
  notifier: Notifier;
  workspaces: WorkspaceStore;
  clock: Clock;
}

/** One page of a run's feed: the events after the asked-for `seq`, where to go on, whether it ended. */
export interface RunFeedPage {
  events: (Omit<EventRow, 'at'> & { at: string })[];
  next: number;
  /** The run has completed and every event of it has been served. */
  done: boolean;
}

/** Runs as people see them: queued with a workspace, listed, viewed, followed, canceled. */
export class RunService {
  constructor(private readonly o: RunServiceOptions) {}

  /** Keeps a workspace archive (by content, so the same tree twice is stored once) and records it. */
  async uploadWorkspace(archive: Buffer): Promise<{ id: string; size: number }> {
    const stored = await this.o.workspaces.put(archive);
    await this.o.store.insertWorkspace(stored.id, stored.size, this.o.clock.now());
    return stored;
  }

  /** Queues a run; its pipeline, pools and workspace are checked by the scheduler first. */
  async create(body: CreateRunBody): Promise<RunView> {
    return this.viewOf(await this.o.scheduler.createRun(body));
  }

  /** The newest runs first, at most `limit` of them, those `filter` keeps. */
  async list(limit: number, filter: RunFilter = {}): Promise<RunView[]> {
    const runs = await this.o.store.listRuns(limit, filter);
    return Promise.all(runs.map((r) => this.viewOf(r)));
  }

  /** Queues the run again, all of it or only what failed (see `Scheduler.rerun`). */
  async rerun(idOrNumber: string, failedOnly: boolean): Promise<RunView> {
    const run = await findRun(this.o.store, idOrNumber);
    return this.viewOf(await this.o.scheduler.rerun(run.id, failedOnly));
  }

  async view(idOrNumber: string): Promise<RunView> {
    return this.viewOf(await findRun(this.o.store, idOrNumber));
  }

  /**
   * The run's feed after `after`: at once when there is news, else it waits up to `waitMs` for
   * some (a finished run never waits), or until `signal` aborts (the client went away).
   */
  async feed(
    idOrNumber: string,
    page: { after: number; waitMs: number },
    signal?: AbortSignal,
  ): Promise<RunFeedPage> {
    const { store } = this.o;
    const run = await findRun(store, idOrNumber);
    const { after } = page;
    const waitMs = Math.min(Math.max(page.waitMs, 0), MAX_FEED_WAIT_MS);
    let events = await store.listEvents(run.id, after, EVENTS_PAGE_LIMIT, EVENTS_PAGE_BYTES);
    if (events.length === 0 && waitMs > 0) {
      const current = await store.getRun(run.id);
      // A client that left while the store was read is not waited for.
      if (current?.status !== 'completed' && !signal?.aborted) {
        await this.o.notifier.wait(`run:${run.id}`, waitMs, signal);
        events = await store.listEvents(run.id, after, EVENTS_PAGE_LIMIT, EVENTS_PAGE_BYTES);
      }
    }
    const last = events.at(-1)?.seq ?? after;
    // Done only once the last page is served: a client stops at `done` without missing the tail.
    const done =
      (await store.getRun(run.id))?.status === 'completed' &&
      (await store.listEvents(run.id, last, 1)).length === 0;
    return {
      events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
      next: last,
      done,
    };
  }

  /** The run's feed after `after` as frames of raw bytes (see `feedStream`). */
  async feedStream(idOrNumber: string, after: number, signal?: AbortSignal): Promise<AsyncGenerator<Buffer>> {
    const run = await findRun(this.o.store, idOrNumber);
    const rows = { limit: EVENTS_PAGE_LIMIT, bytes: EVENTS_PAGE_BYTES };
    return feedStream({ store: this.o.store, notifier: this.o.notifier, rows }, run.id, after, signal);
  }

  /** Cancels what has not finished; a finished run is left as it is. */
  async cancel(idOrNumber: string): Promise<RunView> {
    const run = await findRun(this.o.store, idOrNumber);
    await this.o.scheduler.cancelRun(run.id);
    return this.viewOf((await this.o.store.getRun(run.id))!);
  }

  /** A run, its jobs and their current attempts' steps: three queries however many jobs it has. */
  private async viewOf(run: RunRow): Promise<RunView> {
    const [jobs, steps] = await Promise.all([
      this.o.store.listJobs(run.id),
      this.o.store.listRunSteps(run.id),
    ]);
    return runView(run, jobs, steps);
  }
}

/** Runs are addressed by id or by number (`slipway cancel 12`). */
export async function findRun(store: Store, idOrNumber: string): Promise<RunRow> {
  const run = /^\d+$/.test(idOrNumber)
    ? await store.getRunByNumber(Number(idOrNumber))
    : await store.getRun(idOrNumber);
  if (!run) throw new NotFoundError('run', idOrNumber);
  return run;
}

/** The run as the API shows it. Steps of another attempt than a job's own are left out. */
export function runView(run: RunRow, jobs: JobRow[], steps: StepRow[]): RunView {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  const stepsOf = new Map<string, StepRow[]>();
  for (const s of steps) {
    const list = stepsOf.get(s.jobId) ?? [];
    list.push(s);
    stepsOf.set(s.jobId, list);
  }
  return {
    id: run.id,
    number: run.number,
    pipelineFile: run.pipelineFile,
    status: run.status,
    result: run.result,
    startedAt: iso(run.startedAt),
    durationSeconds:
      run.finishedAt === null ? null : Math.max(0, run.finishedAt - (run.startedAt ?? run.createdAt)) / 1000,
    rerunOf: run.rerunOf ?? null,
    buildNumber: run.buildNumber ?? String(run.number),
    tags: run.tags,
    source: run.source,
    reason: run.reason,
    untrusted: run.untrusted,
    createdAt: new Date(run.createdAt).toISOString(),
    finishedAt: iso(run.finishedAt),
    jobs: jobs.map((j) => ({
      id: j.id,
      name: j.name,
      displayName: j.displayName,
      status: j.status,
      result: j.result,
      reason: j.reason,
      attempt: j.attempt,
      agentName: j.agentName,
      dependsOn: j.dependsOn,
      outputs: j.outputs,
      testRuns: j.testRuns ?? [],
      coverage: j.coverage ?? [],
      queuedAt: iso(j.queuedAt),
      startedAt: iso(j.startedAt),
      finishedAt: iso(j.finishedAt),
      steps: (stepsOf.get(j.id) ?? [])
        .filter((s) => s.attempt === j.attempt)
        .map((s) => ({
          index: s.idx,
          name: s.name,
          state: s.state,
          result: s.result,
          reason: s.reason,
          startedAt: iso(s.startedAt),
          finishedAt: iso(s.finishedAt),
        })),
    })),
  };
}
