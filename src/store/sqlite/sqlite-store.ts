import type { JobStatus, RunStatus } from '../../protocol/index.js';
import type {
  AgentRow,
  CacheEntryRow,
  FleetRow,
  JobRow,
  LogLimits,
  NewEvent,
  NewToken,
  PoolSettings,
  RunRow,
  StepRow,
  Store,
} from '../types.js';
import * as agents from './agents.js';
import * as caches from './caches.js';
import { type Db, openDb, sql } from './db.js';
import * as events from './events.js';
import * as fleets from './fleets.js';
import * as pools from './pools.js';
import * as runs from './runs.js';
import * as tokens from './tokens.js';

/**
 * The embedded store. better-sqlite3 is synchronous, which makes every method trivially atomic
 * in a single process; the async signatures are the contract PostgreSQL shares.
 */
export class SqliteStore implements Store {
  private readonly db: Db;

  constructor(file: string) {
    this.db = openDb(file);
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
  listFleets = async (pool: string, since: number) => fleets.listFleets(this.db, pool, since);
  touchAgent = async (agentId: string, now: number) => agents.touchAgent(this.db, agentId, now);
  deleteAgent = async (agentId: string, now: number) => agents.deleteAgent(this.db, agentId, now);

  insertWorkspace = async (id: string, size: number, now: number) => {
    this.db
      .prepare('INSERT OR IGNORE INTO workspaces (id, size, created_at) VALUES (?, ?, ?)')
      .run(id, size, now);
  };
  getWorkspace = async (id: string) =>
    sql(this.db, 'SELECT id, size FROM workspaces WHERE id = ?').get(id) as
      | { id: string; size: number }
      | undefined;

  createRun = async (
    run: Omit<RunRow, 'number'>,
    jobs: JobRow[],
    build?: { revisionKey: string; render: (rev: number) => string },
  ) => runs.createRun(this.db, run, jobs, build);
  getRun = async (id: string) => runs.getRun(this.db, id);
  getRunByNumber = async (n: number) => runs.getRunByNumber(this.db, n);
  listRuns = async (limit: number) => runs.listRuns(this.db, limit);
  updateRun = async (id: string, patch: Partial<RunRow>) => runs.updateRun(this.db, id, patch);
  transitionRun = async (id: string, from: RunStatus[], patch: Partial<RunRow> & { status: RunStatus }) =>
    runs.transitionRun(this.db, id, from, patch);
  getJob = async (id: string) => runs.getJob(this.db, id);
  listJobs = async (runId: string) => runs.listJobs(this.db, runId);
  countRunJobs = async (runId: string) => runs.countRunJobs(this.db, runId);
  listJobsByStatus = async (status: JobStatus, pool?: string, limit?: number) =>
    runs.listJobsByStatus(this.db, status, pool, limit);
  transitionJob = async (id: string, from: JobStatus[], patch: Partial<JobRow> & { status: JobStatus }) =>
    runs.transitionJob(this.db, id, from, patch);
  requestJobCancel = async (id: string) => runs.requestJobCancel(this.db, id);
  claimJob = async (id: string, agent: { id: string; name: string }, leaseExpiresAt: number, now: number) =>
    runs.claimJob(this.db, id, agent, leaseExpiresAt, now);
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

  close = async () => {
    this.db.close();
  };
}
