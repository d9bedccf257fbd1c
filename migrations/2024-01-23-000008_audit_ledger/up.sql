-- The audit trail as a ledger. Requests append events without any shared lock; a sealer in
-- the server chains committed events in the order it finds them (an event whose transaction
-- commits late is sealed late, at a later position), with an HMAC under a key kept outside the
-- database, and signs checkpoints (position, head MAC, time) with Ed25519. The hash columns
-- of the first design are no longer written.
ALTER TABLE audit_events ALTER COLUMN prev_hash DROP NOT NULL;
ALTER TABLE audit_events ALTER COLUMN hash DROP NOT NULL;

CREATE TABLE audit_seals (
    position bigint PRIMARY KEY CHECK (position > 0),
    seq bigint NOT NULL UNIQUE REFERENCES audit_events (seq),
    prev_mac text NOT NULL CHECK (prev_mac ~ '^[0-9a-f]{64}$'),
    mac text NOT NULL CHECK (mac ~ '^[0-9a-f]{64}$'),
    sealed_at timestamptz NOT NULL
);

CREATE TABLE audit_checkpoints (
    position bigint PRIMARY KEY CHECK (position > 0),
    head_mac text NOT NULL CHECK (head_mac ~ '^[0-9a-f]{64}$'),
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL,
    signature text NOT NULL
);

CREATE TRIGGER audit_seals_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_checkpoints_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();
