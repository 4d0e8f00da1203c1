import type { FleetRow } from '../types.js';
import { type Db, json, sql } from './db.js';

export function upsertFleet(db: Db, f: FleetRow): void {
  sql(
    db,
    `INSERT INTO fleets (pool, id, capabilities, last_seen_at, status) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (pool, id) DO UPDATE SET capabilities = excluded.capabilities,
       last_seen_at = excluded.last_seen_at, status = excluded.status`,
  ).run(f.pool, f.id, json.str(f.capabilities), f.lastSeenAt, f.status ? json.str(f.status) : null);
}

export function listFleets(db: Db, pool: string, since: number): FleetRow[] {
  const rows = sql(db, 'SELECT * FROM fleets WHERE pool = ? AND last_seen_at >= ?').all(pool, since) as {
    pool: string;
    id: string;
    capabilities: string;
    last_seen_at: number;
    status: string | null;
  }[];
  return rows.map((r) => ({
    pool: r.pool,
    id: r.id,
    capabilities: json.parse(r.capabilities),
    lastSeenAt: r.last_seen_at,
    status: r.status === null ? null : json.parse(r.status),
  }));
}
