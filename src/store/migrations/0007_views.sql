-- What people look at: a re-run remembers the run it repeats (JSON: id, number, failedOnly); a
-- fleet's heartbeat carries what it runs (containers, warm size, bounds, recent scale events,
-- as JSON); and jobs that failed without ever starting (nothing could serve them) are found
-- without reading every job.
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
ALTER TABLE fleets ADD COLUMN status TEXT;
CREATE INDEX jobs_failed_unstarted ON jobs(finished_at) WHERE result = 'failed' AND started_at IS NULL;
