-- When a running import last made progress: one whose upload broke off, or whose server stopped,
-- is marked failed by the sweeper instead of showing `running` for ever.
ALTER TABLE person_imports ADD COLUMN updated_at timestamptz;
UPDATE person_imports SET updated_at = coalesce(finished_at, created_at);
ALTER TABLE person_imports ALTER COLUMN updated_at SET NOT NULL;
CREATE INDEX person_imports_running_idx ON person_imports (updated_at) WHERE status = 'running';
