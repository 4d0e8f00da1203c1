-- Which coordinator acts on a repository's webhook deliveries, and until when (as in SQLite's
-- 0010): one claim per repository keeps them acted on in order, by one replica at a time.
CREATE TABLE delivery_claims (
  repo TEXT PRIMARY KEY REFERENCES repositories (name) ON DELETE CASCADE,
  owner TEXT NOT NULL,
  claimed_until BIGINT NOT NULL
);
