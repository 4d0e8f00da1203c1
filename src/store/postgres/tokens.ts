import type { NewToken, TokenRow } from '../types.js';
import { changes, type Db, json, one, query } from './db.js';

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

export async function insertToken(db: Db, t: NewToken, now: number): Promise<void> {
  await insertTokens(db, [t], now);
}

/** Several tokens in one statement (one round trip): a claim issues its lease and step tokens. */
export async function insertTokens(db: Db, ts: NewToken[], now: number): Promise<void> {
  if (ts.length === 0) return;
  const values = ts.map(
    (_, i) => `(${Array.from({ length: 12 }, (_, k) => `$${i * 12 + k + 1}`).join(', ')})`,
  );
  await query(
    db,
    `INSERT INTO tokens (id, kind, hash, name, scopes, pool, agent_name, agent_id, job_id, epoch, created_at, expires_at)
     VALUES ${values.join(', ')}`,
    ts.flatMap((t) => [
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
    ]),
  );
}

export async function findToken(db: Db, hash: string): Promise<TokenRow | undefined> {
  const r = await one<Raw>(db, 'SELECT * FROM tokens WHERE hash = $1', [hash]);
  return r && toRow(r);
}

export async function consumeToken(db: Db, id: string, now: number): Promise<boolean> {
  return (
    (await changes(db, 'UPDATE tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL', [now, id])) === 1
  );
}

export async function revokeTokens(
  db: Db,
  f: { id?: string; agentId?: string; jobId?: string },
  now: number,
): Promise<number> {
  const filters: [string, string | undefined][] = [
    ['id', f.id],
    ['agent_id', f.agentId],
    ['job_id', f.jobId],
  ];
  const used = filters.filter(([, v]) => v);
  if (used.length === 0) throw new Error('revokeTokens needs a filter');
  const where = used.map(([col], i) => `${col} = $${i + 2}`).join(' AND ');
  return changes(db, `UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND ${where}`, [
    now,
    ...used.map(([, v]) => v),
  ]);
}

export async function recordAssertion(db: Db, jti: string, expiresAt: number, now: number): Promise<boolean> {
  await query(db, 'DELETE FROM assertions WHERE expires_at < $1', [now]);
  return (
    (await changes(db, 'INSERT INTO assertions (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      jti,
      expiresAt,
    ])) === 1
  );
}
