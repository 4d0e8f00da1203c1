import type { JobPlan, PipelinePlan } from '../../pipeline/index.js';
import type { JobStatus, RunStatus } from '../../protocol/index.js';
import { ConflictError } from '../../shared/errors.js';
import {
  type ClaimOutcome,
  type ClaimWrites,
  JOB_TRANSITIONS,
  type JobRow,
  type QueuedCount,
  type QueuedJob,
  RUN_TRANSITIONS,
  type RunFilter,
  type RunRow,
  type StepRow,
} from '../types.js';
import { type Db, json, sql } from './db.js';
import { appendEvent } from './events.js';
import { insertToken } from './tokens.js';

interface RawRun {
  id: string;
  number: number;
  pipeline_file: string;
  variables: string;
  secrets: string | null;
  workspace_id: string | null;
  status: string;
  result: string | null;
  cancel_requested: number;
  build_number: string | null;
  tags: string;
  source: string;
  reason: string;
  untrusted: number;
  rerun_of: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

function toRun(db: Db, r: RawRun): RunRow {
  return {
    id: r.id,
    number: r.number,
    pipelineFile: r.pipeline_file,
    plan: runPlanOf(db, r.id),
    variables: json.parse(r.variables),
    secrets: r.secrets,
    workspaceId: r.workspace_id,
    status: r.status as RunRow['status'],
    result: r.result as RunRow['result'],
    cancelRequested: r.cancel_requested === 1,
    buildNumber: r.build_number,
    tags: json.parse(r.tags),
    source: json.parse(r.source),
    reason: r.reason as RunRow['reason'],
    untrusted: r.untrusted === 1,
    rerunOf: r.rerun_of === null ? null : json.parse(r.rerun_of),
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

interface RawJob {
  id: string;
  run_id: string;
  idx: number;
  name: string;
  display_name: string;
  pool: string;
  depends_on: string;
  status: string;
  result: string | null;
  reason: string | null;
  attempt: number;
  agent_id: string | null;
  agent_name: string | null;
  lease_expires_at: number | null;
  cancel_requested: number;
  outputs: string;
  test_runs: string;
  coverage: string;
  queued_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  secrets: string | null;
}

/**
 * A job's plan never changes after the run is queued, and parsing it dominated dispatch: keep
 * the most recently read ones parsed.
 */
const plans = new Map<string, JobPlan>();
const PLAN_CACHE_SIZE = 20_000;

function cached<T>(cache: Map<string, T>, id: string, load: () => T): T {
  let value = cache.get(id);
  if (value === undefined) {
    value = load();
    if (cache.size >= PLAN_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(id, value);
  }
  return value;
}

function planOf(db: Db, id: string): JobPlan {
  return cached(plans, id, () =>
    json.parse<JobPlan>((sql(db, 'SELECT plan FROM jobs WHERE id = ?').get(id) as { plan: string }).plan),
  );
}

const runPlans = new Map<string, PipelinePlan>();

function runPlanOf(db: Db, id: string): PipelinePlan {
  return cached(runPlans, id, () =>
    json.parse<PipelinePlan>(
      (sql(db, 'SELECT plan FROM runs WHERE id = ?').get(id) as { plan: string }).plan,
    ),
  );
}

/** Every column but the plan, which is read once and then served from memory. */
const JOB_FIELDS = `id, run_id, idx, name, display_name, pool, depends_on, status, result, reason, attempt, agent_id,
  agent_name, lease_expires_at, cancel_requested, outputs, test_runs, coverage, queued_at, started_at, finished_at, secrets`;
const JOB = `SELECT ${JOB_FIELDS} FROM jobs`;
const RUN = `SELECT id, number, pipeline_file, variables, secrets, workspace_id, status, result, cancel_requested,
  build_number, tags, source, reason, untrusted, rerun_of, created_at, started_at, finished_at FROM runs`;

function toJob(db: Db, r: RawJob): JobRow {
  return {
    id: r.id,
    runId: r.run_id,
    idx: r.idx,
    name: r.name,
    displayName: r.display_name,
    plan: planOf(db, r.id),
    pool: r.pool,
    dependsOn: json.parse(r.depends_on),
    status: r.status as JobStatus,
    result: r.result as JobRow['result'],
    reason: r.reason,
    attempt: r.attempt,
    agentId: r.agent_id,
    agentName: r.agent_name,
    leaseExpiresAt: r.lease_expires_at,
    cancelRequested: r.cancel_requested === 1,
    outputs: json.parse(r.outputs),
    testRuns: json.parse(r.test_runs),
    coverage: json.parse(r.coverage),
    queuedAt: r.queued_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    secrets: r.secrets,
  };
}

const JOB_COLUMNS: Record<string, string> = {
  displayName: 'display_name',
  pool: 'pool',
  dependsOn: 'depends_on',
  status: 'status',
  result: 'result',
  reason: 'reason',
  attempt: 'attempt',
  agentId: 'agent_id',
  agentName: 'agent_name',
  leaseExpiresAt: 'lease_expires_at',
  cancelRequested: 'cancel_requested',
  outputs: 'outputs',
  testRuns: 'test_runs',
  coverage: 'coverage',
  queuedAt: 'queued_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
};
const RUN_COLUMNS: Record<string, string> = {
  status: 'status',
  result: 'result',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  cancelRequested: 'cancel_requested',
  buildNumber: 'build_number',
  tags: 'tags',
};

/** Turns a camelCase patch into `col = ?` assignments; booleans and arrays as SQLite stores them. */
function assignments(patch: Record<string, unknown>, columns: Record<string, string>): [string, unknown[]] {
  const sets: string[] = [];
  const args: unknown[] = [];
  for (const [k, v] of Object.entries(patch)) {
    const col = columns[k];
    if (!col || v === undefined) continue;
    sets.push(`${col} = ?`);
    args.push(typeof v === 'boolean' ? Number(v) : typeof v === 'object' && v !== null ? json.str(v) : v);
  }
  return [sets.join(', '), args];
}

export function createRun(
  db: Db,
  run: Omit<RunRow, 'number'>,
  jobs: JobRow[],
  build?: { revisionKey: string; render: (rev: number) => string },
): RunRow {
  return db.transaction(() => {
    const { n } = sql(db, 'SELECT COALESCE(MAX(number), 0) + 1 AS n FROM runs').get() as { n: number };
    let buildNumber = run.buildNumber;
    if (build) {
      const { same } = sql(db, 'SELECT COUNT(*) AS same FROM runs WHERE build_rev_key = ?').get(
        build.revisionKey,
      ) as {
        same: number;
      };
      buildNumber = build.render(same + 1);
    }
    sql(
      db,
      `INSERT INTO runs (id, number, pipeline_file, plan, variables, secrets, workspace_id, status, result,
         cancel_requested, created_at, started_at, finished_at, build_number, build_rev_key,
         source, reason, untrusted, rerun_of)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      run.id,
      n,
      run.pipelineFile,
      json.str(run.plan),
      json.str(run.variables),
      run.secrets,
      run.workspaceId,
      run.status,
      run.result,
      Number(run.cancelRequested),
      run.createdAt,
      run.startedAt,
      run.finishedAt,
      buildNumber,
      build?.revisionKey ?? null,
      json.str(run.source),
      run.reason,
      Number(run.untrusted),
      run.rerunOf ? json.str(run.rerunOf) : null,
    );
    const insert = sql(
      db,
      `INSERT INTO jobs (id, run_id, idx, name, display_name, plan, pool, depends_on, status, attempt, secrets)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
    );
    for (const j of jobs) {
      insert.run(
        j.id,
        run.id,
        j.idx,
        j.name,
        j.displayName,
        json.str(j.plan),
        j.pool,
        json.str(j.dependsOn),
        j.status,
        j.secrets ?? null,
      );
    }
    return { ...run, number: n, buildNumber };
  })();
}

export function getRun(db: Db, id: string): RunRow | undefined {
  const r = sql(db, `${RUN} WHERE id = ?`).get(id) as RawRun | undefined;
  return r && toRun(db, r);
}

export function getRunByNumber(db: Db, n: number): RunRow | undefined {
  const r = sql(db, `${RUN} WHERE number = ?`).get(n) as RawRun | undefined;
  return r && toRun(db, r);
}

const RUN_STATUSES: ReadonlySet<string> = new Set(['queued', 'running', 'completed']);

export function listRuns(db: Db, limit: number, filter: RunFilter = {}): RunRow[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (filter.before !== undefined) {
    where.push('number < ?');
    args.push(filter.before);
  }
  if (filter.status !== undefined) {
    where.push(RUN_STATUSES.has(filter.status) ? 'status = ?' : 'result = ?');
    args.push(filter.status);
  }
  if (filter.q !== undefined) {
    // LIKE with ESCAPE: the text is looked for as it is, `%` and `_` included.
    const like = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push(
      `(lower(pipeline_file) LIKE ? ESCAPE '\\' OR lower(COALESCE(json_extract(source, '$.repository'), '')) LIKE ? ESCAPE '\\'
        OR lower(COALESCE(json_extract(source, '$.branch'), '')) LIKE ? ESCAPE '\\' OR lower(COALESCE(build_number, '')) LIKE ? ESCAPE '\\')`,
    );
    args.push(like, like, like, like);
  }
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  return (sql(db, `${RUN} ${clause} ORDER BY number DESC LIMIT ?`).all(...args, limit) as RawRun[]).map((r) =>
    toRun(db, r),
  );
}

export function updateRun(db: Db, id: string, patch: Partial<RunRow>): void {
  const [sets, args] = assignments(patch, RUN_COLUMNS);
  if (sets) sql(db, `UPDATE runs SET ${sets} WHERE id = ?`).run(...args, id);
}

export function transitionRun(
  db: Db,
  id: string,
  from: RunStatus[],
  patch: Partial<RunRow> & { status: RunStatus },
): boolean {
  for (const f of from) {
    if (!RUN_TRANSITIONS[f].includes(patch.status)) {
      throw new ConflictError(`a run cannot move from ${f} to ${patch.status}`);
    }
  }
  const [sets, args] = assignments(patch, RUN_COLUMNS);
  const marks = from.map(() => '?').join(', ');
  return (
    sql(db, `UPDATE runs SET ${sets} WHERE id = ? AND status IN (${marks})`).run(...args, id, ...from)
      .changes === 1
  );
}

export function getJob(db: Db, id: string): JobRow | undefined {
  const r = sql(db, `${JOB} WHERE id = ?`).get(id) as RawJob | undefined;
  return r && toJob(db, r);
}

export function listJobs(db: Db, runId: string): JobRow[] {
  return (sql(db, `${JOB} WHERE run_id = ? ORDER BY idx`).all(runId) as RawJob[]).map((r) => toJob(db, r));
}

export function countRunJobs(db: Db, runId: string): Record<JobStatus, number> {
  const counts: Record<JobStatus, number> = { pending: 0, queued: 0, running: 0, completed: 0 };
  const rows = sql(db, 'SELECT status, COUNT(*) AS n FROM jobs WHERE run_id = ? GROUP BY status').all(
    runId,
  ) as {
    status: JobStatus;
    n: number;
  }[];
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

export function countJobsByStatus(db: Db): Record<JobStatus, number> {
  const counts: Record<JobStatus, number> = { pending: 0, queued: 0, running: 0, completed: 0 };
  const rows = sql(
    db,
    "SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('pending', 'queued', 'running') GROUP BY status",
  ).all() as { status: JobStatus; n: number }[];
  for (const r of rows) counts[r.status] = r.n;
  return counts;
}

export function countQueuedByDemands(db: Db): QueuedCount[] {
  const rows = sql(
    db,
    `SELECT pool, json_extract(plan, '$.pool.demands') AS demands, COUNT(*) AS n FROM jobs
     WHERE status = 'queued' AND cancel_requested = 0 GROUP BY pool, demands`,
  ).all() as { pool: string; demands: string | null; n: number }[];
  return rows.map((r) => ({ pool: r.pool, demands: r.demands ? json.parse(r.demands) : [], n: r.n }));
}

export function listRunningJobIds(db: Db, agentId: string): string[] {
  return (
    sql(db, "SELECT id FROM jobs WHERE agent_id = ? AND status = 'running'").all(agentId) as { id: string }[]
  ).map((r) => r.id);
}

export function listJobsByStatus(db: Db, status: JobStatus, pool?: string, limit = -1): JobRow[] {
  const rows = pool
    ? sql(db, `${JOB} WHERE status = ? AND pool = ? ORDER BY queued_at, idx LIMIT ?`).all(status, pool, limit)
    : sql(db, `${JOB} WHERE status = ? ORDER BY queued_at, idx LIMIT ?`).all(status, limit);
  return (rows as RawJob[]).map((r) => toJob(db, r));
}

export function listQueueHead(db: Db, pool: string, limit: number): QueuedJob[] {
  const rows = sql(
    db,
    `SELECT id, run_id, name, pool, cancel_requested FROM jobs WHERE pool = ? AND status = 'queued'
     ORDER BY queued_at, idx LIMIT ?`,
  ).all(pool, limit) as Pick<RawJob, 'id' | 'run_id' | 'name' | 'pool' | 'cancel_requested'>[];
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    name: r.name,
    pool: r.pool,
    plan: planOf(db, r.id),
    cancelRequested: r.cancel_requested === 1,
  }));
}

export function listFailedUnstartedJobs(db: Db, since: number, limit: number, pool?: string): JobRow[] {
  const rows = sql(
    db,
    `${JOB} WHERE result = 'failed' AND started_at IS NULL AND finished_at >= ?${pool === undefined ? '' : ' AND pool = ?'}
     ORDER BY finished_at DESC LIMIT ?`,
  ).all(...(pool === undefined ? [since, limit] : [since, pool, limit])) as RawJob[];
  return rows.map((r) => toJob(db, r));
}

export function transitionJob(
  db: Db,
  id: string,
  from: JobStatus[],
  patch: Partial<JobRow> & { status: JobStatus },
): boolean {
  for (const f of from) {
    if (!JOB_TRANSITIONS[f].includes(patch.status)) {
      throw new ConflictError(`a job cannot move from ${f} to ${patch.status}`);
    }
  }
  const [sets, args] = assignments(patch, JOB_COLUMNS);
  const marks = from.map(() => '?').join(', ');
  return (
    sql(db, `UPDATE jobs SET ${sets} WHERE id = ? AND status IN (${marks})`).run(...args, id, ...from)
      .changes === 1
  );
}

export function requestJobCancel(db: Db, id: string): boolean {
  return (
    sql(db, "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status != 'completed'").run(id).changes ===
    1
  );
}

export function claimJob(
  db: Db,
  id: string,
  agent: { id: string; name: string },
  leaseExpiresAt: number,
  now: number,
  writes?: ClaimWrites,
): ClaimOutcome {
  // The claim, the agent's claim count and what the attempt needs move together: the store runs
  // each call as one unit of work (a savepoint of its group commit), no transaction needed here.
  // RETURNING: the claimed row comes back with the claim, not from a second statement.
  const r = sql(
    db,
    `UPDATE jobs SET status = 'running', attempt = attempt + 1, agent_id = ?, agent_name = ?,
         lease_expires_at = ?, started_at = COALESCE(started_at, ?)
       WHERE id = ? AND status = 'queued' AND cancel_requested = 0
       RETURNING ${JOB_FIELDS}`,
  ).get(agent.id, agent.name, leaseExpiresAt, now, id) as RawJob | undefined;
  if (r) {
    sql(db, 'UPDATE agents SET claims = claims + 1 WHERE id = ?').run(agent.id);
    const job = toJob(db, r);
    if (writes) {
      const w = writes(job);
      for (const t of w.tokens) insertToken(db, t, now);
      for (const s of w.steps) upsertStep(db, s);
      if (w.announce) appendEvent(db, w.announce.runId, w.announce.event, w.announce.at);
    }
    return { ok: true, job };
  }
  return { ok: false, reason: getJob(db, id) ? 'not-queued' : 'not-found' };
}

export function renewLease(db: Db, id: string, epoch: number, leaseExpiresAt: number): boolean {
  return (
    sql(
      db,
      "UPDATE jobs SET lease_expires_at = MAX(lease_expires_at, ?) WHERE id = ? AND attempt = ? AND status = 'running'",
    ).run(leaseExpiresAt, id, epoch).changes === 1
  );
}

export function listExpiredLeases(db: Db, now: number): JobRow[] {
  return (sql(db, `${JOB} WHERE status = 'running' AND lease_expires_at < ?`).all(now) as RawJob[]).map((r) =>
    toJob(db, r),
  );
}

export function extendAllLeases(db: Db, leaseExpiresAt: number): number {
  return sql(
    db,
    "UPDATE jobs SET lease_expires_at = ? WHERE status = 'running' AND lease_expires_at < ?",
  ).run(leaseExpiresAt, leaseExpiresAt).changes;
}

interface RawStep {
  job_id: string;
  attempt: number;
  idx: number;
  name: string;
  state: string;
  result: string | null;
  reason: string | null;
  started_at: number | null;
  finished_at: number | null;
}

export function upsertStep(db: Db, s: StepRow): void {
  sql(
    db,
    `INSERT INTO steps (job_id, attempt, idx, name, state, result, reason, started_at, finished_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (job_id, attempt, idx) DO UPDATE SET name = excluded.name, state = excluded.state,
       result = excluded.result, reason = excluded.reason,
       started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at`,
  ).run(s.jobId, s.attempt, s.idx, s.name, s.state, s.result, s.reason, s.startedAt, s.finishedAt);
}

export function listSteps(db: Db, jobId: string, attempt: number): StepRow[] {
  return (
    sql(db, 'SELECT * FROM steps WHERE job_id = ? AND attempt = ? ORDER BY idx').all(
      jobId,
      attempt,
    ) as RawStep[]
  ).map(toStep);
}

export function listRunSteps(db: Db, runId: string): StepRow[] {
  return (
    sql(
      db,
      `SELECT s.* FROM steps s JOIN jobs j ON j.id = s.job_id AND s.attempt = j.attempt
       WHERE j.run_id = ? ORDER BY j.idx, s.idx`,
    ).all(runId) as RawStep[]
  ).map(toStep);
}

function toStep(r: RawStep): StepRow {
  return {
    jobId: r.job_id,
    attempt: r.attempt,
    idx: r.idx,
    name: r.name,
    state: r.state as StepRow['state'],
    result: r.result as StepRow['result'],
    reason: r.reason,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}
