-- Repositories the coordinator mirrors and builds. Credentials, the webhook secret, the status
-- token and repository secrets are sealed with the server's key: the database alone opens none.
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
  created_at INTEGER NOT NULL
);

-- The tip of each ref as last acted on: a ref that moved since is a push to build. Moved by
-- compare-and-set, so two coordinators never build the same push twice. `batch_pending` is the
-- newest commit waiting for a running batched CI run of the branch to finish.
CREATE TABLE repository_refs (
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  ref TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  batch_pending TEXT,
  PRIMARY KEY (repo, ref)
);

-- Webhook deliveries, kept by the forge's delivery id: a replay is refused, and the queue of
-- deliveries not yet acted on survives a restart (done_at null).
CREATE TABLE webhook_deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  forge TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  event TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  done_at INTEGER,
  UNIQUE (repo, forge, delivery_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (repo, done_at, seq);

-- What went wrong with a repository at a commit (a broken pipeline file): shown, never fatal.
CREATE TABLE repository_errors (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  ref TEXT,
  commit_sha TEXT,
  message TEXT NOT NULL,
  at INTEGER NOT NULL
);

-- Runs queued for a repository: what statuses go back to the forge for, what batching and
-- pull-request auto-cancel look at. `reported` is the last state sent to the forge.
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

-- The last slot each schedule fired for, per branch, and the commit it built: moved by
-- compare-and-set so several coordinators fire a schedule once.
CREATE TABLE schedule_fires (
  repo TEXT NOT NULL REFERENCES repositories (name) ON DELETE CASCADE,
  schedule TEXT NOT NULL,
  branch TEXT NOT NULL,
  last_slot INTEGER NOT NULL,
  last_commit TEXT,
  PRIMARY KEY (repo, schedule, branch)
);
