-- Output variables a job set for the jobs that depend on it, and what logging commands said
-- about the run (##vso[build.updatebuildnumber], ##vso[build.addbuildtag]).
ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN build_number TEXT;
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
-- Runs whose build-number formats render alike share a revision counter ($(Rev:r)).
ALTER TABLE runs ADD COLUMN build_rev_key TEXT;
CREATE INDEX runs_build_rev_key ON runs(build_rev_key);
-- An agent registered with a one-use ticket runs one job at most: a job that steals its
-- credentials from its memory can claim nothing more with them.
ALTER TABLE agents ADD COLUMN single_job INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
