-- The audit ledger's MAC key joins the start-up key check: a swapped AIDBRIDGE_AUDIT_KEY would
-- otherwise go on sealing under a key the chain was not made with, and verify would report
-- the whole ledger broken.
ALTER TABLE key_fingerprints DROP CONSTRAINT key_fingerprints_kind_check,
    ADD CONSTRAINT key_fingerprints_kind_check CHECK (kind IN ('data', 'hmac', 'audit'));
