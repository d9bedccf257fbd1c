-- Idempotency keys (DESIGN §3): a POST sent again with the same `Idempotency-Key` by the same
-- caller within 24 h gets the first answer instead of acting twice. The row is claimed before
-- the request runs (a racing duplicate finds it and waits), and holds the answer afterwards,
-- encrypted (an answer may carry personal data, a reveal even an ID number).
CREATE TABLE idempotency_keys (
    principal_id uuid NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and body: the same key with another request is refused.
    request_hash text NOT NULL,
    -- Absent while the first request is still running.
    status smallint,
    response text,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (principal_id, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
