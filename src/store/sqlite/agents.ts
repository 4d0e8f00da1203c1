import { ConflictError, NotFoundError } from '../../shared/errors.js';
import type { AgentRow } from '../types.js';
import { type Db, json, sql } from './db.js';
import { revokeTokens } from './tokens.js';

interface Raw {
  id: string;
  pool: string;
  name: string;
  public_key: string;
  capabilities: string;
  version: string | null;
  session_id: string | null;
  bound_job_id: string | null;
  draining: number;
  single_job: number;
  claims: number;
  last_seen_at: number | null;
  created_at: number;
}

function toRow(r: Raw): AgentRow {
  return {
    id: r.id,
    pool: r.pool,
    name: r.name,
    publicKey: r.public_key,
    capabilities: json.parse(r.capabilities),
    version: r.version,
    sessionId: r.session_id,
    boundJobId: r.bound_job_id,
    draining: r.draining === 1,
    singleJob: r.single_job === 1,
    claims: r.claims,
    lastSeenAt: r.last_seen_at,
    createdAt: r.created_at,
  };
}

export function getAgent(db: Db, id: string): AgentRow | undefined {
  const r = sql(db, 'SELECT * FROM agents WHERE id = ?').get(id) as Raw | undefined;
  return r && toRow(r);
}

export function findAgent(db: Db, pool: string, name: string): AgentRow | undefined {
  const r = sql(db, 'SELECT * FROM agents WHERE pool = ? AND name = ?').get(pool, name) as Raw | undefined;
  return r && toRow(r);
}

export function listAgents(db: Db, pool?: string): AgentRow[] {
  const rows = pool
    ? sql(db, 'SELECT * FROM agents WHERE pool = ? ORDER BY name').all(pool)
    : sql(db, 'SELECT * FROM agents ORDER BY pool, name').all();
  return (rows as Raw[]).map(toRow);
}

export function registerAgent(
  db: Db,
  a: { id: string; pool: string; name: string; publicKey: string; replace: boolean; singleJob?: boolean },
  now: number,
): AgentRow {
  return db.transaction(() => {
    if (!sql(db, 'SELECT 1 FROM pools WHERE name = ?').get(a.pool)) throw new NotFoundError('pool', a.pool);
    const old = findAgent(db, a.pool, a.name);
    if (old) {
      if (!a.replace) {
        throw new ConflictError(
          `an agent named '${a.name}' is registered in pool '${a.pool}' already (use --replace)`,
        );
      }
      // The old key and every token issued to it die here, so a stolen old key is worthless.
      revokeTokens(db, { agentId: old.id }, now);
      sql(db, 'DELETE FROM agents WHERE id = ?').run(old.id);
    }
    sql(
      db,
      'INSERT INTO agents (id, pool, name, public_key, created_at, single_job) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(a.id, a.pool, a.name, a.publicKey, now, Number(a.singleJob ?? false));
    return getAgent(db, a.id)!;
  })();
}

export function openSession(
  db: Db,
  agentId: string,
  s: { sessionId: string; capabilities: Record<string, string>; version: string; boundJobId: string | null },
  now: number,
): void {
  sql(
    db,
    'UPDATE agents SET session_id = ?, capabilities = ?, version = ?, bound_job_id = ?, last_seen_at = ? WHERE id = ?',
  ).run(s.sessionId, json.str(s.capabilities), s.version, s.boundJobId, now, agentId);
}

export function touchAgent(db: Db, agentId: string, now: number): void {
  sql(db, 'UPDATE agents SET last_seen_at = ? WHERE id = ?').run(now, agentId);
}

export function deleteAgent(db: Db, agentId: string, now: number): boolean {
  return db.transaction(() => {
    const busy = sql(db, "SELECT 1 FROM jobs WHERE agent_id = ? AND status = 'running'").get(agentId);
    if (busy) return false;
    revokeTokens(db, { agentId }, now);
    sql(db, 'DELETE FROM agents WHERE id = ?').run(agentId);
    return true;
  })();
}

export function setAgentDraining(db: Db, agentId: string, draining: boolean): void {
  sql(db, 'UPDATE agents SET draining = ? WHERE id = ?').run(Number(draining), agentId);
}
