-- The PostgreSQL twin of the SQLite migration of the same number (one file per version in each
-- folder, so a change adds one to each). Epoch milliseconds are BIGINT, flags BOOLEAN, JSON TEXT
-- (kept as written: NUL escapes and key order survive, as in SQLite).

-- Credentials of every kind. Only the SHA-256 of a token is kept: a leaked database leaks no token.
CREATE TABLE tokens (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  hash        TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  scopes      TEXT NOT NULL,
  pool        TEXT,
  agent_name  TEXT,
  agent_id    TEXT,
  job_id      TEXT,
  epoch       BIGINT,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT,
  used_at     BIGINT,
  revoked_at  BIGINT
);
CREATE INDEX tokens_job ON tokens(job_id);
CREATE INDEX tokens_agent ON tokens(agent_id);

CREATE TABLE pools (
  name        TEXT PRIMARY KEY,
  settings    TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);

CREATE TABLE agents (
  id            TEXT PRIMARY KEY,
  pool          TEXT NOT NULL REFERENCES pools(name),
  name          TEXT NOT NULL,
  public_key    TEXT NOT NULL,
  capabilities  TEXT NOT NULL DEFAULT '{}',
  version       TEXT,
  session_id    TEXT,
  bound_job_id  TEXT,
  draining      BOOLEAN NOT NULL DEFAULT FALSE,
  last_seen_at  BIGINT,
  created_at    BIGINT NOT NULL,
  UNIQUE (pool, name)
);

CREATE TABLE assertions (
  jti         TEXT PRIMARY KEY,
  expires_at  BIGINT NOT NULL
);

CREATE TABLE workspaces (
  id          TEXT PRIMARY KEY,
  size        BIGINT NOT NULL,
  created_at  BIGINT NOT NULL
);

-- Run numbers come from a sequence: unique across connections and replicas without a lock;
-- a rolled-back creation leaves a gap, which nothing minds.
CREATE SEQUENCE run_numbers;
CREATE TABLE runs (
  id                TEXT PRIMARY KEY,
  number            BIGINT NOT NULL UNIQUE,
  pipeline_file     TEXT NOT NULL,
  plan              TEXT NOT NULL,
  variables         TEXT NOT NULL,
  secrets           TEXT,
  workspace_id      TEXT,
  status            TEXT NOT NULL,
  result            TEXT,
  cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
  created_at        BIGINT NOT NULL,
  started_at        BIGINT,
  finished_at       BIGINT
);
ALTER SEQUENCE run_numbers OWNED BY runs.number;

CREATE TABLE jobs (
  id                TEXT PRIMARY KEY,
  run_id            TEXT NOT NULL REFERENCES runs(id),
  idx               INTEGER NOT NULL,
  name              TEXT NOT NULL,
  display_name      TEXT NOT NULL,
  plan              TEXT NOT NULL,
  pool              TEXT NOT NULL,
  depends_on        TEXT NOT NULL,
  status            TEXT NOT NULL,
  result            TEXT,
  reason            TEXT,
  attempt           INTEGER NOT NULL DEFAULT 0,
  agent_id          TEXT,
  agent_name        TEXT,
  lease_expires_at  BIGINT,
  cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
  queued_at         BIGINT,
  started_at        BIGINT,
  finished_at       BIGINT
);
CREATE INDEX jobs_queue ON jobs(pool, status, queued_at, idx);
CREATE INDEX jobs_status ON jobs(status, queued_at, idx);
CREATE INDEX jobs_run ON jobs(run_id, idx);
CREATE INDEX jobs_run_status ON jobs(run_id, status);
CREATE INDEX jobs_lease ON jobs(status, lease_expires_at);

CREATE TABLE steps (
  job_id       TEXT NOT NULL,
  attempt      INTEGER NOT NULL,
  idx          INTEGER NOT NULL,
  name         TEXT NOT NULL,
  state        TEXT NOT NULL,
  result       TEXT,
  reason       TEXT,
  started_at   BIGINT,
  finished_at  BIGINT,
  PRIMARY KEY (job_id, attempt, idx)
);

CREATE TABLE log_streams (
  job_id   TEXT NOT NULL,
  attempt  INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  length   BIGINT NOT NULL,
  PRIMARY KEY (job_id, attempt, step)
);

CREATE TABLE run_events (
  run_id    TEXT NOT NULL,
  seq       BIGINT NOT NULL,
  at        BIGINT NOT NULL,
  kind      TEXT NOT NULL,
  job_id    TEXT,
  job_name  TEXT,
  attempt   INTEGER,
  step      INTEGER,
  data      TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_events_job ON run_events(job_id, attempt, kind);

CREATE TABLE fleets (
  pool          TEXT NOT NULL REFERENCES pools(name),
  id            TEXT NOT NULL,
  capabilities  TEXT NOT NULL,
  last_seen_at  BIGINT NOT NULL,
  PRIMARY KEY (pool, id)
);
