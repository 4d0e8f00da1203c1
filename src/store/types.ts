/**
 * The one narrow interface the server keeps its state behind. Every method is atomic on its
 * own, so an implementation needs no transaction spanning calls (SQLite and PostgreSQL alike).
 * Times are epoch milliseconds.
 */
import type { BuildReason, JobPlan, PipelinePlan, RunSource, TaskResult } from '../pipeline/index.js';
import type {
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
  queuedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
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

export type ClaimOutcome = { ok: true; job: JobRow } | { ok: false; reason: 'not-queued' | 'not-found' };

export type AppendLogOutcome =
  | { ok: true; length: number; appended: boolean; truncated?: true }
  | { ok: false; reason: 'stale-epoch' | 'gap'; length: number };

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
  createRun(
    run: Omit<RunRow, 'number'>,
    jobs: JobRow[],
    build?: { revisionKey: string; render: (rev: number) => string },
  ): Promise<RunRow>;
  getRun(id: string): Promise<RunRow | undefined>;
  getRunByNumber(n: number): Promise<RunRow | undefined>;
  listRuns(limit: number): Promise<RunRow[]>;
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
  ): Promise<boolean>;
  getJob(id: string): Promise<JobRow | undefined>;
  listJobs(runId: string): Promise<JobRow[]>;
  countRunJobs(runId: string): Promise<Record<JobStatus, number>>;
  /** Jobs in `status`, oldest queued first; at most `limit` of them when given. */
  listJobsByStatus(status: JobStatus, pool?: string, limit?: number): Promise<JobRow[]>;
  /** Moves a job between states only along allowed transitions; false when `from` did not hold. */
  transitionJob(
    id: string,
    from: JobStatus[],
    patch: Partial<Omit<JobRow, 'id' | 'runId' | 'idx' | 'plan' | 'name'>> & { status: JobStatus },
  ): Promise<boolean>;
  /** Flags a job for cancellation (the agent learns it from its heartbeat); false when it has finished. */
  requestJobCancel(id: string): Promise<boolean>;
  /** Compare-and-set: queued → running for exactly one claimant, with a new attempt (epoch). */
  claimJob(
    id: string,
    agent: { id: string; name: string },
    leaseExpiresAt: number,
    now: number,
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
