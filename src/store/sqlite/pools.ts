import { ConflictError } from '../../shared/errors.js';
import type { PoolRow, PoolSettings } from '../types.js';
import { type Db, json, sql } from './db.js';

interface Raw {
  name: string;
  settings: string;
  created_at: number;
}
const toRow = (r: Raw): PoolRow => ({
  name: r.name,
  settings: json.parse(r.settings),
  createdAt: r.created_at,
});

export function getPool(db: Db, name: string): PoolRow | undefined {
  const r = sql(db, 'SELECT * FROM pools WHERE name = ?').get(name) as Raw | undefined;
  return r && toRow(r);
}

export function createPool(db: Db, name: string, settings: PoolSettings, now: number): PoolRow {
  const r = sql(db, 'INSERT OR IGNORE INTO pools (name, settings, created_at) VALUES (?, ?, ?)').run(
    name,
    json.str(settings),
    now,
  );
  if (r.changes === 0) throw new ConflictError(`pool '${name}' exists already`);
  return getPool(db, name)!;
}

export function ensurePool(db: Db, name: string, settings: PoolSettings, now: number): PoolRow {
  return getPool(db, name) ?? createPool(db, name, settings, now);
}

export function listPools(db: Db): PoolRow[] {
  return (sql(db, 'SELECT * FROM pools ORDER BY name').all() as Raw[]).map(toRow);
}

export function updatePoolSettings(db: Db, name: string, settings: PoolSettings): PoolRow | undefined {
  sql(db, 'UPDATE pools SET settings = ? WHERE name = ?').run(json.str(settings), name);
  return getPool(db, name);
}
