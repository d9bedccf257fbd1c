-- Seals of runs cannot be expressed without `seqs`: refuse rather than leave seals the
-- previous version would read as covering one event each.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_seals WHERE seqs IS NOT NULL) THEN
        RAISE EXCEPTION 'audit_seals holds seals of runs of events; this migration cannot be reverted';
    END IF;
END $$;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_id_key UNIQUE (id);
ALTER TABLE audit_seals
    DROP CONSTRAINT audit_seals_seqs_check,
    DROP COLUMN seqs,
    DROP CONSTRAINT audit_seals_prev_mac_check,
    DROP CONSTRAINT audit_seals_mac_check,
    ADD CONSTRAINT audit_seals_prev_mac_check CHECK (prev_mac ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT audit_seals_mac_check CHECK (mac ~ '^[0-9a-f]{64}$');
