-- Cache entries by scope and key; the archive is the blob caches/<sha256>.tar.
CREATE TABLE cache_entries (
  id TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  UNIQUE (scope, key)
);
CREATE INDEX cache_entries_last_used ON cache_entries (last_used_at);
CREATE INDEX cache_entries_sha256 ON cache_entries (sha256);
