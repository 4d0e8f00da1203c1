-- Where a run came from (JSON), Azure's Build.Reason, and whether nobody vouched for its source.
ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN reason TEXT NOT NULL DEFAULT 'Manual';
ALTER TABLE runs ADD COLUMN untrusted BOOLEAN NOT NULL DEFAULT FALSE;
