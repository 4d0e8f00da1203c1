-- Bytes of a log stream actually kept, and whether it was cut (`length` stays the agent's offset).
ALTER TABLE log_streams ADD COLUMN stored BIGINT NOT NULL DEFAULT 0;
ALTER TABLE log_streams ADD COLUMN truncated BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE log_streams SET stored = length;
-- Reading a log walks its chunks in order, a page at a time.
DROP INDEX run_events_job;
CREATE INDEX run_events_log ON run_events(job_id, attempt, kind, seq);
