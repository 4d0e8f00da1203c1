import type { JobStatus, RunStatus } from '../../protocol/index.js';
import type {
  AgentRow,
  Announcement,
  CacheEntryRow,
  ClaimWrites,
  FleetRow,
  JobMove,
  JobRow,
  LogLimits,
  NewEvent,
  NewToken,
  PoolSettings,
  RepositoryRow,
  RepositoryRunRow,
  RunFilter,
  RunRow,
  StepRow,
  Store,
  VariableGroupRow,
} from '../types.js';
import * as agents from './agents.js';
import * as caches from './caches.js';
import { type Db, openDb, sql } from './db.js';
import * as events from './events.js';
import * as fleets from './fleets.js';
import { GroupCommit } from './group-commit.js';
import * as pools from './pools.js';
import * as repos from './repositories.js';
import * as runs from './runs.js';
import * as tokens from './tokens.js';
import * as groups from './variable-groups.js';

/** How often the WAL is copied into the database file (a PASSIVE checkpoint: it waits for no one). */
const CHECKPOINT_MS = 1_000;

/**
 * The embedded store. better-sqlite3 is synchronous, which makes every method trivially atomic
 * in a single process; the async signatures are the contract PostgreSQL shares. Writes go
 * through a group commit (one transaction per event-loop turn): each call settles only once what
 * it wrote, or read, is committed.
 */
export class SqliteStore implements Store {
  private readonly db: Db;
  private readonly group: GroupCommit;
  private readonly checkpoints: NodeJS.Timeout;

  constructor(file: string) {
    this.db = openDb(file);
    this.group = new GroupCommit(this.db);
    // Checkpoints off the request path: left to SQLite, the COMMIT that crosses 1,000 WAL pages
    // copies them into the database file while its callers wait. A timer copies them instead,
    // once for a page written many times since, and never with a batch open.
    this.db.pragma('wal_autocheckpoint = 0');
    this.checkpoints = setInterval(() => {
      if (!this.group.pending) this.db.pragma('wal_checkpoint(PASSIVE)');
    }, CHECKPOINT_MS);
    this.checkpoints.unref();
  }

  insertToken = (t: NewToken, now: number) => this.group.write(() => tokens.insertToken(this.db, t, now));
  findToken = (hash: string) => this.group.read(() => tokens.findToken(this.db, hash));
  consumeToken = (id: string, now: number) => this.group.write(() => tokens.consumeToken(this.db, id, now));
  revokeTokens = (f: { id?: string; agentId?: string; jobId?: string }, now: number) =>
    this.group.write(() => tokens.revokeTokens(this.db, f, now));
  recordAssertion = (jti: string, expiresAt: number, now: number) =>
    this.group.write(() => tokens.recordAssertion(this.db, jti, expiresAt, now));

  ensurePool = (name: string, s: PoolSettings, now: number) =>
    this.group.write(() => pools.ensurePool(this.db, name, s, now));
  createPool = (name: string, s: PoolSettings, now: number) =>
    this.group.write(() => pools.createPool(this.db, name, s, now));
  getPool = (name: string) => this.group.read(() => pools.getPool(this.db, name));
  listPools = () => this.group.read(() => pools.listPools(this.db));
  updatePoolSettings = (name: string, s: PoolSettings) =>
    this.group.write(() => pools.updatePoolSettings(this.db, name, s));

  registerAgent = (
    a: { id: string; pool: string; name: string; publicKey: string; replace: boolean; singleJob?: boolean },
    now: number,
  ) => this.group.write(() => agents.registerAgent(this.db, a, now));
  getAgent = (id: string) => this.group.read(() => agents.getAgent(this.db, id));
  findAgent = (pool: string, name: string) => this.group.read(() => agents.findAgent(this.db, pool, name));
  listAgents = (pool?: string): Promise<AgentRow[]> =>
    this.group.read(() => agents.listAgents(this.db, pool));
  openSession = (
    agentId: string,
    s: {
      sessionId: string;
      capabilities: Record<string, string>;
      version: string;
      boundJobId: string | null;
    },
    now: number,
  ) => this.group.write(() => agents.openSession(this.db, agentId, s, now));
  setAgentDraining = (agentId: string, draining: boolean) =>
    this.group.write(() => agents.setAgentDraining(this.db, agentId, draining));
  upsertFleet = (f: FleetRow) => this.group.write(() => fleets.upsertFleet(this.db, f));
  insertVariableGroup = (g: VariableGroupRow) =>
    this.group.write(() => groups.insertVariableGroup(this.db, g));
  updateVariableGroup = (g: VariableGroupRow, expectedUpdatedAt: number) =>
    this.group.write(() => groups.updateVariableGroup(this.db, g, expectedUpdatedAt));
  getVariableGroup = (name: string) => this.group.read(() => groups.getVariableGroup(this.db, name));
  listVariableGroups = () => this.group.read(() => groups.listVariableGroups(this.db));
  deleteVariableGroup = (name: string) => this.group.write(() => groups.deleteVariableGroup(this.db, name));
  listFleets = (pool: string, since: number) =>
    this.group.read(() => fleets.listFleets(this.db, pool, since));
  touchAgent = (agentId: string, now: number) =>
    this.group.write(() => agents.touchAgent(this.db, agentId, now));
  deleteAgent = (agentId: string, now: number) =>
    this.group.write(() => agents.deleteAgent(this.db, agentId, now));

  insertWorkspace = (id: string, size: number, now: number) =>
    this.group.write(() => {
      this.db
        .prepare('INSERT OR IGNORE INTO workspaces (id, size, created_at) VALUES (?, ?, ?)')
        .run(id, size, now);
    });
  getWorkspace = (id: string) =>
    this.group.read(
      () =>
        sql(this.db, 'SELECT id, size FROM workspaces WHERE id = ?').get(id) as
          | { id: string; size: number }
          | undefined,
    );

  createRun = (
    run: Omit<RunRow, 'number'>,
    jobs: JobRow[],
    build?: { revisionKey: string; render: (rev: number) => string },
  ) => this.group.write(() => runs.createRun(this.db, run, jobs, build));
  getRun = (id: string) => this.group.read(() => runs.getRun(this.db, id));
  getRunByNumber = (n: number) => this.group.read(() => runs.getRunByNumber(this.db, n));
  listRuns = (limit: number, filter?: RunFilter) =>
    this.group.read(() => runs.listRuns(this.db, limit, filter));
  updateRun = (id: string, patch: Partial<RunRow>) =>
    this.group.write(() => runs.updateRun(this.db, id, patch));
  transitionRun = (
    id: string,
    from: RunStatus[],
    patch: Partial<RunRow> & { status: RunStatus },
    announce?: Announcement,
  ) => this.group.write(() => this.announced(announce, () => runs.transitionRun(this.db, id, from, patch)));
  getJob = (id: string) => this.group.read(() => runs.getJob(this.db, id));
  listJobs = (runId: string) => this.group.read(() => runs.listJobs(this.db, runId));
  countRunJobs = (runId: string) => this.group.read(() => runs.countRunJobs(this.db, runId));
  listFailedUnstartedJobs = (since: number, limit: number, pool?: string) =>
    this.group.read(() => runs.listFailedUnstartedJobs(this.db, since, limit, pool));
  countJobsByStatus = () => this.group.read(() => runs.countJobsByStatus(this.db));
  countQueuedByDemands = () => this.group.read(() => runs.countQueuedByDemands(this.db));
  listRunningJobIds = (agentId: string) => this.group.read(() => runs.listRunningJobIds(this.db, agentId));
  listJobsByStatus = (status: JobStatus, pool?: string, limit?: number) =>
    this.group.read(() => runs.listJobsByStatus(this.db, status, pool, limit));
  listQueueHead = (pool: string, limit: number) =>
    this.group.read(() => runs.listQueueHead(this.db, pool, limit));
  transitionJob = (
    id: string,
    from: JobStatus[],
    patch: Partial<JobRow> & { status: JobStatus },
    announce?: Announcement,
  ) => this.group.write(() => this.announced(announce, () => runs.transitionJob(this.db, id, from, patch)));

  /** Changes and the events that announce them, in one unit of work; an event only when its change won. */
  transitionJobs = (moves: JobMove[]) =>
    this.group.write(() =>
      moves.map((m) => {
        const won = runs.transitionJob(this.db, m.id, m.from, m.patch);
        if (won && m.announce) events.appendEvent(this.db, m.announce.runId, m.announce.event, m.announce.at);
        return won;
      }),
    );

  /** Runs inside the caller's unit of work (its savepoint): the event is written only when it won. */
  private announced(announce: Announcement | undefined, change: () => boolean): boolean {
    const won = change();
    if (won && announce) events.appendEvent(this.db, announce.runId, announce.event, announce.at);
    return won;
  }
  requestJobCancel = (id: string) => this.group.write(() => runs.requestJobCancel(this.db, id));
  claimJob = (
    id: string,
    agent: { id: string; name: string },
    leaseExpiresAt: number,
    now: number,
    writes?: ClaimWrites,
  ) => this.group.write(() => runs.claimJob(this.db, id, agent, leaseExpiresAt, now, writes));
  renewLease = (id: string, epoch: number, leaseExpiresAt: number) =>
    this.group.write(() => runs.renewLease(this.db, id, epoch, leaseExpiresAt));
  listExpiredLeases = (now: number) => this.group.read(() => runs.listExpiredLeases(this.db, now));
  extendAllLeases = (leaseExpiresAt: number) =>
    this.group.write(() => runs.extendAllLeases(this.db, leaseExpiresAt));

  upsertStep = (s: StepRow) => this.group.write(() => runs.upsertStep(this.db, s));
  listSteps = (jobId: string, attempt: number) =>
    this.group.read(() => runs.listSteps(this.db, jobId, attempt));
  listRunSteps = (runId: string) => this.group.read(() => runs.listRunSteps(this.db, runId));

  appendEvent = (runId: string, e: NewEvent, now: number) =>
    this.group.write(() => events.appendEvent(this.db, runId, e, now));
  listEvents = (runId: string, after: number, limit: number, maxBytes?: number) =>
    this.group.read(() => events.listEvents(this.db, runId, after, limit, maxBytes));
  listFeed = (runId: string, after: number, limit: number, maxBytes?: number) =>
    this.group.read(() => events.listFeed(this.db, runId, after, limit, maxBytes));
  appendLog = (
    job: { id: string; runId: string; name: string },
    epoch: number,
    step: number,
    offset: number,
    data: Buffer,
    now: number,
    limits?: LogLimits,
  ) => this.group.write(() => events.appendLog(this.db, job, epoch, step, offset, data, now, limits));
  readLogPage = (jobId: string, attempt: number, step: number | undefined, after: number, maxBytes: number) =>
    this.group.read(() => events.readLogPage(this.db, jobId, attempt, step, after, maxBytes));

  // ── Repositories ──
  insertRepository = (r: RepositoryRow) => this.group.write(() => repos.insertRepository(this.db, r));
  getRepository = (name: string) => this.group.read(() => repos.getRepository(this.db, name));
  listRepositories = () => this.group.read(() => repos.listRepositories(this.db));
  deleteRepository = (name: string) => this.group.write(() => repos.deleteRepository(this.db, name));
  listRepositoryRefs = (repo: string) => this.group.read(() => repos.listRepositoryRefs(this.db, repo));
  moveRepositoryRef = (repo: string, ref: string, from: string | null, to: string | null) =>
    this.group.write(() => repos.moveRepositoryRef(this.db, repo, ref, from, to));
  setBatchPending = (repo: string, ref: string, from: string | null, to: string | null) =>
    this.group.write(() => repos.setBatchPending(this.db, repo, ref, from, to));
  listBatchPending = () => this.group.read(() => repos.listBatchPending(this.db));
  recordDelivery = (d: { repo: string; forge: string; deliveryId: string; event: unknown }, now: number) =>
    this.group.write(() => repos.recordDelivery(this.db, d, now));
  countPendingDeliveries = (repo: string) =>
    this.group.read(() => repos.countPendingDeliveries(this.db, repo));
  listPendingDeliveries = (repo: string, limit: number) =>
    this.group.read(() => repos.listPendingDeliveries(this.db, repo, limit));
  listReposWithPendingDeliveries = () => this.group.read(() => repos.listReposWithPendingDeliveries(this.db));
  finishDelivery = (seq: number, now: number) =>
    this.group.write(() => repos.finishDelivery(this.db, seq, now));
  claimDeliveries = (repo: string, owner: string, until: number, now: number) =>
    this.group.write(() => repos.claimDeliveries(this.db, repo, owner, until, now));
  releaseDeliveries = (repo: string, owner: string) =>
    this.group.write(() => repos.releaseDeliveries(this.db, repo, owner));
  recordRepositoryError = (
    e: { repo: string; ref: string | null; commit: string | null; message: string },
    now: number,
  ) => this.group.write(() => repos.recordRepositoryError(this.db, e, now));
  listRepositoryErrors = (repo: string, limit: number) =>
    this.group.read(() => repos.listRepositoryErrors(this.db, repo, limit));
  insertRepositoryRun = (r: RepositoryRunRow) =>
    this.group.write(() => repos.insertRepositoryRun(this.db, r));
  listRepositoryRuns = (f: Parameters<typeof repos.listRepositoryRuns>[1]) =>
    this.group.read(() => repos.listRepositoryRuns(this.db, f));
  listRepositoryRunsToReport = (limit: number) =>
    this.group.read(() => repos.listRepositoryRunsToReport(this.db, limit));
  markRunReported = (runId: string, from: RepositoryRunRow['reported'], to: RepositoryRunRow['reported']) =>
    this.group.write(() => repos.markRunReported(this.db, runId, from, to));
  getScheduleFire = (repo: string, schedule: string, branch: string) =>
    this.group.read(() => repos.getScheduleFire(this.db, repo, schedule, branch));
  moveScheduleFire = (
    repo: string,
    schedule: string,
    branch: string,
    from: number | null,
    to: { slot: number; commit: string | null },
  ) => this.group.write(() => repos.moveScheduleFire(this.db, repo, schedule, branch, from, to));
  insertCacheEntry = (e: CacheEntryRow) => this.group.write(() => caches.insertCacheEntry(this.db, e));
  getCacheEntry = (id: string) => this.group.read(() => caches.getCacheEntry(this.db, id));
  findCacheEntry = (scope: string, key: string) =>
    this.group.read(() => caches.findCacheEntry(this.db, scope, key));
  findCacheEntryByPrefix = (scope: string, prefix: string) =>
    this.group.read(() => caches.findCacheEntryByPrefix(this.db, scope, prefix));
  touchCacheEntry = (id: string, now: number) =>
    this.group.write(() => caches.touchCacheEntry(this.db, id, now));
  deleteCacheEntry = (id: string) => this.group.write(() => caches.deleteCacheEntry(this.db, id));
  listCacheEntries = () => this.group.read(() => caches.listCacheEntries(this.db));
  cacheUsage = () => this.group.read(() => caches.cacheUsage(this.db));
  countCacheEntriesWithSha = (sha256: string) =>
    this.group.read(() => caches.countCacheEntriesWithSha(this.db, sha256));

  close = async () => {
    clearInterval(this.checkpoints);
    this.group.flush();
    this.db.close();
  };
}
