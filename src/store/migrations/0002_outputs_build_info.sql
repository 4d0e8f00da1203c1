-- Output variables a job set for the jobs that depend on it, and what logging commands said
-- about the run (##vso[build.updatebuildnumber], ##vso[build.addbuildtag]).
ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN build_number TEXT;
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
-- Runs whose build-number formats render alike share a revision counter ($(Rev:r)).
ALTER TABLE runs ADD COLUMN build_rev_key TEXT;
CREATE INDEX runs_build_rev_key ON runs(build_rev_key);
