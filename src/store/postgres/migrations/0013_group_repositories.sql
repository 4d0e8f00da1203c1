-- Repositories the coordinator mirrors whose runs may read a variable group, from any pool.
ALTER TABLE variable_groups ADD COLUMN repositories TEXT NOT NULL DEFAULT '[]';
