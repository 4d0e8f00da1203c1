-- Credentials of every kind. Only the SHA-256 of a token is kept: a leaked database leaks no token.
CREATE TABLE tokens (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,              -- adm | pat | jit | agt | job | stp
  hash        TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  scopes      TEXT NOT NULL,              -- JSON array
  pool        TEXT,                       -- jit: the pool it may register in
  agent_name  TEXT,                       -- jit: the name it may register as
  agent_id    TEXT,                       -- agt: whose access token
  job_id      TEXT,                       -- jit (fleet), job, stp: the job it is bound to
  epoch       INTEGER,                    -- job, stp: the attempt it is bound to
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  used_at     INTEGER,
  revoked_at  INTEGER
);
CREATE INDEX tokens_job ON tokens(job_id);
CREATE INDEX tokens_agent ON tokens(agent_id);

CREATE TABLE pools (
  name        TEXT PRIMARY KEY,
  settings    TEXT NOT NULL,
  created_at  INTEGER NOT NULL
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
  draining      INTEGER NOT NULL DEFAULT 0,  -- offered no more work (a fleet scales it down)
  last_seen_at  INTEGER,
  created_at    INTEGER NOT NULL,
  UNIQUE (pool, name)
);

-- Seen assertion ids, kept until they expire, so a captured assertion cannot be replayed.
CREATE TABLE assertions (
  jti         TEXT PRIMARY KEY,
  expires_at  INTEGER NOT NULL
);

CREATE TABLE workspaces (
  id          TEXT PRIMARY KEY,             -- SHA-256 of the archive
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE runs (
  id                TEXT PRIMARY KEY,
  number            INTEGER NOT NULL UNIQUE,
  pipeline_file     TEXT NOT NULL,
  plan              TEXT NOT NULL,
  variables         TEXT NOT NULL,
  secrets           TEXT,                   -- sealed (AES-256-GCM); never in clear
  workspace_id      TEXT,
  status            TEXT NOT NULL,
  result            TEXT,
  cancel_requested  INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  started_at        INTEGER,
  finished_at       INTEGER
);

CREATE TABLE jobs (
  id                TEXT PRIMARY KEY,
  run_id            TEXT NOT NULL REFERENCES runs(id),
  idx               INTEGER NOT NULL,
  name              TEXT NOT NULL,
  display_name      TEXT NOT NULL,
  plan              TEXT NOT NULL,
  pool              TEXT NOT NULL,
  depends_on        TEXT NOT NULL,
  status            TEXT NOT NULL,          -- pending | queued | running | completed
  result            TEXT,
  reason            TEXT,
  attempt           INTEGER NOT NULL DEFAULT 0,  -- also the lease epoch
  agent_id          TEXT,
  agent_name        TEXT,
  lease_expires_at  INTEGER,
  cancel_requested  INTEGER NOT NULL DEFAULT 0,
  queued_at         INTEGER,
  started_at        INTEGER,
  finished_at       INTEGER
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
  state        TEXT NOT NULL,               -- pending | running | completed
  result       TEXT,
  reason       TEXT,
  started_at   INTEGER,
  finished_at  INTEGER,
  PRIMARY KEY (job_id, attempt, idx)
);

-- Bytes received per log stream, so appends by offset are idempotent and resumable.
CREATE TABLE log_streams (
  job_id   TEXT NOT NULL,
  attempt  INTEGER NOT NULL,
  step     INTEGER NOT NULL,
  length   INTEGER NOT NULL,
  PRIMARY KEY (job_id, attempt, step)
);

-- The ordered feed of a run (status changes and log text) that clients follow by seq.
CREATE TABLE run_events (
  run_id    TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  at        INTEGER NOT NULL,
  kind      TEXT NOT NULL,
  job_id    TEXT,
  job_name  TEXT,
  attempt   INTEGER,
  step      INTEGER,
  data      TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_events_job ON run_events(job_id, attempt, kind);

-- Fleets announce themselves per pool, with the capabilities the agents they start will have,
-- so a job that only a fleet could serve is not failed as impossible.
CREATE TABLE fleets (
  pool          TEXT NOT NULL REFERENCES pools(name),
  id            TEXT NOT NULL,
  capabilities  TEXT NOT NULL,
  last_seen_at  INTEGER NOT NULL,
  PRIMARY KEY (pool, id)
);
