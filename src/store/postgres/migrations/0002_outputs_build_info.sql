-- Output variables a job set, and what logging commands said about the run.
ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN build_number TEXT;
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN build_rev_key TEXT;
CREATE INDEX runs_build_rev_key ON runs(build_rev_key);
-- An agent registered with a one-use ticket runs one job at most.
ALTER TABLE agents ADD COLUMN single_job BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
