-- Fingerprints of the keys the data was written with: a start with a lost or swapped key is
-- refused instead of leaving data unreadable or letting duplicates through the lookup hash.
CREATE TABLE key_fingerprints (
    kind text NOT NULL CHECK (kind IN ('data', 'hmac')),
    key_id text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 100),
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    first_seen_at timestamptz NOT NULL,
    PRIMARY KEY (kind, key_id)
);
