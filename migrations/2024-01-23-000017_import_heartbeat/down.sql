DROP INDEX person_imports_running_idx;
ALTER TABLE person_imports DROP COLUMN updated_at;
