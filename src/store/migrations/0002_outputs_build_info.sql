-- Output variables a job set for the jobs that depend on it, and what logging commands said
-- about the run (##vso[build.updatebuildnumber], ##vso[build.addbuildtag]).
ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN build_number TEXT;
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
