-- Where a run came from and how far it is trusted: the source it was queued for (branch, commit,
-- repository, default branch, as JSON), Azure's Build.Reason, and whether it came from a source
-- nobody vouched for (a fork's pull request): such a run writes nothing a trusted run reads.
ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN reason TEXT NOT NULL DEFAULT 'Manual';
ALTER TABLE runs ADD COLUMN untrusted INTEGER NOT NULL DEFAULT 0;
