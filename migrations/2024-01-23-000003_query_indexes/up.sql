-- Indexes the list and lookup queries need (plans in docs/BENCHMARKS.md).

-- `circumstance=` filter: special_circumstances @> '{…}'.
CREATE INDEX persons_special_circumstances_idx ON persons USING gin (special_circumstances);

-- "still in hardship after government aid" and the open-needs summary: open needs by person.
CREATE INDEX needs_open_person_idx ON needs (person_id) WHERE status = 'open';

-- An entity's history in order: WHERE entity_type = $1 AND entity_id = $2 ORDER BY seq DESC.
DROP INDEX audit_events_entity_idx;
CREATE INDEX audit_events_entity_seq_idx ON audit_events (entity_type, entity_id, seq);

-- Conflict-of-interest checks and guardian look-ups by the guardian's keyed hash.
CREATE INDEX consents_guardian_id_number_hash_idx ON consents (guardian_id_number_hash)
    WHERE guardian_id_number_hash IS NOT NULL;

-- Sweeping expired throttle rows.
CREATE INDEX login_throttle_window_idx ON login_throttle (window_started_at);
