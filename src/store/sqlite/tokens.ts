import type { NewToken, TokenRow } from '../types.js';
import { type Db, json, sql } from './db.js';

interface Raw {
  id: string;
  kind: string;
  name: string;
  scopes: string;
  pool: string | null;
  agent_name: string | null;
  agent_id: string | null;
  job_id: string | null;
  epoch: number | null;
  created_at: number;
  expires_at: number | null;
  used_at: number | null;
  revoked_at: number | null;
}

function toRow(r: Raw): TokenRow {
  return {
    id: r.id,
    kind: r.kind as TokenRow['kind'],
    name: r.name,
    scopes: json.parse(r.scopes),
    pool: r.pool,
    agentName: r.agent_name,
    agentId: r.agent_id,
    jobId: r.job_id,
    epoch: r.epoch,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
    revokedAt: r.revoked_at,
  };
}

export function insertToken(db: Db, t: NewToken, now: number): void {
  sql(
    db,
    `INSERT INTO tokens (id, kind, hash, name, scopes, pool, agent_name, agent_id, job_id, epoch, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    t.id,
    t.kind,
    t.hash,
    t.name,
    json.str(t.scopes),
    t.pool,
    t.agentName,
    t.agentId,
    t.jobId,
    t.epoch,
    now,
    t.expiresAt,
  );
}

export function findToken(db: Db, hash: string): TokenRow | undefined {
  const r = sql(db, 'SELECT * FROM tokens WHERE hash = ?').get(hash) as Raw | undefined;
  return r && toRow(r);
}

export function consumeToken(db: Db, id: string, now: number): boolean {
  return sql(db, 'UPDATE tokens SET used_at = ? WHERE id = ? AND used_at IS NULL').run(now, id).changes === 1;
}

export function revokeTokens(
  db: Db,
  f: { id?: string; agentId?: string; jobId?: string },
  now: number,
): number {
  const filters: [string, string | undefined][] = [
    ['id = ?', f.id],
    ['agent_id = ?', f.agentId],
    ['job_id = ?', f.jobId],
  ];
  const where = filters.filter(([, v]) => v).map(([clause]) => clause);
  const args = [now, ...filters.map(([, v]) => v).filter((v) => v)];
  if (where.length === 0) throw new Error('revokeTokens needs a filter');
  return db
    .prepare(`UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND ${where.join(' AND ')}`)
    .run(...args).changes;
}

export function recordAssertion(db: Db, jti: string, expiresAt: number, now: number): boolean {
  sql(db, 'DELETE FROM assertions WHERE expires_at < ?').run(now);
  return (
    sql(db, 'INSERT OR IGNORE INTO assertions (jti, expires_at) VALUES (?, ?)').run(jti, expiresAt)
      .changes === 1
  );
}
