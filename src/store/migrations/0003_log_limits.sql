-- Bytes of a log stream actually kept (the pool caps a job's and a step's log), and whether it
-- was cut: `length` stays the agent's offset, so resends after the cut are still harmless.
ALTER TABLE log_streams ADD COLUMN stored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log_streams ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
UPDATE log_streams SET stored = length;
-- Reading a log walks its chunks in order, a page at a time, without sorting the whole log;
-- the index it replaces is its prefix, and left in place the planner may prefer it and sort.
DROP INDEX run_events_job;
CREATE INDEX run_events_log ON run_events(job_id, attempt, kind, seq);
