import type {
  DeliveryRow,
  RepositoryErrorRow,
  RepositoryRefRow,
  RepositoryRow,
  RepositoryRunRow,
  RepositoryRunState,
} from '../types.js';
import { type Db, json, sql } from './db.js';

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

export function insertRepository(db: Db, r: RepositoryRow): boolean {
  const res = sql(
    db,
    `INSERT OR IGNORE INTO repositories (name, url, pipeline_file, default_branch, poll_seconds, credential,
       webhook_secret, status_api, secrets, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
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
  );
  return res.changes === 1;
}

export function getRepository(db: Db, name: string): RepositoryRow | undefined {
  const r = sql(db, 'SELECT * FROM repositories WHERE name = ?').get(name) as RawRepo | undefined;
  return r && toRepo(r);
}

export function listRepositories(db: Db): RepositoryRow[] {
  return (sql(db, 'SELECT * FROM repositories ORDER BY name').all() as RawRepo[]).map(toRepo);
}

export function deleteRepository(db: Db, name: string): boolean {
  return db.transaction(() => {
    // Runs outlive their repository; only the link to it goes.
    sql(db, 'DELETE FROM repository_runs WHERE repo = ?').run(name);
    return sql(db, 'DELETE FROM repositories WHERE name = ?').run(name).changes === 1;
  })();
}

export function listRepositoryRefs(db: Db, repo: string): RepositoryRefRow[] {
  const rows = sql(db, 'SELECT ref, commit_sha, batch_pending FROM repository_refs WHERE repo = ?').all(
    repo,
  ) as { ref: string; commit_sha: string; batch_pending: string | null }[];
  return rows.map((r) => ({ ref: r.ref, commit: r.commit_sha, batchPending: r.batch_pending }));
}

export function moveRepositoryRef(
  db: Db,
  repo: string,
  ref: string,
  from: string | null,
  to: string | null,
): boolean {
  if (from === null) {
    if (to === null) return false;
    return (
      sql(db, 'INSERT OR IGNORE INTO repository_refs (repo, ref, commit_sha) VALUES (?, ?, ?)').run(
        repo,
        ref,
        to,
      ).changes === 1
    );
  }
  if (to === null) {
    return (
      sql(db, 'DELETE FROM repository_refs WHERE repo = ? AND ref = ? AND commit_sha = ?').run(
        repo,
        ref,
        from,
      ).changes === 1
    );
  }
  return (
    sql(db, 'UPDATE repository_refs SET commit_sha = ? WHERE repo = ? AND ref = ? AND commit_sha = ?').run(
      to,
      repo,
      ref,
      from,
    ).changes === 1
  );
}

export function setBatchPending(
  db: Db,
  repo: string,
  ref: string,
  from: string | null,
  to: string | null,
): boolean {
  return (
    sql(
      db,
      'UPDATE repository_refs SET batch_pending = ? WHERE repo = ? AND ref = ? AND batch_pending IS ?',
    ).run(to, repo, ref, from).changes === 1
  );
}

export function listBatchPending(db: Db): (RepositoryRefRow & { repo: string })[] {
  const rows = sql(
    db,
    'SELECT repo, ref, commit_sha, batch_pending FROM repository_refs WHERE batch_pending IS NOT NULL',
  ).all() as { repo: string; ref: string; commit_sha: string; batch_pending: string }[];
  return rows.map((r) => ({ repo: r.repo, ref: r.ref, commit: r.commit_sha, batchPending: r.batch_pending }));
}

export function recordDelivery(
  db: Db,
  d: { repo: string; forge: string; deliveryId: string; event: unknown },
  now: number,
): boolean {
  return (
    sql(
      db,
      `INSERT OR IGNORE INTO webhook_deliveries (repo, forge, delivery_id, event, received_at)
       VALUES (?, ?, ?, ?, ?)`,
    ).run(d.repo, d.forge, d.deliveryId, json.str(d.event), now).changes === 1
  );
}

export function countPendingDeliveries(db: Db, repo: string): number {
  return (
    sql(db, 'SELECT count(*) AS n FROM webhook_deliveries WHERE repo = ? AND done_at IS NULL').get(repo) as {
      n: number;
    }
  ).n;
}

export function listPendingDeliveries(db: Db, repo: string, limit: number): DeliveryRow[] {
  const rows = sql(
    db,
    `SELECT seq, repo, forge, delivery_id, event, received_at FROM webhook_deliveries
     WHERE repo = ? AND done_at IS NULL ORDER BY seq LIMIT ?`,
  ).all(repo, limit) as {
    seq: number;
    repo: string;
    forge: string;
    delivery_id: string;
    event: string;
    received_at: number;
  }[];
  return rows.map((r) => ({
    seq: r.seq,
    repo: r.repo,
    forge: r.forge,
    deliveryId: r.delivery_id,
    event: json.parse(r.event),
    receivedAt: r.received_at,
  }));
}

export function listReposWithPendingDeliveries(db: Db): string[] {
  return (
    sql(db, 'SELECT DISTINCT repo FROM webhook_deliveries WHERE done_at IS NULL').all() as { repo: string }[]
  ).map((r) => r.repo);
}

export function claimDeliveries(db: Db, repo: string, owner: string, until: number, now: number): boolean {
  return (
    sql(
      db,
      `INSERT INTO delivery_claims (repo, owner, claimed_until) VALUES (?, ?, ?)
       ON CONFLICT (repo) DO UPDATE SET owner = excluded.owner, claimed_until = excluded.claimed_until
       WHERE delivery_claims.owner = excluded.owner OR delivery_claims.claimed_until <= ?`,
    ).run(repo, owner, until, now).changes === 1
  );
}

export function releaseDeliveries(db: Db, repo: string, owner: string): void {
  sql(db, 'DELETE FROM delivery_claims WHERE repo = ? AND owner = ?').run(repo, owner);
}

export function finishDelivery(db: Db, seq: number, now: number): void {
  sql(db, 'UPDATE webhook_deliveries SET done_at = ? WHERE seq = ? AND done_at IS NULL').run(now, seq);
}

export function recordRepositoryError(
  db: Db,
  e: { repo: string; ref: string | null; commit: string | null; message: string },
  now: number,
): void {
  sql(db, 'INSERT INTO repository_errors (repo, ref, commit_sha, message, at) VALUES (?, ?, ?, ?, ?)').run(
    e.repo,
    e.ref,
    e.commit,
    e.message,
    now,
  );
}

export function listRepositoryErrors(db: Db, repo: string, limit: number): RepositoryErrorRow[] {
  const rows = sql(db, 'SELECT * FROM repository_errors WHERE repo = ? ORDER BY id DESC LIMIT ?').all(
    repo,
    limit,
  ) as {
    id: number;
    repo: string;
    ref: string | null;
    commit_sha: string | null;
    message: string;
    at: number;
  }[];
  return rows.map((r) => ({
    id: r.id,
    repo: r.repo,
    ref: r.ref,
    commit: r.commit_sha,
    message: r.message,
    at: r.at,
  }));
}

export function insertRepositoryRun(db: Db, r: RepositoryRunRow): void {
  sql(
    db,
    `INSERT INTO repository_runs (run_id, repo, kind, ref, commit_sha, pr_number, reported)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(r.runId, r.repo, r.kind, r.ref, r.commit, r.prNumber, r.reported);
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

export function listRepositoryRuns(
  db: Db,
  f: { repo: string; ref?: string; kind?: RepositoryRunRow['kind']; prNumber?: number; active?: boolean },
): RepositoryRunState[] {
  const where = ['rr.repo = ?'];
  const args: (string | number)[] = [f.repo];
  if (f.ref !== undefined) where.push('rr.ref = ?') && args.push(f.ref);
  if (f.kind !== undefined) where.push('rr.kind = ?') && args.push(f.kind);
  if (f.prNumber !== undefined) where.push('rr.pr_number = ?') && args.push(f.prNumber);
  if (f.active === true) where.push("r.status != 'completed'");
  if (f.active === false) where.push("r.status = 'completed'");
  const text = `SELECT ${REPO_RUN_COLUMNS} WHERE ${where.join(' AND ')} ORDER BY r.number DESC LIMIT 500`;
  return (db.prepare(text).all(...args) as RawRepoRun[]).map(toRepoRun);
}

export function listRepositoryRunsToReport(db: Db, limit: number): RepositoryRunState[] {
  return (
    sql(
      db,
      `SELECT ${REPO_RUN_COLUMNS} WHERE rr.reported = 'none'
         OR (rr.reported = 'pending' AND r.status = 'completed') ORDER BY r.number LIMIT ?`,
    ).all(limit) as RawRepoRun[]
  ).map(toRepoRun);
}

export function markRunReported(
  db: Db,
  runId: string,
  from: RepositoryRunRow['reported'],
  to: RepositoryRunRow['reported'],
): boolean {
  return (
    sql(db, 'UPDATE repository_runs SET reported = ? WHERE run_id = ? AND reported = ?').run(to, runId, from)
      .changes === 1
  );
}

export function getScheduleFire(
  db: Db,
  repo: string,
  schedule: string,
  branch: string,
): { lastSlot: number; lastCommit: string | null } | undefined {
  const r = sql(
    db,
    'SELECT last_slot, last_commit FROM schedule_fires WHERE repo = ? AND schedule = ? AND branch = ?',
  ).get(repo, schedule, branch) as { last_slot: number; last_commit: string | null } | undefined;
  return r && { lastSlot: r.last_slot, lastCommit: r.last_commit };
}

export function moveScheduleFire(
  db: Db,
  repo: string,
  schedule: string,
  branch: string,
  from: number | null,
  to: { slot: number; commit: string | null },
): boolean {
  if (from === null) {
    return (
      sql(
        db,
        `INSERT OR IGNORE INTO schedule_fires (repo, schedule, branch, last_slot, last_commit)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(repo, schedule, branch, to.slot, to.commit).changes === 1
    );
  }
  return (
    sql(
      db,
      `UPDATE schedule_fires SET last_slot = ?, last_commit = ?
       WHERE repo = ? AND schedule = ? AND branch = ? AND last_slot = ?`,
    ).run(to.slot, to.commit, repo, schedule, branch, from).changes === 1
  );
}
