DELETE FROM key_fingerprints WHERE kind = 'audit';
ALTER TABLE key_fingerprints DROP CONSTRAINT key_fingerprints_kind_check,
    ADD CONSTRAINT key_fingerprints_kind_check CHECK (kind IN ('data', 'hmac'));
