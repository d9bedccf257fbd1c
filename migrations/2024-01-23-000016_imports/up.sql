-- Person imports from the low-income population monitoring platform's CSV export: one row per
-- upload, its progress kept as batches are written, and the rows refused (the first 1,000).
CREATE TABLE person_imports (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    created_by uuid NOT NULL,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    rows_read bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    rows_unchanged bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    rejected jsonb NOT NULL DEFAULT '[]',
    failure text,
    created_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX person_imports_organization_idx ON person_imports (organization_id, id);
