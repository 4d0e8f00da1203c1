import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BuildReason,
  collectTemplateFiles,
  type PipelinePlan,
  parsePipeline,
  type RunSource,
  sourceVariables,
} from '../../pipeline/index.js';
import {
  type AddRepositoryRequest,
  addRepositoryRequest,
  createRunRequest,
  type RepositoryErrorView,
  type RepositoryRunRequest,
  type RepositoryView,
  type RunView,
  repositoryRunRequest,
} from '../../protocol/index.js';
import type { Clock } from '../../shared/clock.js';
import {
  AuthError,
  ConflictError,
  NotFoundError,
  RateLimitError,
  ValidationError,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { listAllFiles, packWorkspace } from '../../shared/workspace-archive.js';
import {
  ciTriggered,
  deliveryId,
  type Forge,
  type GitCredential,
  GitError,
  type GitRunner,
  type HookEvent,
  HookPayloadError,
  KeyedQueue,
  Mirror,
  parseCron,
  parseDelivery,
  planSchedule,
  postStatus,
  prTriggered,
  readTriggers,
  type SourceWork,
  type StatusApi,
  type StatusState,
  scheduleBranches,
  scheduleKey,
  statusApiFromUrl,
  type Triggers,
  verifyDelivery,
} from '../../sources/index.js';
import type { RepositoryRow, RepositoryRunRow, RepositoryRunState, Store } from '../../store/index.js';
import type { Scheduler } from '../scheduler.js';
import type { SecretVault } from '../secret-vault.js';
import type { RunService } from './runs.js';

/** Undone webhook deliveries a repository may have; past it, deliveries get 429 (the forge retries). */
export const MAX_PENDING_DELIVERIES = 1000;
/** Deliveries acted on per fetch. */
const DELIVERY_BATCH = 100;
/**
 * How long a claim on a repository's delivery queue lasts without renewal (renewed before each
 * fetch and each delivery): after a replica died holding it, another takes over this late.
 */
const DELIVERY_CLAIM_MS = 2 * 60_000;
/** A repository is fetched for its schedules at most this often. */
const SCHEDULE_FETCH_MS = 60_000;

export interface RepositoryServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  vault: SecretVault;
  scheduler: Scheduler;
  runs: RunService;
  git: GitRunner;
  /** Where the bare mirrors live (`<data>/repos`). */
  mirrorsDir: string;
  /** The server's address as people reach it, for links in commit statuses. */
  publicUrl: () => string;
  /** A missed schedule slot younger than this still runs once. Default 1 h. */
  scheduleGraceMs?: number;
  /** Names this coordinator in claims on delivery queues (replicas share them). Default: random. */
  replicaId?: string;
}

type PullRequest = Extract<HookEvent, { kind: 'pr' }>;

/** A pipeline read from a commit, compiled, with its templates. */
interface LoadedPipeline {
  content: string;
  templates: Record<string, string>;
  plan: PipelinePlan;
  triggers: Triggers;
}

interface QueueInput {
  ref: string;
  commit: string;
  reason: BuildReason;
  kind: RepositoryRunRow['kind'];
  untrusted?: boolean;
  variables?: Record<string, string>;
  pr?: PullRequest;
  loaded?: LoadedPipeline;
}

/**
 * Repositories: added with their credentials, mirrored, and built on a push, a pull request, a
 * schedule or by hand. Every ref that moves — seen by the poller or told by a webhook — goes
 * through `refMoved`, one repository at a time.
 */
export class RepositoryService implements SourceWork {
  private readonly queue = new KeyedQueue();
  private readonly lastFetch = new Map<string, number>();
  private readonly erroredCommits = new Set<string>();
  private readonly replicaId: string;

  constructor(private readonly o: RepositoryServiceOptions) {
    this.replicaId = o.replicaId ?? `replica-${randomBytes(8).toString('hex')}`;
  }

  /** Resolves when nothing is being fetched or acted on (the server waits for it when it stops). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // ── Managing repositories ──

  async add(input: AddRepositoryRequest): Promise<{
    repository: RepositoryView;
    webhookSecret: string;
    hooks: Record<Forge, string>;
  }> {
    const req = addRepositoryRequest.parse(input);
    const url = checkUrl(req.url);
    if (await this.o.store.getRepository(req.name))
      throw new ConflictError(`repository '${req.name}' exists`);
    const credential = readCredential(req.credential, url);
    const statusApi = req.statusToken ? this.statusApiOf(req, url) : null;
    const webhookSecret = randomBytes(24).toString('base64url');
    const row: RepositoryRow = {
      name: req.name,
      url,
      pipelineFile: req.pipelineFile.replace(/^\/+/, ''),
      defaultBranch: req.defaultBranch.replace(/^refs\/heads\//, ''),
      pollSeconds: req.pollSeconds ?? null,
      credential: credential ? this.o.vault.seal({ credential: JSON.stringify(credential) }) : null,
      webhookSecret: this.o.vault.seal({ secret: webhookSecret }),
      statusApi: statusApi ? this.o.vault.seal({ api: JSON.stringify(statusApi) }) : null,
      secrets: Object.keys(req.secrets).length > 0 ? this.o.vault.seal(req.secrets) : null,
      createdAt: this.o.clock.now(),
    };
    // The first fetch proves URL and credential before anything is kept.
    const mirror = this.mirrorOf(row);
    try {
      await mirror.fetch();
    } catch (error) {
      await rm(mirror.dir, { recursive: true, force: true });
      if (error instanceof GitError) throw new ValidationError(`cannot fetch ${url}: ${error.message}`);
      throw error;
    }
    if (!(await this.o.store.insertRepository(row))) {
      throw new ConflictError(`repository '${req.name}' exists`);
    }
    // What is there already is history, not a push: only refs that move from now on build.
    for (const [ref, commit] of await mirror.refs())
      await this.o.store.moveRepositoryRef(row.name, ref, null, commit);
    this.lastFetch.set(row.name, this.o.clock.now());
    this.o.logger.info({ repo: row.name, url }, 'repository added');
    const hooks = {
      github: `/hooks/github/${row.name}`,
      gitlab: `/hooks/gitlab/${row.name}`,
      gitea: `/hooks/gitea/${row.name}`,
    };
    return { repository: this.viewOf(row), webhookSecret, hooks };
  }

  async list(): Promise<RepositoryView[]> {
    return (await this.o.store.listRepositories()).map((r) => this.viewOf(r));
  }

  async remove(name: string): Promise<void> {
    const repo = await this.get(name);
    await this.queue.run(name, async () => {
      await this.o.store.deleteRepository(repo.name);
      await rm(this.mirrorDir(repo.name), { recursive: true, force: true });
    });
  }

  async errors(name: string, limit = 50): Promise<RepositoryErrorView[]> {
    await this.get(name);
    return (await this.o.store.listRepositoryErrors(name, limit)).map((e) => ({
      ref: e.ref,
      commit: e.commit,
      message: e.message,
      at: new Date(e.at).toISOString(),
    }));
  }

  // ── Manual runs ──

  /** `slipway run --repo`: fetches, then queues the branch's tip (default branch) or the commit. */
  async runManual(name: string, input: RepositoryRunRequest): Promise<RunView> {
    const req = repositoryRunRequest.parse(input);
    const repo = await this.get(name);
    return this.queue.run(name, async () => {
      const mirror = this.mirrorOf(repo);
      await this.fetch(repo, mirror);
      let ref: string;
      let commit: string | undefined;
      if (req.commit) {
        commit = await mirror.resolve(req.commit);
        if (!commit) throw new NotFoundError('commit', req.commit);
        ref = (await this.branchHolding(mirror, repo, commit)) ?? `refs/heads/${repo.defaultBranch}`;
      } else {
        ref = req.branch?.startsWith('refs/') ? req.branch : `refs/heads/${req.branch ?? repo.defaultBranch}`;
        commit = (await mirror.refs()).get(ref);
        if (!commit) throw new NotFoundError('branch', ref);
      }
      const run = await this.queueRun(repo, mirror, {
        ref,
        commit,
        reason: 'Manual',
        kind: 'manual',
        variables: req.variables,
      });
      return this.o.runs.view(run.id);
    });
  }

  // ── Polling and the one "ref moved" path ──

  async pollIntervals(): Promise<{ name: string; pollSeconds: number | null }[]> {
    return (await this.o.store.listRepositories()).map((r) => ({ name: r.name, pollSeconds: r.pollSeconds }));
  }

  /** Fetches and acts on every branch and tag that moved since it was last acted on. */
  async poll(name: string): Promise<void> {
    const repo = await this.o.store.getRepository(name);
    if (!repo) return;
    await this.queue.run(name, async () => {
      const mirror = this.mirrorOf(repo);
      await this.fetch(repo, mirror);
      const seen = new Map((await this.o.store.listRepositoryRefs(name)).map((r) => [r.ref, r.commit]));
      const now = await mirror.refs();
      for (const [ref, commit] of now) {
        const before = seen.get(ref) ?? null;
        if (before !== commit) await this.refMoved(repo, mirror, ref, before, commit);
      }
      for (const [ref, commit] of seen)
        if (!now.has(ref)) await this.o.store.moveRepositoryRef(name, ref, commit, null);
    });
  }

  /**
   * A ref moved from `before` (as last acted on; null: new) to `after`: the pipeline file at
   * `after` decides whether and how it builds. Moved by compare-and-set first, so a push is
   * acted on once however many coordinators (or deliveries and polls) see it.
   */
  private async refMoved(
    repo: RepositoryRow,
    mirror: Mirror,
    ref: string,
    before: string | null,
    after: string,
    /** Where the push started (the forge's `before`); default `before`. */
    diffFrom: string | null = before,
  ): Promise<void> {
    if (!(await this.o.store.moveRepositoryRef(repo.name, ref, before, after))) return;
    if (!ref.startsWith('refs/heads/') && !ref.startsWith('refs/tags/')) return;
    // Each push builds once: deliveries and polls that see the same commit on the ref queue one run.
    const built = await this.o.store.listRepositoryRuns({ repo: repo.name, ref, kind: 'ci' });
    if (built.some((r) => r.commit === after)) return;
    const loaded = await this.loadOrRecord(repo, mirror, ref, after);
    if (!loaded) return;
    const changedPaths = ref.startsWith('refs/heads/')
      ? await mirror.changedPaths(diffFrom, after)
      : undefined;
    if (!ciTriggered(loaded.triggers.trigger, { ref, changedPaths })) {
      this.o.logger.debug({ repo: repo.name, ref, commit: after }, 'push does not match the trigger');
      return;
    }
    if (loaded.triggers.trigger.batch && ref.startsWith('refs/heads/')) {
      const active = await this.o.store.listRepositoryRuns({
        repo: repo.name,
        ref,
        kind: 'ci',
        active: true,
      });
      if (active.length > 0) {
        await this.setBatchPending(repo.name, ref, after);
        return;
      }
    }
    await this.queueRun(repo, mirror, {
      ref,
      commit: after,
      reason: loaded.triggers.trigger.batch ? 'BatchedCI' : 'IndividualCI',
      kind: 'ci',
      loaded,
    });
  }

  private async setBatchPending(repo: string, ref: string, commit: string): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const current =
        (await this.o.store.listRepositoryRefs(repo)).find((r) => r.ref === ref)?.batchPending ?? null;
      if (await this.o.store.setBatchPending(repo, ref, current, commit)) return;
    }
  }

  // ── Webhooks ──

  /**
   * Takes a delivery: 401 unless it carries the repository's secret, then queued by its
   * delivery id (a replay queues nothing) and acted on in order, in the background.
   */
  async receiveHook(
    forge: Forge,
    name: string,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
  ): Promise<{ queued: boolean; delivery: string }> {
    const repo = await this.o.store.getRepository(name);
    if (!repo) throw new NotFoundError('repository', name);
    const { secret } = this.o.vault.open(repo.webhookSecret);
    if (!secret || !verifyDelivery(forge, headers, body, secret)) {
      throw new AuthError(`the delivery is not signed with the webhook secret of '${name}'`);
    }
    let event: HookEvent;
    try {
      event = parseDelivery(forge, headers, body);
    } catch (error) {
      if (error instanceof HookPayloadError) throw new ValidationError(error.message);
      throw error;
    }
    const delivery = deliveryId(forge, headers, body);
    if (event.kind === 'ignored') return { queued: false, delivery };
    if ((await this.o.store.countPendingDeliveries(name)) >= MAX_PENDING_DELIVERIES) {
      throw new RateLimitError(`'${name}' has ${MAX_PENDING_DELIVERIES} deliveries waiting; try again later`);
    }
    const queued = await this.o.store.recordDelivery(
      { repo: name, forge, deliveryId: delivery, event },
      this.o.clock.now(),
    );
    if (queued)
      void this.drain(name).catch((err: Error) =>
        this.o.logger.warn({ repo: name, err: err.message }, 'deliveries failed'),
      );
    return { queued, delivery };
  }

  /**
   * Acts on a repository's undone deliveries, oldest first, one fetch per batch. With replicas,
   * the one that claims the repository's queue acts on it (in order, once); the others leave it.
   * A delivery that arrives at another replica while this one holds the claim is seen here:
   * after giving the claim up, the queue is looked at once more.
   */
  async drain(name: string): Promise<void> {
    await this.queue.run(name, async () => {
      const repo = await this.o.store.getRepository(name);
      if (!repo) return;
      const mirror = this.mirrorOf(repo);
      while (await this.claimQueue(name)) {
        try {
          await this.drainClaimed(repo, mirror);
        } finally {
          await this.o.store.releaseDeliveries(name, this.replicaId);
        }
        if ((await this.o.store.countPendingDeliveries(name)) === 0) return;
      }
    });
  }

  private claimQueue(name: string): Promise<boolean> {
    const now = this.o.clock.now();
    return this.o.store.claimDeliveries(name, this.replicaId, now + DELIVERY_CLAIM_MS, now);
  }

  private async drainClaimed(repo: RepositoryRow, mirror: Mirror): Promise<void> {
    const name = repo.name;
    for (;;) {
      const batch = await this.o.store.listPendingDeliveries(name, DELIVERY_BATCH);
      if (batch.length === 0) return;
      await this.fetch(repo, mirror);
      for (const d of batch) {
        // Renewed per delivery; lost (this replica stalled past it), another one has the queue.
        if (!(await this.claimQueue(name))) return;
        try {
          await this.actOn(repo, mirror, d.event as HookEvent);
        } catch (error) {
          // Recorded and passed over: one bad delivery never blocks the ones after it.
          await this.o.store.recordRepositoryError(
            {
              repo: name,
              ref: null,
              commit: null,
              message: `delivery ${d.deliveryId}: ${(error as Error).message}`,
            },
            this.o.clock.now(),
          );
        }
        await this.o.store.finishDelivery(d.seq, this.o.clock.now());
      }
    }
  }

  private async actOn(repo: RepositoryRow, mirror: Mirror, event: HookEvent): Promise<void> {
    switch (event.kind) {
      case 'push': {
        const stored =
          (await this.o.store.listRepositoryRefs(repo.name)).find((r) => r.ref === event.ref)?.commit ?? null;
        if (event.after === null) {
          if (stored) await this.o.store.moveRepositoryRef(repo.name, event.ref, stored, null);
          return;
        }
        if (stored === event.after) return; // the poller (or a redelivery) saw it first
        if (!(await mirror.resolve(event.after))) {
          throw new Error(`commit ${event.after} of ${event.ref} is not in the repository after a fetch`);
        }
        await this.refMoved(repo, mirror, event.ref, stored, event.after, event.before ?? stored);
        return;
      }
      case 'pr':
        await this.pullRequest(repo, mirror, event);
        return;
      case 'ignored':
        return;
    }
  }

  private async pullRequest(repo: RepositoryRow, mirror: Mirror, pr: PullRequest): Promise<void> {
    if (!(await mirror.resolve(pr.headSha))) {
      throw new Error(
        `pull request ${pr.number}: commit ${pr.headSha} is not in ${pr.fetchRef} after a fetch`,
      );
    }
    const loaded = await this.loadOrRecord(repo, mirror, pr.fetchRef, pr.headSha);
    if (!loaded) return;
    const target = (await mirror.refs()).get(pr.targetRef);
    const base = target ? await mirror.mergeBase(target, pr.headSha) : undefined;
    const changedPaths = base ? await mirror.changedPaths(base, pr.headSha) : undefined;
    if (!prTriggered(loaded.triggers.pr, { targetRef: pr.targetRef, draft: pr.draft, changedPaths })) return;
    if (loaded.triggers.pr.autoCancel) {
      for (const earlier of await this.o.store.listRepositoryRuns({
        repo: repo.name,
        kind: 'pr',
        prNumber: pr.number,
        active: true,
      })) {
        await this.o.scheduler.cancelRun(earlier.runId);
      }
    }
    await this.queueRun(repo, mirror, {
      ref: pr.fetchRef,
      commit: pr.headSha,
      reason: 'PullRequest',
      kind: 'pr',
      untrusted: pr.fork,
      pr,
      loaded,
    });
  }

  // ── Schedules ──

  /** Evaluates each repository's schedules from its default branch's pipeline. */
  async tickSchedules(): Promise<void> {
    for (const repo of await this.o.store.listRepositories()) {
      await this.queue
        .run(repo.name, () => this.repoSchedules(repo))
        .catch((err: Error) => this.o.logger.warn({ repo: repo.name, err: err.message }, 'schedules failed'));
    }
  }

  private async repoSchedules(repo: RepositoryRow): Promise<void> {
    const mirror = this.mirrorOf(repo);
    const now = this.o.clock.now();
    if (now - (this.lastFetch.get(repo.name) ?? 0) >= SCHEDULE_FETCH_MS) await this.fetch(repo, mirror);
    const refs = await mirror.refs();
    const defaultRef = `refs/heads/${repo.defaultBranch}`;
    const tip = refs.get(defaultRef);
    if (!tip) return;
    const loaded = await this.load(repo, mirror, defaultRef, tip).catch(() => undefined);
    if (!loaded) return; // recorded when the branch moved to it
    for (const schedule of loaded.triggers.schedules) {
      const cron = parseCron(schedule.cron);
      const key = scheduleKey(schedule);
      for (const branch of scheduleBranches(schedule, [...refs.keys()], defaultRef)) {
        const branchTip = refs.get(branch)!;
        const last = await this.o.store.getScheduleFire(repo.name, key, branch);
        const decision = planSchedule({
          schedule,
          cron,
          now,
          last,
          tip: branchTip,
          graceMs: this.o.scheduleGraceMs,
        });
        if (!decision) continue;
        const to = { slot: decision.slot, commit: decision.run ? branchTip : (last?.lastCommit ?? null) };
        // Only the coordinator that moves the slot fires it.
        if (!(await this.o.store.moveScheduleFire(repo.name, key, branch, last?.lastSlot ?? null, to)))
          continue;
        this.o.logger.info(
          {
            repo: repo.name,
            schedule: schedule.displayName,
            branch,
            run: decision.run,
            slot: new Date(decision.slot).toISOString(),
          },
          decision.why,
        );
        if (!decision.run) continue;
        const branchLoaded =
          branch === defaultRef ? loaded : await this.loadOrRecord(repo, mirror, branch, branchTip);
        if (!branchLoaded) continue;
        await this.queueRun(repo, mirror, {
          ref: branch,
          commit: branchTip,
          reason: 'Schedule',
          kind: 'schedule',
          loaded: branchLoaded,
        });
      }
    }
  }

  // ── Statuses, batches, leftover deliveries ──

  async sweep(): Promise<void> {
    await this.reportStatuses();
    await this.startBatches();
    for (const name of await this.o.store.listReposWithPendingDeliveries()) {
      void this.drain(name).catch(() => undefined);
    }
  }

  private async reportStatuses(): Promise<void> {
    for (const run of await this.o.store.listRepositoryRunsToReport(50)) {
      const to = run.status === 'completed' ? 'final' : 'pending';
      // Marked before it is sent: with two coordinators, one sends it.
      if (!(await this.o.store.markRunReported(run.runId, run.reported, to))) continue;
      const repo = await this.o.store.getRepository(run.repo);
      if (!repo?.statusApi) continue;
      const api = JSON.parse(this.o.vault.open(repo.statusApi).api ?? '{}') as StatusApi;
      const state = statusStateOf(run);
      try {
        await postStatus(api, {
          commit: run.commit,
          state,
          description: `Run #${run.number} ${run.status === 'completed' ? (run.result ?? 'finished') : 'queued'}`,
          context: `slipway/${repo.name}`,
          targetUrl: `${this.o.publicUrl()}/runs/${run.number}`,
        });
      } catch (error) {
        this.o.logger.warn(
          { repo: repo.name, run: run.number, err: (error as Error).message },
          'commit status not sent',
        );
      }
    }
  }

  private async startBatches(): Promise<void> {
    for (const row of await this.o.store.listBatchPending()) {
      const active = await this.o.store.listRepositoryRuns({
        repo: row.repo,
        ref: row.ref,
        kind: 'ci',
        active: true,
      });
      if (active.length > 0 || !row.batchPending) continue;
      if (!(await this.o.store.setBatchPending(row.repo, row.ref, row.batchPending, null))) continue;
      const repo = await this.o.store.getRepository(row.repo);
      if (!repo) continue;
      const commit = row.batchPending;
      await this.queue.run(repo.name, async () => {
        const mirror = this.mirrorOf(repo);
        const loaded = await this.loadOrRecord(repo, mirror, row.ref, commit);
        if (!loaded) return;
        await this.queueRun(repo, mirror, { ref: row.ref, commit, reason: 'BatchedCI', kind: 'ci', loaded });
      });
    }
  }

  // ── Runs ──

  /** Reads and compiles the pipeline at a commit; a broken one is recorded with the commit. */
  private async loadOrRecord(
    repo: RepositoryRow,
    mirror: Mirror,
    ref: string,
    commit: string,
  ): Promise<LoadedPipeline | undefined> {
    try {
      return await this.load(repo, mirror, ref, commit);
    } catch (error) {
      const message = (error as Error).message;
      const key = `${repo.name}@${commit}`;
      if (!this.erroredCommits.has(key)) {
        this.erroredCommits.add(key);
        await this.o.store.recordRepositoryError(
          { repo: repo.name, ref, commit, message },
          this.o.clock.now(),
        );
      }
      this.o.logger.warn({ repo: repo.name, ref, commit, err: message }, 'pipeline not run');
      return undefined;
    }
  }

  private async load(
    repo: RepositoryRow,
    mirror: Mirror,
    ref: string,
    commit: string,
    variables: Record<string, string> = {},
  ): Promise<LoadedPipeline> {
    const file = repo.pipelineFile;
    const content = await mirror.readFile(commit, file);
    if (content === undefined)
      throw new ValidationError(`${file}: no such file at commit ${commit.slice(0, 12)}`);
    const readFile = (path: string) => mirror.readFileSync(commit, path);
    const options = {
      parameters: {},
      variables: { ...sourceVariables(this.sourceOf(repo, ref, commit)), ...variables },
    };
    const plan = parsePipeline(content, file, { ...options, readFile });
    const templates = collectTemplateFiles(content, file, readFile, options);
    const triggers = readTriggers(plan.triggers);
    for (const s of triggers.schedules) parseCron(s.cron);
    return { content, templates, plan, triggers };
  }

  private sourceOf(repo: RepositoryRow, ref: string, commit: string): RunSource {
    return { branch: ref, commit, repository: repo.name, defaultBranch: `refs/heads/${repo.defaultBranch}` };
  }

  private async queueRun(repo: RepositoryRow, mirror: Mirror, q: QueueInput) {
    const loaded = q.loaded ?? (await this.load(repo, mirror, q.ref, q.commit, q.variables));
    const message = await mirror.message(q.commit);
    const variables: Record<string, string> = { 'Build.SourceVersionMessage': message.slice(0, 4000) };
    if (q.pr) {
      const n = String(q.pr.number);
      Object.assign(variables, {
        'System.PullRequest.PullRequestId': n,
        'System.PullRequest.PullRequestNumber': n,
        'System.PullRequest.SourceBranch': q.pr.sourceRef,
        'System.PullRequest.TargetBranch': q.pr.targetRef,
        'System.PullRequest.SourceCommitId': q.pr.headSha,
        'System.PullRequest.SourceRepositoryURI': q.pr.sourceRepositoryUrl ?? repo.url,
        'System.PullRequest.isFork': q.pr.fork ? 'True' : 'False',
        'System.PullRequest.Title': q.pr.title,
      });
    }
    Object.assign(variables, q.variables);
    const workspaceId = await this.workspaceOf(repo, mirror, loaded.plan, q.ref, q.commit);
    const untrusted = q.untrusted ?? false;
    const secrets = repo.secrets && !untrusted ? this.o.vault.open(repo.secrets) : {};
    const body = createRunRequest.parse({
      pipeline: { file: repo.pipelineFile, content: loaded.content },
      workspaceId,
      variables,
      secrets,
      templates: loaded.templates,
      source: this.sourceOf(repo, q.ref, q.commit),
      untrusted,
    });
    const run = await this.o.scheduler.createRun(body, q.reason, repo.name);
    await this.o.store.insertRepositoryRun({
      runId: run.id,
      repo: repo.name,
      kind: q.kind,
      ref: q.ref,
      commit: q.commit,
      prNumber: q.pr?.number ?? null,
      reported: repo.statusApi ? 'none' : 'off',
    });
    this.o.logger.info(
      { repo: repo.name, ref: q.ref, commit: q.commit, run: run.number, reason: q.reason },
      'run queued',
    );
    return run;
  }

  /**
   * The commit's tree as a workspace, in the format `slipway run` uploads; with a `.git` when a
   * job's `checkout: self` asks for history (`fetchDepth`; 0 is all of it).
   */
  private async workspaceOf(
    repo: RepositoryRow,
    mirror: Mirror,
    plan: PipelinePlan,
    ref: string,
    commit: string,
  ): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-checkout-'));
    try {
      await mirror.exportTree(commit, dir);
      const depth = historyDepth(plan);
      if (depth !== undefined)
        await mirror.addHistory(commit, dir, { depth, branch: ref, publicUrl: repo.url });
      const archive = await packWorkspace(dir, { files: await listAllFiles(dir) });
      return (await this.o.runs.uploadWorkspace(archive)).id;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // ── Helpers ──

  private async get(name: string): Promise<RepositoryRow> {
    const repo = await this.o.store.getRepository(name);
    if (!repo) throw new NotFoundError('repository', name);
    return repo;
  }

  private async fetch(repo: RepositoryRow, mirror: Mirror): Promise<void> {
    await mirror.fetch();
    this.lastFetch.set(repo.name, this.o.clock.now());
  }

  private async branchHolding(
    mirror: Mirror,
    repo: RepositoryRow,
    commit: string,
  ): Promise<string | undefined> {
    const refs = await mirror.refs();
    const preferred = `refs/heads/${repo.defaultBranch}`;
    for (const [ref, tip] of [[preferred, refs.get(preferred)] as const, ...refs]) {
      if (tip && ref.startsWith('refs/heads/') && (tip === commit || (await mirror.isAncestor(commit, tip))))
        return ref;
    }
    return undefined;
  }

  private mirrorDir(name: string): string {
    return join(this.o.mirrorsDir, `${name}.git`);
  }

  private mirrorOf(repo: RepositoryRow): Mirror {
    const sealed = repo.credential ? this.o.vault.open(repo.credential).credential : undefined;
    return new Mirror({
      dir: this.mirrorDir(repo.name),
      url: repo.url,
      credential: sealed ? (JSON.parse(sealed) as GitCredential) : null,
      git: this.o.git,
    });
  }

  private statusApiOf(req: ReturnType<typeof addRepositoryRequest.parse>, url: string): StatusApi {
    const implied = statusApiFromUrl(url, req.forge);
    const forge = req.forge ?? implied?.forge;
    const apiUrl = req.forgeApiUrl ?? implied?.apiUrl;
    const project = req.forgeProject ?? implied?.project;
    if (!forge || !apiUrl || !project) {
      throw new ValidationError(
        'statusToken: the forge is not known from the URL; give forge, forgeApiUrl and forgeProject',
      );
    }
    return { forge, apiUrl, project, token: req.statusToken! };
  }

  private viewOf(r: RepositoryRow): RepositoryView {
    const credential = r.credential
      ? (JSON.parse(this.o.vault.open(r.credential).credential ?? '{}') as GitCredential).kind
      : 'none';
    const api = r.statusApi
      ? (JSON.parse(this.o.vault.open(r.statusApi).api ?? '{}') as StatusApi)
      : undefined;
    return {
      name: r.name,
      url: r.url,
      pipelineFile: r.pipelineFile,
      defaultBranch: r.defaultBranch,
      pollSeconds: r.pollSeconds,
      credential,
      statuses: api?.forge ?? null,
      secrets: r.secrets ? Object.keys(this.o.vault.open(r.secrets)) : [],
      createdAt: new Date(r.createdAt).toISOString(),
    };
  }
}

/** `https://`, `ssh://` (or `user@host:path`) and `file://` only; a credential in the URL is refused. */
function checkUrl(raw: string): string {
  const url = raw.trim();
  if (/^[\w.-]+@[\w.-]+:(?!\/\/)/.test(url)) return url; // scp-like ssh
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(`url: '${url}' is not a URL (https://, ssh:// or file://)`);
  }
  if (!['https:', 'ssh:', 'file:'].includes(parsed.protocol)) {
    throw new ValidationError(`url: ${parsed.protocol}// is not supported; use https://, ssh:// or file://`);
  }
  if (parsed.password) {
    throw new ValidationError(
      'url: holds a password or token; put it in a credential file instead (--credential-file)',
    );
  }
  return url;
}

/** A credential file's text: an SSH private key, `user:token`, or a token alone. */
function readCredential(text: string | undefined, url: string): GitCredential | null {
  if (text === undefined) return null;
  const value = text.trim();
  const isSsh = url.startsWith('ssh://') || /^[\w.-]+@[\w.-]+:/.test(url);
  if (value.includes('PRIVATE KEY-----')) {
    if (!isSsh) throw new ValidationError('credential: an SSH key is for ssh:// URLs');
    return { kind: 'ssh-key', key: `${value}\n` };
  }
  if (isSsh) throw new ValidationError('credential: an ssh:// URL needs a private key (deploy key) file');
  if (url.startsWith('file://')) throw new ValidationError('credential: a file:// URL takes none');
  if (value.includes('\n'))
    throw new ValidationError('credential: expected one line, user:token or the token');
  const colon = value.indexOf(':');
  // A token alone: the forges accept any user name with a token as the password.
  return colon > 0
    ? { kind: 'token', username: value.slice(0, colon), token: value.slice(colon + 1) }
    : { kind: 'token', username: 'x-access-token', token: value };
}

/** How much history the jobs' `checkout: self` steps ask for: undefined none, 0 all, else the most commits. */
export function historyDepth(plan: PipelinePlan): number | undefined {
  let depth: number | undefined;
  for (const job of plan.jobs) {
    for (const step of job.steps) {
      const asked = step.checkout?.fetchDepth;
      if (asked === undefined) continue;
      // A macro (`$(depth)`) is only known on the agent: the whole history serves any value.
      const n = typeof asked === 'number' ? asked : /^\d+$/.test(asked) ? Number(asked) : 0;
      depth = n === 0 || depth === 0 ? 0 : Math.max(depth ?? 0, n);
    }
  }
  return depth;
}

function statusStateOf(run: RepositoryRunState): StatusState {
  if (run.status !== 'completed') return 'pending';
  switch (run.result) {
    case 'succeeded':
    case 'succeededWithIssues':
    case 'skipped':
      return 'success';
    case 'canceled':
      return 'canceled';
    default:
      return 'failure';
  }
}
