-- Variable groups: values and secrets kept on the coordinator, which pipelines reference with
-- `- group: NAME`. Secrets are sealed with the server's key; `secret_names` lets views list them
-- without opening anything. A group is readable only by jobs of the pools it names.
CREATE TABLE variable_groups (
  name TEXT PRIMARY KEY COLLATE NOCASE,
  description TEXT NOT NULL DEFAULT '',
  variables TEXT NOT NULL DEFAULT '{}',
  secrets TEXT,
  secret_names TEXT NOT NULL DEFAULT '[]',
  pools TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- The sealed secrets of the groups a job references: that job's alone, not the whole run's.
ALTER TABLE jobs ADD COLUMN secrets TEXT;
