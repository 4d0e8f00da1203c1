import type { CacheEntryRow } from '../types.js';
import { type Db, sql } from './db.js';

interface Row {
  id: string;
  scope: string;
  key: string;
  size: number;
  sha256: string;
  created_at: number;
  last_used_at: number;
}

function toEntry(r: Row): CacheEntryRow {
  return {
    id: r.id,
    scope: r.scope,
    key: r.key,
    size: r.size,
    sha256: r.sha256,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

export function insertCacheEntry(db: Db, e: CacheEntryRow): boolean {
  const res = sql(
    db,
    `INSERT INTO cache_entries (id, scope, key, size, sha256, created_at, last_used_at)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, key) DO NOTHING`,
  ).run(e.id, e.scope, e.key, e.size, e.sha256, e.createdAt, e.lastUsedAt);
  return res.changes === 1;
}

export function getCacheEntry(db: Db, id: string): CacheEntryRow | undefined {
  const row = sql(db, 'SELECT * FROM cache_entries WHERE id = ?').get(id) as Row | undefined;
  return row && toEntry(row);
}

export function findCacheEntry(db: Db, scope: string, key: string): CacheEntryRow | undefined {
  const row = sql(db, 'SELECT * FROM cache_entries WHERE scope = ? AND key = ?').get(scope, key) as
    | Row
    | undefined;
  return row && toEntry(row);
}

export function findCacheEntryByPrefix(db: Db, scope: string, prefix: string): CacheEntryRow | undefined {
  // substr, not LIKE: a key may hold `%` and `_`, which LIKE would read as wildcards.
  const row = sql(
    db,
    `SELECT * FROM cache_entries WHERE scope = ? AND substr(key, 1, ?) = ?
     ORDER BY created_at DESC, id DESC LIMIT 1`,
  ).get(scope, prefix.length, prefix) as Row | undefined;
  return row && toEntry(row);
}

export function touchCacheEntry(db: Db, id: string, now: number): void {
  sql(db, 'UPDATE cache_entries SET last_used_at = max(last_used_at, ?) WHERE id = ?').run(now, id);
}

export function deleteCacheEntry(db: Db, id: string): boolean {
  return sql(db, 'DELETE FROM cache_entries WHERE id = ?').run(id).changes === 1;
}

export function listCacheEntries(db: Db): CacheEntryRow[] {
  const rows = sql(
    db,
    'SELECT * FROM cache_entries ORDER BY last_used_at ASC, created_at ASC, id ASC',
  ).all() as Row[];
  return rows.map(toEntry);
}

export function cacheUsage(db: Db): { entries: number; bytes: number } {
  const row = sql(db, 'SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM cache_entries').get() as {
    n: number;
    bytes: number;
  };
  return { entries: row.n, bytes: row.bytes };
}

export function countCacheEntriesWithSha(db: Db, sha256: string): number {
  return (sql(db, 'SELECT count(*) AS n FROM cache_entries WHERE sha256 = ?').get(sha256) as { n: number }).n;
}
