/**
 * The one narrow interface the server keeps its state behind. Every method is atomic on its
 * own, so an implementation needs no transaction spanning calls (SQLite and PostgreSQL alike).
 * Times are epoch milliseconds.
 */
import type { BuildReason, JobPlan, PipelinePlan, RunSource, TaskResult } from '../pipeline/index.js';
import type {
  CoverageView,
  FleetStatus,
  JobStatus,
  PoolSettings,
  RunEvent,
  RunStatus,
  StepState,
  TestRunView,
  TokenScope,
} from '../protocol/index.js';
import type { TokenKind } from '../shared/ids.js';

export interface TokenRow {
  id: string;
  kind: TokenKind;
  name: string;
  scopes: TokenScope[];
  pool: string | null;
  agentName: string | null;
  agentId: string | null;
  jobId: string | null;
  epoch: number | null;
  createdAt: number;
  expiresAt: number | null;
  usedAt: number | null;
  revokedAt: number | null;
}
export type NewToken = Omit<TokenRow, 'createdAt' | 'usedAt' | 'revokedAt'> & { hash: string };

export type { PoolSettings };

/** A job's log is cut here unless its pool says otherwise: generous, but bounded. */
export const DEFAULT_MAX_LOG_MIB = 128;
/** One step's share of it: a job printing 100 MB in one step still keeps all of it. */
export const DEFAULT_MAX_STEP_LOG_MIB = 100;

/** Where an append stops keeping log bytes, and the line that says so in the log. */
export interface LogLimits {
  jobBytes: number;
  stepBytes: number;
  /** The line written where the log was cut; `at` is the bytes kept (of the step or the job). */
  note(scope: 'step' | 'job', at: number): string;
}
export interface PoolRow {
  name: string;
  settings: PoolSettings;
  createdAt: number;
}

export interface AgentRow {
  id: string;
  pool: string;
  name: string;
  publicKey: string;
  capabilities: Record<string, string>;
  version: string | null;
  sessionId: string | null;
  boundJobId: string | null;
  draining: boolean;
  /** Registered with a one-use ticket: it may claim one job, ever. */
  singleJob: boolean;
  /** Jobs it has claimed. */
  claims: number;
  lastSeenAt: number | null;
  createdAt: number;
}

export interface FleetRow {
  pool: string;
  id: string;
  capabilities: Record<string, string>;
  lastSeenAt: number;
  /** What the fleet last said it runs (containers, warm size, bounds, scale events); absent from older fleets. */
  status?: FleetStatus | null;
}

export type { FleetStatus };

/** Which runs `listRuns` answers, newest first. */
export interface RunFilter {
  /** Only runs numbered below this (the next page after a page ending at `before`). */
  before?: number;
  /** A run status (`queued`, `running`, `completed`) or a result (`failed`, `succeeded`, …). */
  status?: RunStatus | TaskResult;
  /** Text found (case-insensitive) in the pipeline file, repository, branch or build number. */
  q?: string;
}

/** The run a re-run repeats, and whether it re-ran only what failed. */
export interface RerunOf {
  id: string;
  number: number;
  failedOnly: boolean;
}

export interface RunRow {
  id: string;
  number: number;
  pipelineFile: string;
  plan: PipelinePlan;
  variables: Record<string, string>;
  /** Sealed secrets; only the server's key opens them. */
  secrets: string | null;
  workspaceId: string | null;
  status: RunStatus;
  result: TaskResult | null;
  cancelRequested: boolean;
  /** Set by `##vso[build.updatebuildnumber]`; the run number when null. */
  buildNumber: string | null;
  tags: string[];
  /** What the run was queued for; `{}` for a folder outside git. */
  source: RunSource;
  reason: BuildReason;
  /** Queued from a source nobody vouched for (a fork's pull request): no cache writes a trusted run reads. */
  untrusted: boolean;
  /** Set on a re-run: the run it repeats. */
  rerunOf?: RerunOf | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface JobRow {
  id: string;
  runId: string;
  idx: number;
  name: string;
  displayName: string;
  plan: JobPlan;
  pool: string;
  dependsOn: string[];
  status: JobStatus;
  result: TaskResult | null;
  reason: string | null;
  /** The current attempt; it is also the lease epoch that fences stale writers. */
  attempt: number;
  agentId: string | null;
  agentName: string | null;
  leaseExpiresAt: number | null;
  cancelRequested: boolean;
  /** Output variables of the finished attempt, `<step>.<name>` → value. */
  outputs: Record<string, string>;
  /** Test runs the finished attempt published; absent or empty when none. */
  testRuns?: TestRunView[];
  /** Coverage summaries the finished attempt published; absent or empty when none. */
  coverage?: CoverageView[];
  queuedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Sealed secrets of the variable groups this job references; its own, not the run's. */
  secrets?: string | null;
}

/** A queued job as the dispatcher sees it. */
export type QueuedJob = Pick<JobRow, 'id' | 'runId' | 'name' | 'pool' | 'plan' | 'cancelRequested'>;

/** How many queued jobs one pool holds for one demand set. */
export interface QueuedCount {
  pool: string;
  demands: JobPlan['pool']['demands'];
  n: number;
}

/** A variable group: values, sealed secrets, and the pools whose jobs may read it. */
export interface VariableGroupRow {
  /** Unique whatever the case, as Azure's group names are. */
  name: string;
  description: string;
  variables: Record<string, string>;
  /** Sealed JSON of name → value; only the server's key opens it. */
  secrets: string | null;
  /** The secrets' names, for views that must not open them. */
  secretNames: string[];
  /** Pools whose jobs may use the group; `*` for every pool. */
  pools: string[];
  /** Repositories (`slipway repo add`) whose runs may use it from any pool. */
  repositories: string[];
  createdAt: number;
  updatedAt: number;
}

/** A saved cache entry: its archive is the blob named by `sha256`. */
export interface CacheEntryRow {
  id: string;
  /** Whose runs read it (`branch:refs/heads/main`, `untrusted:…`, `local:…`): see the server's cache-scope.ts. */
  scope: string;
  /** The resolved key (segments joined by `|`); unique within its scope. */
  key: string;
  size: number;
  sha256: string;
  createdAt: number;
  lastUsedAt: number;
}

export interface StepRow {
  jobId: string;
  attempt: number;
  idx: number;
  name: string;
  state: StepState;
  result: TaskResult | null;
  reason: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

/** A stored event: the wire's `RunEvent`, kind for kind, with its time in ms. */
export type EventRow = RunEvent extends infer E
  ? E extends RunEvent
    ? Omit<E, 'at'> & { at: number }
    : never
  : never;
/** An event to append: the store numbers it and stamps its time. */
export type NewEvent = EventRow extends infer E
  ? E extends EventRow
    ? Omit<E, 'seq' | 'runId' | 'at'>
    : never
  : never;

/**
 * A stored event as followers are sent it, undecoded: a log chunk's bytes as the agent sent them
 * (`body`), any other event's data as its stored JSON text (`data`).
 */
export type FeedRow = Pick<EventRow, 'seq' | 'at' | 'kind' | 'jobId' | 'jobName' | 'attempt' | 'step'> &
  ({ body: Buffer; data?: undefined } | { body?: undefined; data: string });

export type ClaimOutcome = { ok: true; job: JobRow } | { ok: false; reason: 'not-queued' | 'not-found' };

/**
 * What a winning claim writes with it, in its own transaction: the attempt's tokens, its steps and
 * the event that announces it. Made from the claimed row, since the attempt (epoch) is known only
 * then; a store may call it again when it retries the transaction, and keeps the last answer.
 */
export type ClaimWrites = (claimed: JobRow) => {
  tokens: NewToken[];
  steps: StepRow[];
  announce?: Announcement;
};

export type AppendLogOutcome =
  | { ok: true; length: number; appended: boolean; truncated?: true }
  | { ok: false; reason: 'stale-epoch' | 'gap'; length: number };

// ── Repositories (the sources domain): mirrors, refs acted on, deliveries, schedules ──

/** A repository the coordinator mirrors. Sealed fields open only with the server's key. */
export interface RepositoryRow {
  name: string;
  url: string;
  /** The pipeline file's path in the repository. */
  pipelineFile: string;
  /** Short name (`main`). */
  defaultBranch: string;
  /** Poll interval; null: no polling (webhooks only). */
  pollSeconds: number | null;
  /** Sealed `{ kind, … }` credential for git; null for none. */
  credential: string | null;
  /** Sealed `{ secret }`: verifies webhook deliveries. */
  webhookSecret: string;
  /** Sealed `{ forge, apiUrl, project, token }`: where commit statuses go; null for none. */
  statusApi: string | null;
  /** Sealed secret variables trusted runs of this repository get; null for none. */
  secrets: string | null;
  createdAt: number;
}

export interface RepositoryRefRow {
  ref: string;
  commit: string;
  batchPending: string | null;
}

export interface DeliveryRow {
  seq: number;
  repo: string;
  forge: string;
  deliveryId: string;
  /** The delivery's event as the sources domain normalised it (JSON). */
  event: unknown;
  receivedAt: number;
}

export interface RepositoryErrorRow {
  id: number;
  repo: string;
  ref: string | null;
  commit: string | null;
  message: string;
  at: number;
}

/** What a run of a repository was for. `reported` is the last state sent to the forge. */
export interface RepositoryRunRow {
  runId: string;
  repo: string;
  kind: 'ci' | 'pr' | 'schedule' | 'manual';
  ref: string;
  commit: string;
  prNumber: number | null;
  reported: 'none' | 'pending' | 'final' | 'off';
}
/** A repository run with its run's state. */
export type RepositoryRunState = RepositoryRunRow & {
  number: number;
  status: RunStatus;
  result: TaskResult | null;
};

/**
 * The event that announces a state change, written in the same transaction as the change and
 * only when it wins: a coordinator killed between the two can leave neither without the other.
 */
export interface Announcement {
  runId: string;
  event: NewEvent;
  at: number;
}

/** One `transitionJob` call's arguments, for `transitionJobs`. */
export interface JobMove {
  id: string;
  from: JobStatus[];
  patch: Partial<Omit<JobRow, 'id' | 'runId' | 'idx' | 'plan' | 'name'>> & { status: JobStatus };
  announce?: Announcement;
}

export interface Store {
  // tokens
  insertToken(token: NewToken, now: number): Promise<void>;
  findToken(hash: string): Promise<TokenRow | undefined>;
  /** Marks a one-use token used; false when it was used already (the caller refuses it). */
  consumeToken(id: string, now: number): Promise<boolean>;
  revokeTokens(filter: { id?: string; agentId?: string; jobId?: string }, now: number): Promise<number>;
  /** Records an assertion id; false when it was seen before (a replay). */
  recordAssertion(jti: string, expiresAt: number, now: number): Promise<boolean>;

  // pools
  ensurePool(name: string, settings: PoolSettings, now: number): Promise<PoolRow>;
  createPool(name: string, settings: PoolSettings, now: number): Promise<PoolRow>;
  getPool(name: string): Promise<PoolRow | undefined>;
  listPools(): Promise<PoolRow[]>;
  /** Replaces a pool's settings; undefined when there is no such pool. */
  updatePoolSettings(name: string, settings: PoolSettings): Promise<PoolRow | undefined>;

  // agents
  /** Registers `name` in `pool`; with `replace` an existing one is taken over (its tokens revoked). */
  registerAgent(
    a: { id: string; pool: string; name: string; publicKey: string; replace: boolean; singleJob?: boolean },
    now: number,
  ): Promise<AgentRow>;
  getAgent(id: string): Promise<AgentRow | undefined>;
  findAgent(pool: string, name: string): Promise<AgentRow | undefined>;
  listAgents(pool?: string): Promise<AgentRow[]>;
  openSession(
    agentId: string,
    s: {
      sessionId: string;
      capabilities: Record<string, string>;
      version: string;
      boundJobId: string | null;
    },
    now: number,
  ): Promise<void>;
  touchAgent(agentId: string, now: number): Promise<void>;
  setAgentDraining(agentId: string, draining: boolean): Promise<void>;
  upsertFleet(fleet: FleetRow): Promise<void>;
  /** Fleets of `pool` seen at or after `since`. */
  listFleets(pool: string, since: number): Promise<FleetRow[]>;
  /** Removes an agent and revokes its tokens; refused (false) while it runs a job. */
  deleteAgent(agentId: string, now: number): Promise<boolean>;

  // workspaces
  insertWorkspace(id: string, size: number, now: number): Promise<void>;
  getWorkspace(id: string): Promise<{ id: string; size: number } | undefined>;

  // runs and jobs
  /**
   * Creates a run and its jobs (all `pending`) in one step and numbers the run. With `build`,
   * the build number is rendered with the next revision among runs of the same revision key.
   */
  /** Creates a variable group; false when one of that name (any case) exists. */
  insertVariableGroup(group: VariableGroupRow): Promise<boolean>;
  /** Replaces a group's contents if nobody changed it since `expectedUpdatedAt` (compare-and-set). */
  updateVariableGroup(group: VariableGroupRow, expectedUpdatedAt: number): Promise<boolean>;
  getVariableGroup(name: string): Promise<VariableGroupRow | undefined>;
  listVariableGroups(): Promise<VariableGroupRow[]>;
  deleteVariableGroup(name: string): Promise<boolean>;

  createRun(
    run: Omit<RunRow, 'number'>,
    jobs: JobRow[],
    build?: { revisionKey: string; render: (rev: number) => string },
  ): Promise<RunRow>;
  getRun(id: string): Promise<RunRow | undefined>;
  getRunByNumber(n: number): Promise<RunRow | undefined>;
  /** The newest runs first, at most `limit`, those `filter` keeps. */
  listRuns(limit: number, filter?: RunFilter): Promise<RunRow[]>;
  updateRun(
    id: string,
    patch: Partial<
      Pick<
        RunRow,
        'status' | 'result' | 'startedAt' | 'finishedAt' | 'cancelRequested' | 'buildNumber' | 'tags'
      >
    >,
  ): Promise<void>;
  /**
   * Compare-and-set on a run's status: moves it only while its status is one of `from`, along
   * `RUN_TRANSITIONS`; false when another caller (another replica) moved it first. Whoever gets
   * true announces the move, so a run starts and finishes once however many advance it at once.
   */
  transitionRun(
    id: string,
    from: RunStatus[],
    patch: Partial<Pick<RunRow, 'result' | 'startedAt' | 'finishedAt'>> & { status: RunStatus },
    announce?: Announcement,
  ): Promise<boolean>;
  getJob(id: string): Promise<JobRow | undefined>;
  listJobs(runId: string): Promise<JobRow[]>;
  countRunJobs(runId: string): Promise<Record<JobStatus, number>>;
  /**
   * Jobs that failed without ever starting (nothing could serve them, or a fleet could not start
   * them), finished at or after `since`, newest first, at most `limit`.
   */
  listFailedUnstartedJobs(since: number, limit: number, pool?: string): Promise<JobRow[]>;
  /** How many jobs are pending, queued and running (completed ones are not counted: 0). */
  countJobsByStatus(): Promise<Record<JobStatus, number>>;
  /** The ids of the jobs `agentId` runs now (one, or none): asked at every poll and claim. */
  listRunningJobIds(agentId: string): Promise<string[]>;
  /**
   * Queued jobs not flagged for cancellation, counted by pool and demand set (the plan's
   * `pool.demands`, as stored): what the queue-depth gauge reports, without reading the jobs.
   */
  countQueuedByDemands(): Promise<QueuedCount[]>;
  /** Jobs in `status`, oldest queued first; at most `limit` of them when given. */
  listJobsByStatus(status: JobStatus, pool?: string, limit?: number): Promise<JobRow[]>;
  /**
   * The head of `pool`'s queue, oldest first, at most `limit`: only what matching an agent needs
   * (the dispatcher reads it on every pass, so it reads nothing else).
   */
  listQueueHead(pool: string, limit: number): Promise<QueuedJob[]>;
  /** Moves a job between states only along allowed transitions; false when `from` did not hold. */
  transitionJob(
    id: string,
    from: JobStatus[],
    patch: Partial<Omit<JobRow, 'id' | 'runId' | 'idx' | 'plan' | 'name'>> & { status: JobStatus },
    announce?: Announcement,
  ): Promise<boolean>;
  /** Several `transitionJob` moves in one transaction (one commit), each its own compare-and-set. */
  transitionJobs(moves: JobMove[]): Promise<boolean[]>;
  /** Flags a job for cancellation (the agent learns it from its heartbeat); false when it has finished. */
  requestJobCancel(id: string): Promise<boolean>;
  /**
   * Compare-and-set: queued → running for exactly one claimant, with a new attempt (epoch). With
   * `writes`, what the winner needs is written in the same transaction: one commit per claim.
   */
  claimJob(
    id: string,
    agent: { id: string; name: string },
    leaseExpiresAt: number,
    now: number,
    writes?: ClaimWrites,
  ): Promise<ClaimOutcome>;
  /** Extends the lease of the attempt `epoch`; false when that attempt no longer runs. */
  renewLease(id: string, epoch: number, leaseExpiresAt: number): Promise<boolean>;
  listExpiredLeases(now: number): Promise<JobRow[]>;
  /** Pushes every running lease out to at least `leaseExpiresAt` (after a server restart). */
  extendAllLeases(leaseExpiresAt: number): Promise<number>;

  // steps
  upsertStep(step: StepRow): Promise<void>;
  listSteps(jobId: string, attempt: number): Promise<StepRow[]>;
  /** The steps of every job of a run, of each job's current attempt, in job then step order: one query for a run's view. */
  listRunSteps(runId: string): Promise<StepRow[]>;

  // events and logs
  appendEvent(runId: string, event: NewEvent, now: number): Promise<number>;
  /** Events after `after`, at most `limit` of them and about `maxBytes` of data (always one at least). */
  listEvents(runId: string, after: number, limit: number, maxBytes?: number): Promise<EventRow[]>;
  /** The same page as `listEvents`, undecoded: what the raw feed sends as it is. */
  listFeed(runId: string, after: number, limit: number, maxBytes?: number): Promise<FeedRow[]>;
  /**
   * Appends log bytes at `offset` for the attempt `epoch`; resends are harmless, gaps refused.
   * With `limits`, bytes past the step's or the job's cap are dropped (accepted, not kept), a
   * note is written where the log was cut, and the outcome says `truncated`.
   */
  appendLog(
    job: { id: string; runId: string; name: string },
    epoch: number,
    step: number,
    offset: number,
    data: Buffer,
    now: number,
    limits?: LogLimits,
  ): Promise<AppendLogOutcome>;
  /**
   * The next piece of a log (one step's, or the whole attempt's when `step` is undefined) after
   * the chunk `after` (0: from the start), about `maxBytes` long; undefined at the end. Readers
   * page through it, so a log of any size is served in bounded memory.
   */
  readLogPage(
    jobId: string,
    attempt: number,
    step: number | undefined,
    after: number,
    maxBytes: number,
  ): Promise<{ text: string; next: number } | undefined>;

  // ── Repositories ──
  /** False when a repository of that name exists. */
  insertRepository(repo: RepositoryRow): Promise<boolean>;
  getRepository(name: string): Promise<RepositoryRow | undefined>;
  listRepositories(): Promise<RepositoryRow[]>;
  /** Removes it and everything kept for it (refs, deliveries, errors, schedule fires); runs stay. */
  deleteRepository(name: string): Promise<boolean>;
  listRepositoryRefs(repo: string): Promise<RepositoryRefRow[]>;
  /** Compare-and-set of a ref's tip (`from` null: the ref is new; `to` null: it is gone). */
  moveRepositoryRef(repo: string, ref: string, from: string | null, to: string | null): Promise<boolean>;
  /** Compare-and-set of the commit a batched branch waits to build. */
  setBatchPending(repo: string, ref: string, from: string | null, to: string | null): Promise<boolean>;
  listBatchPending(): Promise<(RepositoryRefRow & { repo: string })[]>;
  /** Queues a webhook delivery; false when its id was delivered before (a replay). */
  recordDelivery(
    d: { repo: string; forge: string; deliveryId: string; event: unknown },
    now: number,
  ): Promise<boolean>;
  countPendingDeliveries(repo: string): Promise<number>;
  /** Undone deliveries, oldest first. */
  listPendingDeliveries(repo: string, limit: number): Promise<DeliveryRow[]>;
  /** Repositories with undone deliveries (after a restart, the queue is drained from here). */
  listReposWithPendingDeliveries(): Promise<string[]>;
  finishDelivery(seq: number, now: number): Promise<void>;
  /**
   * Compare-and-set claim on a repository's delivery queue for `owner` (one coordinator) until
   * `until`: true when it had no claim, `owner`'s (renewed), or one that ran out by `now`.
   */
  claimDeliveries(repo: string, owner: string, until: number, now: number): Promise<boolean>;
  /** Gives up `owner`'s claim on the queue; another owner's claim stays. */
  releaseDeliveries(repo: string, owner: string): Promise<void>;
  recordRepositoryError(
    e: { repo: string; ref: string | null; commit: string | null; message: string },
    now: number,
  ): Promise<void>;
  /** Newest first. */
  listRepositoryErrors(repo: string, limit: number): Promise<RepositoryErrorRow[]>;
  insertRepositoryRun(r: RepositoryRunRow): Promise<void>;
  /** A repository's runs with their state, newest first; `active`: not completed. */
  listRepositoryRuns(f: {
    repo: string;
    ref?: string;
    kind?: RepositoryRunRow['kind'];
    prNumber?: number;
    active?: boolean;
  }): Promise<RepositoryRunState[]>;
  /** Runs whose forge status is behind their state: never sent, or pending while the run completed. */
  listRepositoryRunsToReport(limit: number): Promise<RepositoryRunState[]>;
  /** Compare-and-set of what was last reported for a run. */
  markRunReported(
    runId: string,
    from: RepositoryRunRow['reported'],
    to: RepositoryRunRow['reported'],
  ): Promise<boolean>;
  getScheduleFire(
    repo: string,
    schedule: string,
    branch: string,
  ): Promise<{ lastSlot: number; lastCommit: string | null } | undefined>;
  /** Compare-and-set of a schedule's last slot on a branch (`from` null: first sight). */
  moveScheduleFire(
    repo: string,
    schedule: string,
    branch: string,
    from: number | null,
    to: { slot: number; commit: string | null },
  ): Promise<boolean>;
  // caches
  /** Adds an entry; false (nothing changed) when its scope has that key already. */
  insertCacheEntry(entry: CacheEntryRow): Promise<boolean>;
  getCacheEntry(id: string): Promise<CacheEntryRow | undefined>;
  /** The entry of `scope` whose key is exactly `key`. */
  findCacheEntry(scope: string, key: string): Promise<CacheEntryRow | undefined>;
  /** The newest entry of `scope` whose key starts with `prefix` (taken literally). */
  findCacheEntryByPrefix(scope: string, prefix: string): Promise<CacheEntryRow | undefined>;
  /** Marks an entry used at `now` (never earlier than it was). */
  touchCacheEntry(id: string, now: number): Promise<void>;
  deleteCacheEntry(id: string): Promise<boolean>;
  /** Every entry, least recently used first: the eviction order. */
  listCacheEntries(): Promise<CacheEntryRow[]>;
  cacheUsage(): Promise<{ entries: number; bytes: number }>;
  /** How many entries share the archive `sha256` (it is removed when none does). */
  countCacheEntriesWithSha(sha256: string): Promise<number>;

  close(): Promise<void>;
}

/** Moves a run may make; everything else is refused by `transitionRun`. */
export const RUN_TRANSITIONS: Record<RunStatus, RunStatus[]> = {
  queued: ['running', 'completed'],
  running: ['completed'],
  completed: [],
};

/** Moves a job may make; everything else is refused by `transitionJob`. */
export const JOB_TRANSITIONS: Record<JobStatus, JobStatus[]> = {
  pending: ['queued', 'completed'],
  // queued → queued: the reason it waits changed.
  queued: ['queued', 'running', 'completed'],
  running: ['queued', 'completed'],
  completed: [],
};
