-- What each audited read pays for its record (issue 7, measured with pg_stat_statements under
-- load). A seal row per event cost PostgreSQL about as much as the event itself, and its two
-- regular-expression checks (a counted repetition of 64 characters) about 55 µs more. Seals now
-- cover runs: one seal per batch of up to 1,000 events the sealer finds, `seqs` listing the
-- run's events in chain (rising) order and `seq` the highest of them (the sealer finds recent
-- seals by it). Seals written before have no `seqs` and cover the one event `seq`; both kinds
-- verify. The MACs are written
-- by the sealer with hex::encode, so a length check stays as the guard against a bug.
ALTER TABLE audit_seals
    DROP CONSTRAINT audit_seals_prev_mac_check,
    DROP CONSTRAINT audit_seals_mac_check,
    ADD CONSTRAINT audit_seals_prev_mac_check CHECK (char_length(prev_mac) = 64),
    ADD CONSTRAINT audit_seals_mac_check CHECK (char_length(mac) = 64),
    ADD COLUMN seqs bigint[],
    ADD CONSTRAINT audit_seals_seqs_check CHECK (
        seqs IS NULL OR (cardinality(seqs) > 0 AND array_ndims(seqs) = 1
                         AND array_position(seqs, NULL) IS NULL
                         AND seq = seqs[cardinality(seqs)]));
-- The event's id (a UUIDv7 made by the server and covered by its seal) is never looked up: its
-- unique index was upkeep on every append with no reader.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_id_key;
