-- A log chunk is kept as the bytes the agent sent (no JSON around them), so it is stored and
-- served to followers without being decoded or encoded again. Other events keep `data`.
ALTER TABLE run_events ADD COLUMN body BLOB;
