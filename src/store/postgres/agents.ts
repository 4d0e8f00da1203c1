import type pg from 'pg';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import type { AgentRow } from '../types.js';
import { type Db, json, one, query, rows, transaction } from './db.js';
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
  draining: boolean;
  single_job: boolean;
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
    draining: r.draining,
    singleJob: r.single_job,
    claims: r.claims,
    lastSeenAt: r.last_seen_at,
    createdAt: r.created_at,
  };
}

export async function getAgent(db: Db, id: string): Promise<AgentRow | undefined> {
  const r = await one<Raw>(db, 'SELECT * FROM agents WHERE id = $1', [id]);
  return r && toRow(r);
}

export async function findAgent(db: Db, pool: string, name: string): Promise<AgentRow | undefined> {
  const r = await one<Raw>(db, 'SELECT * FROM agents WHERE pool = $1 AND name = $2', [pool, name]);
  return r && toRow(r);
}

export async function listAgents(db: Db, pool?: string): Promise<AgentRow[]> {
  const found = pool
    ? await rows<Raw>(db, 'SELECT * FROM agents WHERE pool = $1 ORDER BY name COLLATE "C"', [pool])
    : await rows<Raw>(db, 'SELECT * FROM agents ORDER BY pool COLLATE "C", name COLLATE "C"');
  return found.map(toRow);
}

const UNIQUE_VIOLATION = '23505';

export async function registerAgent(
  pool: pg.Pool,
  a: { id: string; pool: string; name: string; publicKey: string; replace: boolean; singleJob?: boolean },
  now: number,
): Promise<AgentRow> {
  const taken = () =>
    new ConflictError(`an agent named '${a.name}' is registered in pool '${a.pool}' already (use --replace)`);
  try {
    return await transaction(pool, async (c) => {
      if (!(await one(c, 'SELECT 1 FROM pools WHERE name = $1', [a.pool]))) {
        throw new NotFoundError('pool', a.pool);
      }
      const old = await one<Raw>(c, 'SELECT * FROM agents WHERE pool = $1 AND name = $2 FOR UPDATE', [
        a.pool,
        a.name,
      ]);
      if (old) {
        if (!a.replace) throw taken();
        // The old key and every token issued to it die here, so a stolen old key is worthless.
        await revokeTokens(c, { agentId: old.id }, now);
        await query(c, 'DELETE FROM agents WHERE id = $1', [old.id]);
      }
      const r = await one<Raw>(
        c,
        `INSERT INTO agents (id, pool, name, public_key, created_at, single_job) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING *`,
        [a.id, a.pool, a.name, a.publicKey, now, a.singleJob ?? false],
      );
      return toRow(r!);
    });
  } catch (e) {
    // Two registrations of one name at once: the second finds the first's row only at insert.
    if ((e as { code?: string }).code === UNIQUE_VIOLATION) throw taken();
    throw e;
  }
}

export async function openSession(
  db: Db,
  agentId: string,
  s: { sessionId: string; capabilities: Record<string, string>; version: string; boundJobId: string | null },
  now: number,
): Promise<void> {
  await query(
    db,
    `UPDATE agents SET session_id = $1, capabilities = $2, version = $3, bound_job_id = $4, last_seen_at = $5
     WHERE id = $6`,
    [s.sessionId, json.str(s.capabilities), s.version, s.boundJobId, now, agentId],
  );
}

export async function touchAgent(db: Db, agentId: string, now: number): Promise<void> {
  await query(db, 'UPDATE agents SET last_seen_at = $1 WHERE id = $2', [now, agentId]);
}

export async function deleteAgent(pool: pg.Pool, agentId: string, now: number): Promise<boolean> {
  return transaction(pool, async (c) => {
    // Locked first: a claim by this agent (which counts on its row) waits for the delete.
    await query(c, 'SELECT 1 FROM agents WHERE id = $1 FOR UPDATE', [agentId]);
    if (await one(c, "SELECT 1 FROM jobs WHERE agent_id = $1 AND status = 'running'", [agentId]))
      return false;
    await revokeTokens(c, { agentId }, now);
    await query(c, 'DELETE FROM agents WHERE id = $1', [agentId]);
    return true;
  });
}

export async function setAgentDraining(db: Db, agentId: string, draining: boolean): Promise<void> {
  await query(db, 'UPDATE agents SET draining = $1 WHERE id = $2', [draining, agentId]);
}
