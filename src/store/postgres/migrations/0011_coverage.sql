-- Coverage summaries a job's steps published (PublishCodeCoverageResults@1/2): lines, branches.
ALTER TABLE jobs ADD COLUMN coverage TEXT NOT NULL DEFAULT '[]';
