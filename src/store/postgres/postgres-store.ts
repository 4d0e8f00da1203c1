import type pg from 'pg';
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
import { createPool, type Db, migrate, one, query, transaction } from './db.js';
import * as events from './events.js';
import * as fleets from './fleets.js';
import * as pools from './pools.js';
import * as repos from './repositories.js';
import * as runs from './runs.js';
import * as tokens from './tokens.js';
import { parsePgUrl } from './url.js';
import * as groups from './variable-groups.js';

/**
 * The shared store, for several coordinators on one database. Each method is one statement or
 * one transaction on one client, with row locks or advisory locks where it reads then writes,
 * so it is atomic across connections and replicas alike. Open it with `PostgresStore.open`.
 */
export class PostgresStore implements Store {
  private constructor(private readonly db: pg.Pool) {}

  /** Connects (failing fast when the database cannot be reached) and migrates the schema. */
  static async open(url: string): Promise<PostgresStore> {
    const { connectionString, options } = parsePgUrl(url);
    const pool = createPool(connectionString, options);
    try {
      await migrate(pool);
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return new PostgresStore(pool);
  }

  insertToken = async (t: NewToken, now: number) => tokens.insertToken(this.db, t, now);
  findToken = async (hash: string) => tokens.findToken(this.db, hash);
  consumeToken = async (id: string, now: number) => tokens.consumeToken(this.db, id, now);
  revokeTokens = async (f: { id?: string; agentId?: string; jobId?: string }, now: number) =>
    tokens.revokeTokens(this.db, f, now);
  recordAssertion = async (jti: string, expiresAt: number, now: number) =>
    tokens.recordAssertion(this.db, jti, expiresAt, now);

  ensurePool = async (name: string, s: PoolSettings, now: number) => pools.ensurePool(this.db, name, s, now);
  createPool = async (name: string, s: PoolSettings, now: number) => pools.createPool(this.db, name, s, now);
  getPool = async (name: string) => pools.getPool(this.db, name);
  listPools = async () => pools.listPools(this.db);
  updatePoolSettings = async (name: string, s: PoolSettings) => pools.updatePoolSettings(this.db, name, s);

  registerAgent = async (
    a: { id: string; pool: string; name: string; publicKey: string; replace: boolean; singleJob?: boolean },
    now: number,
  ) => agents.registerAgent(this.db, a, now);
  getAgent = async (id: string) => agents.getAgent(this.db, id);
  findAgent = async (pool: string, name: string) => agents.findAgent(this.db, pool, name);
  listAgents = async (pool?: string): Promise<AgentRow[]> => agents.listAgents(this.db, pool);
  openSession = async (
    agentId: string,
    s: {
      sessionId: string;
      capabilities: Record<string, string>;
      version: string;
      boundJobId: string | null;
    },
    now: number,
  ) => agents.openSession(this.db, agentId, s, now);
  setAgentDraining = async (agentId: string, draining: boolean) =>
    agents.setAgentDraining(this.db, agentId, draining);
  upsertFleet = async (f: FleetRow) => fleets.upsertFleet(this.db, f);
  insertVariableGroup = async (g: VariableGroupRow) => groups.insertVariableGroup(this.db, g);
  updateVariableGroup = async (g: VariableGroupRow, expectedUpdatedAt: number) =>
    groups.updateVariableGroup(this.db, g, expectedUpdatedAt);
  getVariableGroup = async (name: string) => groups.getVariableGroup(this.db, name);
  listVariableGroups = async () => groups.listVariableGroups(this.db);
  deleteVariableGroup = async (name: string) => groups.deleteVariableGroup(this.db, name);
  listFleets = async (pool: string, since: number) => fleets.listFleets(this.db, pool, since);
  touchAgent = async (agentId: string, now: number) => agents.touchAgent(this.db, agentId, now);
  deleteAgent = async (agentId: string, now: number) => agents.deleteAgent(this.db, agentId, now);

  insertWorkspace = async (id: string, size: number, now: number) => {
    await query(
      this.db,
      'INSERT INTO workspaces (id, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [id, size, now],
    );
  };
  getWorkspace = async (id: string) =>
    one<{ id: string; size: number }>(this.db, 'SELECT id, size FROM workspaces WHERE id = $1', [id]);

  createRun = async (
    run: Omit<RunRow, 'number'>,
    jobs: JobRow[],
    build?: { revisionKey: string; render: (rev: number) => string },
  ) => runs.createRun(this.db, run, jobs, build);
  getRun = async (id: string) => runs.getRun(this.db, id);
  getRunByNumber = async (n: number) => runs.getRunByNumber(this.db, n);
  listRuns = async (limit: number, filter?: RunFilter) => runs.listRuns(this.db, limit, filter);
  updateRun = async (id: string, patch: Partial<RunRow>) => runs.updateRun(this.db, id, patch);
  transitionRun = async (
    id: string,
    from: RunStatus[],
    patch: Partial<RunRow> & { status: RunStatus },
    announce?: Announcement,
  ) => this.announced(announce, (db) => runs.transitionRun(db, id, from, patch));
  getJob = async (id: string) => runs.getJob(this.db, id);
  listJobs = async (runId: string) => runs.listJobs(this.db, runId);
  countRunJobs = async (runId: string) => runs.countRunJobs(this.db, runId);
  listFailedUnstartedJobs = async (since: number, limit: number, pool?: string) =>
    runs.listFailedUnstartedJobs(this.db, since, limit, pool);
  countJobsByStatus = async () => runs.countJobsByStatus(this.db);
  countQueuedByDemands = async () => runs.countQueuedByDemands(this.db);
  listRunningJobIds = async (agentId: string) => runs.listRunningJobIds(this.db, agentId);
  listJobsByStatus = async (status: JobStatus, pool?: string, limit?: number) =>
    runs.listJobsByStatus(this.db, status, pool, limit);
  listQueueHead = async (pool: string, limit: number) => runs.listQueueHead(this.db, pool, limit);
  transitionJob = async (
    id: string,
    from: JobStatus[],
    patch: Partial<JobRow> & { status: JobStatus },
    announce?: Announcement,
  ) => this.announced(announce, (db) => runs.transitionJob(db, id, from, patch));

  transitionJobs = async (moves: JobMove[]) =>
    moves.length === 0
      ? []
      : transaction(this.db, async (c) => {
          const won: boolean[] = [];
          for (const m of moves) {
            const ok = await runs.transitionJob(c, m.id, m.from, m.patch);
            if (ok && m.announce)
              await events.insertEvent(c, m.announce.runId, m.announce.event, m.announce.at);
            won.push(ok);
          }
          return won;
        });

  /** A change and the event that announces it, in one transaction; the event only when it won. */
  private async announced(
    announce: Announcement | undefined,
    change: (db: Db) => Promise<boolean>,
  ): Promise<boolean> {
    if (!announce) return change(this.db);
    return transaction(this.db, async (c) => {
      const won = await change(c);
      if (won) await events.insertEvent(c, announce.runId, announce.event, announce.at);
      return won;
    });
  }
  requestJobCancel = async (id: string) => runs.requestJobCancel(this.db, id);
  claimJob = async (
    id: string,
    agent: { id: string; name: string },
    leaseExpiresAt: number,
    now: number,
    writes?: ClaimWrites,
  ) => runs.claimJob(this.db, id, agent, leaseExpiresAt, now, writes);
  renewLease = async (id: string, epoch: number, leaseExpiresAt: number) =>
    runs.renewLease(this.db, id, epoch, leaseExpiresAt);
  listExpiredLeases = async (now: number) => runs.listExpiredLeases(this.db, now);
  extendAllLeases = async (leaseExpiresAt: number) => runs.extendAllLeases(this.db, leaseExpiresAt);

  upsertStep = async (s: StepRow) => runs.upsertStep(this.db, s);
  listSteps = async (jobId: string, attempt: number) => runs.listSteps(this.db, jobId, attempt);
  listRunSteps = async (runId: string) => runs.listRunSteps(this.db, runId);

  appendEvent = async (runId: string, e: NewEvent, now: number) => events.appendEvent(this.db, runId, e, now);
  listEvents = async (runId: string, after: number, limit: number, maxBytes?: number) =>
    events.listEvents(this.db, runId, after, limit, maxBytes);
  listFeed = async (runId: string, after: number, limit: number, maxBytes?: number) =>
    events.listFeed(this.db, runId, after, limit, maxBytes);
  appendLog = async (
    job: { id: string; runId: string; name: string },
    epoch: number,
    step: number,
    offset: number,
    data: Buffer,
    now: number,
    limits?: LogLimits,
  ) => events.appendLog(this.db, job, epoch, step, offset, data, now, limits);
  readLogPage = async (
    jobId: string,
    attempt: number,
    step: number | undefined,
    after: number,
    maxBytes: number,
  ) => events.readLogPage(this.db, jobId, attempt, step, after, maxBytes);

  // ── Repositories ──
  insertRepository = async (r: RepositoryRow) => repos.insertRepository(this.db, r);
  getRepository = async (name: string) => repos.getRepository(this.db, name);
  listRepositories = async () => repos.listRepositories(this.db);
  deleteRepository = async (name: string) => repos.deleteRepository(this.db, name);
  listRepositoryRefs = async (repo: string) => repos.listRepositoryRefs(this.db, repo);
  moveRepositoryRef = async (repo: string, ref: string, from: string | null, to: string | null) =>
    repos.moveRepositoryRef(this.db, repo, ref, from, to);
  setBatchPending = async (repo: string, ref: string, from: string | null, to: string | null) =>
    repos.setBatchPending(this.db, repo, ref, from, to);
  listBatchPending = async () => repos.listBatchPending(this.db);
  recordDelivery = async (
    d: { repo: string; forge: string; deliveryId: string; event: unknown },
    now: number,
  ) => repos.recordDelivery(this.db, d, now);
  countPendingDeliveries = async (repo: string) => repos.countPendingDeliveries(this.db, repo);
  listPendingDeliveries = async (repo: string, limit: number) =>
    repos.listPendingDeliveries(this.db, repo, limit);
  listReposWithPendingDeliveries = async () => repos.listReposWithPendingDeliveries(this.db);
  finishDelivery = async (seq: number, now: number) => repos.finishDelivery(this.db, seq, now);
  claimDeliveries = async (repo: string, owner: string, until: number, now: number) =>
    repos.claimDeliveries(this.db, repo, owner, until, now);
  releaseDeliveries = async (repo: string, owner: string) => repos.releaseDeliveries(this.db, repo, owner);
  recordRepositoryError = async (
    e: { repo: string; ref: string | null; commit: string | null; message: string },
    now: number,
  ) => repos.recordRepositoryError(this.db, e, now);
  listRepositoryErrors = async (repo: string, limit: number) =>
    repos.listRepositoryErrors(this.db, repo, limit);
  insertRepositoryRun = async (r: RepositoryRunRow) => repos.insertRepositoryRun(this.db, r);
  listRepositoryRuns = async (f: Parameters<typeof repos.listRepositoryRuns>[1]) =>
    repos.listRepositoryRuns(this.db, f);
  listRepositoryRunsToReport = async (limit: number) => repos.listRepositoryRunsToReport(this.db, limit);
  markRunReported = async (
    runId: string,
    from: RepositoryRunRow['reported'],
    to: RepositoryRunRow['reported'],
  ) => repos.markRunReported(this.db, runId, from, to);
  getScheduleFire = async (repo: string, schedule: string, branch: string) =>
    repos.getScheduleFire(this.db, repo, schedule, branch);
  moveScheduleFire = async (
    repo: string,
    schedule: string,
    branch: string,
    from: number | null,
    to: { slot: number; commit: string | null },
  ) => repos.moveScheduleFire(this.db, repo, schedule, branch, from, to);
  insertCacheEntry = async (e: CacheEntryRow) => caches.insertCacheEntry(this.db, e);
  getCacheEntry = async (id: string) => caches.getCacheEntry(this.db, id);
  findCacheEntry = async (scope: string, key: string) => caches.findCacheEntry(this.db, scope, key);
  findCacheEntryByPrefix = async (scope: string, prefix: string) =>
    caches.findCacheEntryByPrefix(this.db, scope, prefix);
  touchCacheEntry = async (id: string, now: number) => caches.touchCacheEntry(this.db, id, now);
  deleteCacheEntry = async (id: string) => caches.deleteCacheEntry(this.db, id);
  listCacheEntries = async () => caches.listCacheEntries(this.db);
  cacheUsage = async () => caches.cacheUsage(this.db);
  countCacheEntriesWithSha = async (sha256: string) => caches.countCacheEntriesWithSha(this.db, sha256);

  private closing: Promise<void> | undefined;
  /** Ends the pool once (it waits for queries under way); a second call waits for the first. */
  close = async () => {
    this.closing ??= this.db.end();
    await this.closing;
  };
}
