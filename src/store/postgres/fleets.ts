import type { FleetRow } from '../types.js';
import { type Db, json, query, rows } from './db.js';

export async function upsertFleet(db: Db, f: FleetRow): Promise<void> {
  await query(
    db,
    `INSERT INTO fleets (pool, id, capabilities, last_seen_at, status) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (pool, id) DO UPDATE SET capabilities = excluded.capabilities,
       last_seen_at = excluded.last_seen_at, status = excluded.status`,
    [f.pool, f.id, json.str(f.capabilities), f.lastSeenAt, f.status ? json.str(f.status) : null],
  );
}

export async function listFleets(db: Db, pool: string, since: number): Promise<FleetRow[]> {
  const found = await rows<{
    pool: string;
    id: string;
    capabilities: string;
    last_seen_at: number;
    status: string | null;
  }>(db, 'SELECT * FROM fleets WHERE pool = $1 AND last_seen_at >= $2 ORDER BY id COLLATE "C"', [
    pool,
    since,
  ]);
  return found.map((r) => ({
    pool: r.pool,
    id: r.id,
    capabilities: json.parse(r.capabilities),
    lastSeenAt: r.last_seen_at,
    status: r.status === null ? null : json.parse(r.status),
  }));
}
