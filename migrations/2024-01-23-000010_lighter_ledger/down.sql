DROP INDEX audit_events_occurred_at_brin;
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
ALTER TABLE audit_seals ADD CONSTRAINT audit_seals_seq_fkey FOREIGN KEY (seq) REFERENCES audit_events (seq);
