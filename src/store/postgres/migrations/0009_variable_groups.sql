-- Variable groups. Names are unique whatever their case (SQLite's COLLATE NOCASE): an index on
-- lower(name), which every lookup uses.
CREATE TABLE variable_groups (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  variables TEXT NOT NULL DEFAULT '{}',
  secrets TEXT,
  secret_names TEXT NOT NULL DEFAULT '[]',
  pools TEXT NOT NULL DEFAULT '[]',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX variable_groups_name_nocase ON variable_groups (lower(name));
-- The sealed secrets of the groups a job references.
ALTER TABLE jobs ADD COLUMN secrets TEXT;
