import { ConflictError } from '../../shared/errors.js';
import type { PoolRow, PoolSettings } from '../types.js';
import { changes, type Db, json, one, query, rows } from './db.js';

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

export async function getPool(db: Db, name: string): Promise<PoolRow | undefined> {
  const r = await one<Raw>(db, 'SELECT * FROM pools WHERE name = $1', [name]);
  return r && toRow(r);
}

export async function createPool(
  db: Db,
  name: string,
  settings: PoolSettings,
  now: number,
): Promise<PoolRow> {
  const n = await changes(
    db,
    'INSERT INTO pools (name, settings, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [name, json.str(settings), now],
  );
  if (n === 0) throw new ConflictError(`pool '${name}' exists already`);
  return (await getPool(db, name))!;
}

export async function ensurePool(
  db: Db,
  name: string,
  settings: PoolSettings,
  now: number,
): Promise<PoolRow> {
  // One statement: two replicas ensuring the same pool at once both get it.
  await query(
    db,
    'INSERT INTO pools (name, settings, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [name, json.str(settings), now],
  );
  return (await getPool(db, name))!;
}

export async function listPools(db: Db): Promise<PoolRow[]> {
  return (await rows<Raw>(db, 'SELECT * FROM pools ORDER BY name COLLATE "C"')).map(toRow);
}

export async function updatePoolSettings(
  db: Db,
  name: string,
  settings: PoolSettings,
): Promise<PoolRow | undefined> {
  const r = await one<Raw>(db, 'UPDATE pools SET settings = $1 WHERE name = $2 RETURNING *', [
    json.str(settings),
    name,
  ]);
  return r && toRow(r);
}
