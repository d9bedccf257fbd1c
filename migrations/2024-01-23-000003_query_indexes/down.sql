DROP INDEX login_throttle_window_idx;
DROP INDEX consents_guardian_id_number_hash_idx;
DROP INDEX audit_events_entity_seq_idx;
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id);
DROP INDEX needs_open_person_idx;
DROP INDEX persons_special_circumstances_idx;
