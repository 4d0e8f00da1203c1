-- Cache entries: what a `cache` step saved, by scope (whose runs read it, see the server's
-- cache-scope.ts) and key. The archive is the blob `caches/<sha256>.tar`, shared by entries of
-- equal content; the row is what makes it visible. Keys are immutable within a scope, as in
-- Azure's Cache task; least recently used entries are evicted when the total grows too large.
CREATE TABLE cache_entries (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  UNIQUE (scope, key)
);
CREATE INDEX cache_entries_last_used ON cache_entries (last_used_at);
CREATE INDEX cache_entries_sha256 ON cache_entries (sha256);
