import type { CacheEntryRow } from '../types.js';
import { changes, type Db, one, query, rows } from './db.js';

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

export async function insertCacheEntry(db: Db, e: CacheEntryRow): Promise<boolean> {
  return (
    (await changes(
      db,
      `INSERT INTO cache_entries (id, scope, key, size, sha256, created_at, last_used_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (scope, key) DO NOTHING`,
      [e.id, e.scope, e.key, e.size, e.sha256, e.createdAt, e.lastUsedAt],
    )) === 1
  );
}

export async function getCacheEntry(db: Db, id: string): Promise<CacheEntryRow | undefined> {
  const r = await one<Row>(db, 'SELECT * FROM cache_entries WHERE id = $1', [id]);
  return r && toEntry(r);
}

export async function findCacheEntry(db: Db, scope: string, key: string): Promise<CacheEntryRow | undefined> {
  const r = await one<Row>(db, 'SELECT * FROM cache_entries WHERE scope = $1 AND key = $2', [scope, key]);
  return r && toEntry(r);
}

export async function findCacheEntryByPrefix(
  db: Db,
  scope: string,
  prefix: string,
): Promise<CacheEntryRow | undefined> {
  // left(), not LIKE: a key may hold `%` and `_`, which LIKE would read as wildcards.
  const r = await one<Row>(
    db,
    `SELECT * FROM cache_entries WHERE scope = $1 AND left(key, char_length($2::text)) = $2::text
     ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT 1`,
    [scope, prefix],
  );
  return r && toEntry(r);
}

export async function touchCacheEntry(db: Db, id: string, now: number): Promise<void> {
  await query(db, 'UPDATE cache_entries SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2', [
    now,
    id,
  ]);
}

export async function deleteCacheEntry(db: Db, id: string): Promise<boolean> {
  return (await changes(db, 'DELETE FROM cache_entries WHERE id = $1', [id])) === 1;
}

export async function listCacheEntries(db: Db): Promise<CacheEntryRow[]> {
  return (
    await rows<Row>(
      db,
      'SELECT * FROM cache_entries ORDER BY last_used_at ASC, created_at ASC, id COLLATE "C" ASC',
    )
  ).map(toEntry);
}

export async function cacheUsage(db: Db): Promise<{ entries: number; bytes: number }> {
  const r = (await one<{ n: number; bytes: number }>(
    db,
    'SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM cache_entries',
  ))!;
  return { entries: r.n, bytes: r.bytes };
}

export async function countCacheEntriesWithSha(db: Db, sha256: string): Promise<number> {
  return (await one<{ n: number }>(db, 'SELECT count(*) AS n FROM cache_entries WHERE sha256 = $1', [
    sha256,
  ]))!.n;
}
