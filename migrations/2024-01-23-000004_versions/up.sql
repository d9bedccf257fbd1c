-- A version per changeable record: answered as its ETag, checked against If-Match, and bumped
-- by every change, so two case workers cannot overwrite each other unnoticed.
ALTER TABLE organizations ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE api_clients ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE persons ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE needs ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);
