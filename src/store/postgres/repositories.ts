import type pg from 'pg';
import type {
  DeliveryRow,
  RepositoryErrorRow,
  RepositoryRefRow,
  RepositoryRow,
  RepositoryRunRow,
  RepositoryRunState,
} from '../types.js';
import { changes, type Db, json, one, Params, query, rows, transaction } from './db.js';

interface RawRepo {
  name: string;
  url: string;
  pipeline_file: string;
  default_branch: string;
  poll_seconds: number | null;
  credential: string | null;
  webhook_secret: string;
  status_api: string | null;
  secrets: string | null;
  created_at: number;
}

const toRepo = (r: RawRepo): RepositoryRow => ({
  name: r.name,
  url: r.url,
  pipelineFile: r.pipeline_file,
  defaultBranch: r.default_branch,
  pollSeconds: r.poll_seconds,
  credential: r.credential,
  webhookSecret: r.webhook_secret,
  statusApi: r.status_api,
  secrets: r.secrets,
  createdAt: r.created_at,
});

export async function insertRepository(db: Db, r: RepositoryRow): Promise<boolean> {
  return (
    (await changes(
      db,
      `INSERT INTO repositories (name, url, pipeline_file, default_branch, poll_seconds, credential,
         webhook_secret, status_api, secrets, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT DO NOTHING`,
      [
        r.name,
        r.url,
        r.pipelineFile,
        r.defaultBranch,
        r.pollSeconds,
        r.credential,
        r.webhookSecret,
        r.statusApi,
        r.secrets,
        r.createdAt,
      ],
    )) === 1
  );
}

export async function getRepository(db: Db, name: string): Promise<RepositoryRow | undefined> {
  const r = await one<RawRepo>(db, 'SELECT * FROM repositories WHERE name = $1', [name]);
  return r && toRepo(r);
}

export async function listRepositories(db: Db): Promise<RepositoryRow[]> {
  return (await rows<RawRepo>(db, 'SELECT * FROM repositories ORDER BY name COLLATE "C"')).map(toRepo);
}

export async function deleteRepository(pool: pg.Pool, name: string): Promise<boolean> {
  return transaction(pool, async (c) => {
    // Runs outlive their repository; only the link to it goes.
    await query(c, 'DELETE FROM repository_runs WHERE repo = $1', [name]);
    return (await changes(c, 'DELETE FROM repositories WHERE name = $1', [name])) === 1;
  });
}

export async function listRepositoryRefs(db: Db, repo: string): Promise<RepositoryRefRow[]> {
  const found = await rows<{ ref: string; commit_sha: string; batch_pending: string | null }>(
    db,
    'SELECT ref, commit_sha, batch_pending FROM repository_refs WHERE repo = $1 ORDER BY ref COLLATE "C"',
    [repo],
  );
  return found.map((r) => ({ ref: r.ref, commit: r.commit_sha, batchPending: r.batch_pending }));
}

export async function moveRepositoryRef(
  db: Db,
  repo: string,
  ref: string,
  from: string | null,
  to: string | null,
): Promise<boolean> {
  if (from === null) {
    if (to === null) return false;
    return (
      (await changes(
        db,
        'INSERT INTO repository_refs (repo, ref, commit_sha) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [repo, ref, to],
      )) === 1
    );
  }
  if (to === null) {
    return (
      (await changes(db, 'DELETE FROM repository_refs WHERE repo = $1 AND ref = $2 AND commit_sha = $3', [
        repo,
        ref,
        from,
      ])) === 1
    );
  }
  return (
    (await changes(
      db,
      'UPDATE repository_refs SET commit_sha = $1 WHERE repo = $2 AND ref = $3 AND commit_sha = $4',
      [to, repo, ref, from],
    )) === 1
  );
}

export async function setBatchPending(
  db: Db,
  repo: string,
  ref: string,
  from: string | null,
  to: string | null,
): Promise<boolean> {
  return (
    (await changes(
      db,
      'UPDATE repository_refs SET batch_pending = $1 WHERE repo = $2 AND ref = $3 AND batch_pending IS NOT DISTINCT FROM $4',
      [to, repo, ref, from],
    )) === 1
  );
}

export async function listBatchPending(db: Db): Promise<(RepositoryRefRow & { repo: string })[]> {
  const found = await rows<{ repo: string; ref: string; commit_sha: string; batch_pending: string }>(
    db,
    `SELECT repo, ref, commit_sha, batch_pending FROM repository_refs WHERE batch_pending IS NOT NULL
     ORDER BY repo COLLATE "C", ref COLLATE "C"`,
  );
  return found.map((r) => ({
    repo: r.repo,
    ref: r.ref,
    commit: r.commit_sha,
    batchPending: r.batch_pending,
  }));
}

export async function recordDelivery(
  db: Db,
  d: { repo: string; forge: string; deliveryId: string; event: unknown },
  now: number,
): Promise<boolean> {
  return (
    (await changes(
      db,
      `INSERT INTO webhook_deliveries (repo, forge, delivery_id, event, received_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [d.repo, d.forge, d.deliveryId, json.str(d.event), now],
    )) === 1
  );
}

export async function countPendingDeliveries(db: Db, repo: string): Promise<number> {
  return (await one<{ n: number }>(
    db,
    'SELECT count(*) AS n FROM webhook_deliveries WHERE repo = $1 AND done_at IS NULL',
    [repo],
  ))!.n;
}

export async function listPendingDeliveries(db: Db, repo: string, limit: number): Promise<DeliveryRow[]> {
  const found = await rows<{
    seq: number;
    repo: string;
    forge: string;
    delivery_id: string;
    event: string;
    received_at: number;
  }>(
    db,
    `SELECT seq, repo, forge, delivery_id, event, received_at FROM webhook_deliveries
     WHERE repo = $1 AND done_at IS NULL ORDER BY seq LIMIT $2`,
    [repo, limit],
  );
  return found.map((r) => ({
    seq: r.seq,
    repo: r.repo,
    forge: r.forge,
    deliveryId: r.delivery_id,
    event: json.parse(r.event),
    receivedAt: r.received_at,
  }));
}

export async function listReposWithPendingDeliveries(db: Db): Promise<string[]> {
  return (
    await rows<{ repo: string }>(
      db,
      'SELECT repo FROM webhook_deliveries WHERE done_at IS NULL GROUP BY repo ORDER BY repo COLLATE "C"',
    )
  ).map((r) => r.repo);
}

/** The row is locked by the upsert: of owners racing, one inserts or updates, the others change nothing. */
export async function claimDeliveries(
  db: Db,
  repo: string,
  owner: string,
  until: number,
  now: number,
): Promise<boolean> {
  return (
    (await changes(
      db,
      `INSERT INTO delivery_claims (repo, owner, claimed_until) VALUES ($1, $2, $3)
       ON CONFLICT (repo) DO UPDATE SET owner = excluded.owner, claimed_until = excluded.claimed_until
       WHERE delivery_claims.owner = excluded.owner OR delivery_claims.claimed_until <= $4`,
      [repo, owner, until, now],
    )) === 1
  );
}

export async function releaseDeliveries(db: Db, repo: string, owner: string): Promise<void> {
  await query(db, 'DELETE FROM delivery_claims WHERE repo = $1 AND owner = $2', [repo, owner]);
}

export async function finishDelivery(db: Db, seq: number, now: number): Promise<void> {
  await query(db, 'UPDATE webhook_deliveries SET done_at = $1 WHERE seq = $2 AND done_at IS NULL', [
    now,
    seq,
  ]);
}

export async function recordRepositoryError(
  db: Db,
  e: { repo: string; ref: string | null; commit: string | null; message: string },
  now: number,
): Promise<void> {
  await query(
    db,
    'INSERT INTO repository_errors (repo, ref, commit_sha, message, at) VALUES ($1, $2, $3, $4, $5)',
    [e.repo, e.ref, e.commit, e.message, now],
  );
}

export async function listRepositoryErrors(
  db: Db,
  repo: string,
  limit: number,
): Promise<RepositoryErrorRow[]> {
  const found = await rows<{
    id: number;
    repo: string;
    ref: string | null;
    commit_sha: string | null;
    message: string;
    at: number;
  }>(db, 'SELECT * FROM repository_errors WHERE repo = $1 ORDER BY id DESC LIMIT $2', [repo, limit]);
  return found.map((r) => ({
    id: r.id,
    repo: r.repo,
    ref: r.ref,
    commit: r.commit_sha,
    message: r.message,
    at: r.at,
  }));
}

export async function insertRepositoryRun(db: Db, r: RepositoryRunRow): Promise<void> {
  await query(
    db,
    `INSERT INTO repository_runs (run_id, repo, kind, ref, commit_sha, pr_number, reported)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [r.runId, r.repo, r.kind, r.ref, r.commit, r.prNumber, r.reported],
  );
}

interface RawRepoRun {
  run_id: string;
  repo: string;
  kind: string;
  ref: string;
  commit_sha: string;
  pr_number: number | null;
  reported: string;
  number: number;
  status: string;
  result: string | null;
}

const toRepoRun = (r: RawRepoRun): RepositoryRunState => ({
  runId: r.run_id,
  repo: r.repo,
  kind: r.kind as RepositoryRunRow['kind'],
  ref: r.ref,
  commit: r.commit_sha,
  prNumber: r.pr_number,
  reported: r.reported as RepositoryRunRow['reported'],
  number: r.number,
  status: r.status as RepositoryRunState['status'],
  result: r.result as RepositoryRunState['result'],
});

const REPO_RUN_COLUMNS = `rr.run_id, rr.repo, rr.kind, rr.ref, rr.commit_sha, rr.pr_number, rr.reported,
  r.number, r.status, r.result FROM repository_runs rr JOIN runs r ON r.id = rr.run_id`;

export async function listRepositoryRuns(
  db: Db,
  f: { repo: string; ref?: string; kind?: RepositoryRunRow['kind']; prNumber?: number; active?: boolean },
): Promise<RepositoryRunState[]> {
  const p = new Params();
  const where = [`rr.repo = ${p.add(f.repo)}`];
  if (f.ref !== undefined) where.push(`rr.ref = ${p.add(f.ref)}`);
  if (f.kind !== undefined) where.push(`rr.kind = ${p.add(f.kind)}`);
  if (f.prNumber !== undefined) where.push(`rr.pr_number = ${p.add(f.prNumber)}`);
  if (f.active === true) where.push("r.status != 'completed'");
  if (f.active === false) where.push("r.status = 'completed'");
  const text = `SELECT ${REPO_RUN_COLUMNS} WHERE ${where.join(' AND ')} ORDER BY r.number DESC LIMIT 500`;
  return (await rows<RawRepoRun>(db, text, p.values)).map(toRepoRun);
}

export async function listRepositoryRunsToReport(db: Db, limit: number): Promise<RepositoryRunState[]> {
  return (
    await rows<RawRepoRun>(
      db,
      `SELECT ${REPO_RUN_COLUMNS} WHERE rr.reported = 'none'
         OR (rr.reported = 'pending' AND r.status = 'completed') ORDER BY r.number LIMIT $1`,
      [limit],
    )
  ).map(toRepoRun);
}

export async function markRunReported(
  db: Db,
  runId: string,
  from: RepositoryRunRow['reported'],
  to: RepositoryRunRow['reported'],
): Promise<boolean> {
  return (
    (await changes(db, 'UPDATE repository_runs SET reported = $1 WHERE run_id = $2 AND reported = $3', [
      to,
      runId,
      from,
    ])) === 1
  );
}

export async function getScheduleFire(
  db: Db,
  repo: string,
  schedule: string,
  branch: string,
): Promise<{ lastSlot: number; lastCommit: string | null } | undefined> {
  const r = await one<{ last_slot: number; last_commit: string | null }>(
    db,
    'SELECT last_slot, last_commit FROM schedule_fires WHERE repo = $1 AND schedule = $2 AND branch = $3',
    [repo, schedule, branch],
  );
  return r && { lastSlot: r.last_slot, lastCommit: r.last_commit };
}

export async function moveScheduleFire(
  db: Db,
  repo: string,
  schedule: string,
  branch: string,
  from: number | null,
  to: { slot: number; commit: string | null },
): Promise<boolean> {
  if (from === null) {
    return (
      (await changes(
        db,
        `INSERT INTO schedule_fires (repo, schedule, branch, last_slot, last_commit)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [repo, schedule, branch, to.slot, to.commit],
      )) === 1
    );
  }
  return (
    (await changes(
      db,
      `UPDATE schedule_fires SET last_slot = $1, last_commit = $2
       WHERE repo = $3 AND schedule = $4 AND branch = $5 AND last_slot = $6`,
      [to.slot, to.commit, repo, schedule, branch, from],
    )) === 1
  );
}
