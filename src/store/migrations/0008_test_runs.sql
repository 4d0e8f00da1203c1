-- Test runs a job's steps published (PublishTestResults@2): totals, duration, failures.
ALTER TABLE jobs ADD COLUMN test_runs TEXT NOT NULL DEFAULT '[]';
