import type pg from 'pg';
import type { JobPlan } from '../../pipeline/index.js';
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
import { changes, type Db, json, one, Params, query, rows, transaction } from './db.js';
import { insertEvent } from './events.js';
import { insertTokens } from './tokens.js';

interface RawRun {
  id: string;
  number: number;
  pipeline_file: string;
  plan: string;
  variables: string;
  secrets: string | null;
  workspace_id: string | null;
  status: string;
  result: string | null;
  cancel_requested: boolean;
  build_number: string | null;
  tags: string;
  source: string;
  reason: string;
  untrusted: boolean;
  rerun_of: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

function toRun(r: RawRun): RunRow {
  return {
    id: r.id,
    number: r.number,
    pipelineFile: r.pipeline_file,
    plan: json.parse(r.plan),
    variables: json.parse(r.variables),
    secrets: r.secrets,
    workspaceId: r.workspace_id,
    status: r.status as RunRow['status'],
    result: r.result as RunRow['result'],
    cancelRequested: r.cancel_requested,
    buildNumber: r.build_number,
    tags: json.parse(r.tags),
    source: json.parse(r.source),
    reason: r.reason as RunRow['reason'],
    untrusted: r.untrusted,
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
  plan: string;
  pool: string;
  depends_on: string;
  status: string;
  result: string | null;
  reason: string | null;
  attempt: number;
  agent_id: string | null;
  agent_name: string | null;
  lease_expires_at: number | null;
  cancel_requested: boolean;
  outputs: string;
  test_runs: string;
  coverage: string;
  queued_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  secrets: string | null;
}

const JOB_COLS = `id, run_id, idx, name, display_name, plan, pool, depends_on, status, result, reason, attempt,
  agent_id, agent_name, lease_expires_at, cancel_requested, outputs, test_runs, coverage, queued_at, started_at, finished_at, secrets`;
const JOB = `SELECT ${JOB_COLS} FROM jobs`;
const RUN = `SELECT id, number, pipeline_file, plan, variables, secrets, workspace_id, status, result, cancel_requested,
  build_number, tags, source, reason, untrusted, rerun_of, created_at, started_at, finished_at FROM runs`;

function toJob(r: RawJob): JobRow {
  return {
    id: r.id,
    runId: r.run_id,
    idx: r.idx,
    name: r.name,
    displayName: r.display_name,
    plan: json.parse(r.plan),
    pool: r.pool,
    dependsOn: json.parse(r.depends_on),
    status: r.status as JobStatus,
    result: r.result as JobRow['result'],
    reason: r.reason,
    attempt: r.attempt,
    agentId: r.agent_id,
    agentName: r.agent_name,
    leaseExpiresAt: r.lease_expires_at,
    cancelRequested: r.cancel_requested,
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

/** Turns a camelCase patch into `col = $n` assignments; objects and arrays as JSON text. */
function assignments(patch: Record<string, unknown>, columns: Record<string, string>, p: Params): string {
  const sets: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    const col = columns[k];
    if (!col || v === undefined) continue;
    sets.push(`${col} = ${p.add(typeof v === 'object' && v !== null ? json.str(v) : v)}`);
  }
  return sets.join(', ');
}

export async function createRun(
  pool: pg.Pool,
  run: Omit<RunRow, 'number'>,
  jobs: JobRow[],
  build?: { revisionKey: string; render: (rev: number) => string },
): Promise<RunRow> {
  return transaction(pool, async (c) => {
    let buildNumber = run.buildNumber;
    // Revision keys join their parts with NUL, which TEXT cannot hold: kept JSON-quoted (one
    // key, one text, and no NUL).
    const revisionKey = build ? json.str(build.revisionKey) : null;
    if (build) {
      // Runs of one revision key take turns until commit, so two never get the same revision.
      await query(c, 'SELECT pg_advisory_xact_lock(2, hashtext($1))', [revisionKey]);
      const { same } = (await one<{ same: number }>(
        c,
        'SELECT COUNT(*) AS same FROM runs WHERE build_rev_key = $1',
        [revisionKey],
      ))!;
      buildNumber = build.render(same + 1);
    }
    const { number } = (await one<{ number: number }>(
      c,
      `INSERT INTO runs (id, number, pipeline_file, plan, variables, secrets, workspace_id, status, result,
         cancel_requested, created_at, started_at, finished_at, build_number, build_rev_key,
         source, reason, untrusted, rerun_of)
       VALUES ($1, nextval('run_numbers'), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
       RETURNING number`,
      [
        run.id,
        run.pipelineFile,
        json.str(run.plan),
        json.str(run.variables),
        run.secrets,
        run.workspaceId,
        run.status,
        run.result,
        run.cancelRequested,
        run.createdAt,
        run.startedAt,
        run.finishedAt,
        buildNumber,
        revisionKey,
        json.str(run.source),
        run.reason,
        run.untrusted,
        run.rerunOf ? json.str(run.rerunOf) : null,
      ],
    ))!;
    if (jobs.length > 0) {
      // One statement for every job of the run.
      const p = new Params();
      const values = jobs.map(
        (j) =>
          `(${p.list([
            j.id,
            run.id,
            j.idx,
            j.name,
            j.displayName,
            json.str(j.plan),
            j.pool,
            json.str(j.dependsOn),
            j.status,
          ])}, 0, ${p.add(j.secrets ?? null)})`,
      );
      await query(
        c,
        `INSERT INTO jobs (id, run_id, idx, name, display_name, plan, pool, depends_on, status, attempt, secrets)
         VALUES ${values.join(', ')}`,
        p.values,
      );
    }
    return { ...run, number, buildNumber };
  });
}

export async function getRun(db: Db, id: string): Promise<RunRow | undefined> {
  const r = await one<RawRun>(db, `${RUN} WHERE id = $1`, [id]);
  return r && toRun(r);
}

export async function getRunByNumber(db: Db, n: number): Promise<RunRow | undefined> {
  const r = await one<RawRun>(db, `${RUN} WHERE number = $1`, [n]);
  return r && toRun(r);
}

const RUN_STATUSES: ReadonlySet<string> = new Set(['queued', 'running', 'completed']);

export async function listRuns(db: Db, limit: number, filter: RunFilter = {}): Promise<RunRow[]> {
  const where: string[] = [];
  const p = new Params();
  if (filter.before !== undefined) where.push(`number < ${p.add(filter.before)}`);
  if (filter.status !== undefined) {
    where.push(`${RUN_STATUSES.has(filter.status) ? 'status' : 'result'} = ${p.add(filter.status)}`);
  }
  if (filter.q !== undefined) {
    // LIKE with ESCAPE: the text is looked for as it is, `%` and `_` included.
    const like = p.add(`%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(
      `(lower(pipeline_file) LIKE ${like} ESCAPE '\\'
        OR lower(COALESCE(source::jsonb ->> 'repository', '')) LIKE ${like} ESCAPE '\\'
        OR lower(COALESCE(source::jsonb ->> 'branch', '')) LIKE ${like} ESCAPE '\\'
        OR lower(COALESCE(build_number, '')) LIKE ${like} ESCAPE '\\')`,
    );
  }
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  return (
    await rows<RawRun>(db, `${RUN} ${clause} ORDER BY number DESC LIMIT ${p.add(limit)}`, p.values)
  ).map(toRun);
}

export async function updateRun(db: Db, id: string, patch: Partial<RunRow>): Promise<void> {
  const p = new Params();
  const sets = assignments(patch, RUN_COLUMNS, p);
  if (sets) await query(db, `UPDATE runs SET ${sets} WHERE id = ${p.add(id)}`, p.values);
}

export async function transitionRun(
  db: Db,
  id: string,
  from: RunStatus[],
  patch: Partial<RunRow> & { status: RunStatus },
): Promise<boolean> {
  for (const f of from) {
    if (!RUN_TRANSITIONS[f].includes(patch.status)) {
      throw new ConflictError(`a run cannot move from ${f} to ${patch.status}`);
    }
  }
  const p = new Params();
  const sets = assignments(patch, RUN_COLUMNS, p);
  // One statement: its WHERE is re-checked on the locked row, so one mover of many wins.
  return (
    (await changes(
      db,
      `UPDATE runs SET ${sets} WHERE id = ${p.add(id)} AND status IN (${p.list(from)})`,
      p.values,
    )) === 1
  );
}

export async function getJob(db: Db, id: string): Promise<JobRow | undefined> {
  const r = await one<RawJob>(db, `${JOB} WHERE id = $1`, [id]);
  return r && toJob(r);
}

export async function listJobs(db: Db, runId: string): Promise<JobRow[]> {
  return (await rows<RawJob>(db, `${JOB} WHERE run_id = $1 ORDER BY idx`, [runId])).map(toJob);
}

export async function countRunJobs(db: Db, runId: string): Promise<Record<JobStatus, number>> {
  const counts: Record<JobStatus, number> = { pending: 0, queued: 0, running: 0, completed: 0 };
  const found = await rows<{ status: JobStatus; n: number }>(
    db,
    'SELECT status, COUNT(*) AS n FROM jobs WHERE run_id = $1 GROUP BY status',
    [runId],
  );
  for (const r of found) counts[r.status] = r.n;
  return counts;
}

export async function countJobsByStatus(db: Db): Promise<Record<JobStatus, number>> {
  const counts: Record<JobStatus, number> = { pending: 0, queued: 0, running: 0, completed: 0 };
  const found = await rows<{ status: JobStatus; n: string }>(
    db,
    "SELECT status, COUNT(*) AS n FROM jobs WHERE status IN ('pending', 'queued', 'running') GROUP BY status",
    [],
  );
  for (const r of found) counts[r.status] = Number(r.n);
  return counts;
}

export async function countQueuedByDemands(db: Db): Promise<QueuedCount[]> {
  const found = await rows<{ pool: string; demands: string | null; n: string }>(
    db,
    `SELECT pool, (plan::jsonb -> 'pool' -> 'demands')::text AS demands, COUNT(*) AS n FROM jobs
     WHERE status = 'queued' AND NOT cancel_requested GROUP BY pool, demands`,
    [],
  );
  return found.map((r) => ({
    pool: r.pool,
    demands: r.demands ? json.parse(r.demands) : [],
    n: Number(r.n),
  }));
}

export async function listRunningJobIds(db: Db, agentId: string): Promise<string[]> {
  const found = await rows<{ id: string }>(
    db,
    "SELECT id FROM jobs WHERE agent_id = $1 AND status = 'running'",
    [agentId],
  );
  return found.map((r) => r.id);
}

/**
 * A job's plan never changes once its run is queued: the dispatcher's passes parse each once.
 * Bounded; the oldest entries go first.
 */
const queuedPlans = new Map<string, JobPlan>();
const PLAN_CACHE_SIZE = 20_000;

export async function listQueueHead(db: Db, pool: string, limit: number): Promise<QueuedJob[]> {
  const found = await rows<Pick<RawJob, 'id' | 'run_id' | 'name' | 'pool' | 'cancel_requested'>>(
    db,
    `SELECT id, run_id, name, pool, cancel_requested FROM jobs WHERE pool = $1 AND status = 'queued'
     ORDER BY queued_at NULLS FIRST, idx, id LIMIT $2`,
    [pool, limit],
  );
  const missing = found.filter((r) => !queuedPlans.has(r.id)).map((r) => r.id);
  if (missing.length > 0) {
    for (const r of await rows<{ id: string; plan: string }>(
      db,
      'SELECT id, plan FROM jobs WHERE id = ANY($1)',
      [missing],
    )) {
      if (queuedPlans.size >= PLAN_CACHE_SIZE) queuedPlans.delete(queuedPlans.keys().next().value!);
      queuedPlans.set(r.id, json.parse(r.plan));
    }
  }
  return found.flatMap((r) => {
    const plan = queuedPlans.get(r.id);
    return plan
      ? [{ id: r.id, runId: r.run_id, name: r.name, pool: r.pool, plan, cancelRequested: r.cancel_requested }]
      : [];
  });
}

export async function listJobsByStatus(
  db: Db,
  status: JobStatus,
  pool?: string,
  limit?: number,
): Promise<JobRow[]> {
  // LIMIT NULL is no limit.
  const found = pool
    ? await rows<RawJob>(
        db,
        `${JOB} WHERE status = $1 AND pool = $2 ORDER BY queued_at NULLS FIRST, idx, id LIMIT $3`,
        [status, pool, limit ?? null],
      )
    : await rows<RawJob>(db, `${JOB} WHERE status = $1 ORDER BY queued_at NULLS FIRST, idx, id LIMIT $2`, [
        status,
        limit ?? null,
      ]);
  return found.map(toJob);
}

export async function listFailedUnstartedJobs(
  db: Db,
  since: number,
  limit: number,
  pool?: string,
): Promise<JobRow[]> {
  const found =
    pool === undefined
      ? await rows<RawJob>(
          db,
          `${JOB} WHERE result = 'failed' AND started_at IS NULL AND finished_at >= $1
           ORDER BY finished_at DESC LIMIT $2`,
          [since, limit],
        )
      : await rows<RawJob>(
          db,
          `${JOB} WHERE result = 'failed' AND started_at IS NULL AND finished_at >= $1 AND pool = $2
           ORDER BY finished_at DESC LIMIT $3`,
          [since, pool, limit],
        );
  return found.map(toJob);
}

export async function transitionJob(
  db: Db,
  id: string,
  from: JobStatus[],
  patch: Partial<JobRow> & { status: JobStatus },
): Promise<boolean> {
  for (const f of from) {
    if (!JOB_TRANSITIONS[f].includes(patch.status)) {
      throw new ConflictError(`a job cannot move from ${f} to ${patch.status}`);
    }
  }
  const p = new Params();
  const sets = assignments(patch, JOB_COLUMNS, p);
  return (
    (await changes(
      db,
      `UPDATE jobs SET ${sets} WHERE id = ${p.add(id)} AND status IN (${p.list(from)})`,
      p.values,
    )) === 1
  );
}

export async function requestJobCancel(db: Db, id: string): Promise<boolean> {
  return (
    (await changes(db, "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND status != 'completed'", [
      id,
    ])) === 1
  );
}

/**
 * Compare-and-set in one UPDATE: PostgreSQL re-checks `status = 'queued'` on the row after
 * waiting for a concurrent claimant's lock, so exactly one of any number of connections wins.
 */
export async function claimJob(
  pool: pg.Pool,
  id: string,
  agent: { id: string; name: string },
  leaseExpiresAt: number,
  now: number,
  writes?: ClaimWrites,
): Promise<ClaimOutcome> {
  // One transaction, one commit: the claim and what its attempt needs, or nothing.
  return transaction(pool, async (c): Promise<ClaimOutcome> => {
    const won = await one<RawJob>(
      c,
      `UPDATE jobs SET status = 'running', attempt = attempt + 1, agent_id = $1, agent_name = $2,
         lease_expires_at = $3, started_at = COALESCE(started_at, $4)
       WHERE id = $5 AND status = 'queued' AND NOT cancel_requested
       RETURNING ${JOB_COLS}`,
      [agent.id, agent.name, leaseExpiresAt, now, id],
    );
    if (won) {
      await query(c, 'UPDATE agents SET claims = claims + 1 WHERE id = $1', [agent.id]);
      const job = toJob(won);
      if (writes) {
        const w = writes(job);
        await insertTokens(c, w.tokens, now);
        if (w.steps.length > 0) await upsertSteps(c, w.steps);
        if (w.announce) await insertEvent(c, w.announce.runId, w.announce.event, w.announce.at);
      }
      return { ok: true, job };
    }
    return {
      ok: false,
      reason: (await one(c, 'SELECT 1 FROM jobs WHERE id = $1', [id])) ? 'not-queued' : 'not-found',
    };
  });
}

export async function renewLease(
  db: Db,
  id: string,
  epoch: number,
  leaseExpiresAt: number,
): Promise<boolean> {
  return (
    (await changes(
      db,
      `UPDATE jobs SET lease_expires_at = GREATEST(lease_expires_at, $1)
       WHERE id = $2 AND attempt = $3 AND status = 'running'`,
      [leaseExpiresAt, id, epoch],
    )) === 1
  );
}

export async function listExpiredLeases(db: Db, now: number): Promise<JobRow[]> {
  return (await rows<RawJob>(db, `${JOB} WHERE status = 'running' AND lease_expires_at < $1`, [now])).map(
    toJob,
  );
}

export async function extendAllLeases(db: Db, leaseExpiresAt: number): Promise<number> {
  return changes(
    db,
    "UPDATE jobs SET lease_expires_at = $1 WHERE status = 'running' AND lease_expires_at < $1",
    [leaseExpiresAt],
  );
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

/** Several steps in one statement (one round trip): a claim writes all of its attempt's at once. */
async function upsertSteps(db: Db, steps: StepRow[]): Promise<void> {
  const values = steps.map(
    (_, i) => `(${Array.from({ length: 9 }, (_, k) => `$${i * 9 + k + 1}`).join(', ')})`,
  );
  await query(
    db,
    `INSERT INTO steps (job_id, attempt, idx, name, state, result, reason, started_at, finished_at)
     VALUES ${values.join(', ')}
     ON CONFLICT (job_id, attempt, idx) DO UPDATE SET name = excluded.name, state = excluded.state,
       result = excluded.result, reason = excluded.reason,
       started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at`,
    steps.flatMap((s) => [
      s.jobId,
      s.attempt,
      s.idx,
      s.name,
      s.state,
      s.result,
      s.reason,
      s.startedAt,
      s.finishedAt,
    ]),
  );
}

export async function upsertStep(db: Db, s: StepRow): Promise<void> {
  await query(
    db,
    `INSERT INTO steps (job_id, attempt, idx, name, state, result, reason, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (job_id, attempt, idx) DO UPDATE SET name = excluded.name, state = excluded.state,
       result = excluded.result, reason = excluded.reason,
       started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at`,
    [s.jobId, s.attempt, s.idx, s.name, s.state, s.result, s.reason, s.startedAt, s.finishedAt],
  );
}

export async function listSteps(db: Db, jobId: string, attempt: number): Promise<StepRow[]> {
  return (
    await rows<RawStep>(db, 'SELECT * FROM steps WHERE job_id = $1 AND attempt = $2 ORDER BY idx', [
      jobId,
      attempt,
    ])
  ).map(toStep);
}

export async function listRunSteps(db: Db, runId: string): Promise<StepRow[]> {
  return (
    await rows<RawStep>(
      db,
      `SELECT s.* FROM steps s JOIN jobs j ON j.id = s.job_id AND s.attempt = j.attempt
       WHERE j.run_id = $1 ORDER BY j.idx, s.idx`,
      [runId],
    )
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
