-- Repositories the coordinator mirrors and builds; credentials and secrets sealed.
CREATE TABLE repositories (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  pipeline_file TEXT NOT NULL,
  default_branch TEXT NOT NULL,
  poll_seconds INTEGER,
  credential TEXT,
  webhook_secret TEXT NOT NULL,
  status_api TEXT,
  secrets TEXT,
  created_at BIGINT NOT NULL
);

CREATE TABLE repository_refs (
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  ref TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  batch_pending TEXT,
  PRIMARY KEY (repo, ref)
);

CREATE TABLE webhook_deliveries (
  seq BIGSERIAL PRIMARY KEY,
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  forge TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  event TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  done_at BIGINT,
  UNIQUE (repo, forge, delivery_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (repo, done_at, seq);

CREATE TABLE repository_errors (
  id BIGSERIAL PRIMARY KEY,
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  ref TEXT,
  commit_sha TEXT,
  message TEXT NOT NULL,
  at BIGINT NOT NULL
);

CREATE TABLE repository_runs (
  run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  ref TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  pr_number INTEGER,
  reported TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX repository_runs_repo ON repository_runs (repo, ref, kind);

CREATE TABLE schedule_fires (
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  schedule TEXT NOT NULL,
  branch TEXT NOT NULL,
  last_slot BIGINT NOT NULL,
  last_commit TEXT,
  PRIMARY KEY (repo, schedule, branch)
);
