-- The run a re-run repeats, what a fleet runs, and jobs that failed without ever starting.
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
ALTER TABLE fleets ADD COLUMN status TEXT;
CREATE INDEX jobs_failed_unstarted ON jobs(finished_at) WHERE result = 'failed' AND started_at IS NULL;
