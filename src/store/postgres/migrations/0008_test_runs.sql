-- Test runs a job's steps published (PublishTestResults@2).
ALTER TABLE jobs ADD COLUMN test_runs TEXT NOT NULL DEFAULT '[]';
