-- Every poll and claim asks whether the agent runs a job already; few jobs run at once, so a
-- partial index over the running ones answers it without reading the queue.
CREATE INDEX jobs_running_agent ON jobs(agent_id) WHERE status = 'running';
