ALTER TABLE audit_events ADD CONSTRAINT audit_events_id_key UNIQUE (id);
ALTER TABLE audit_seals
    DROP COLUMN seqs,
    DROP CONSTRAINT audit_seals_prev_mac_check,
    DROP CONSTRAINT audit_seals_mac_check,
    ADD CONSTRAINT audit_seals_prev_mac_check CHECK (prev_mac ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT audit_seals_mac_check CHECK (mac ~ '^[0-9a-f]{64}$');
