-- Audited reads append one event each; what every append costs decides how far they trail
-- plain reads. The seal's foreign key locked its event's row (a heap write and WAL per seal)
-- to guard against deletions the append-only trigger already refuses and verify reports; and
-- occurred_at grows with seq, so a BRIN index serves time ranges at a fraction of a B-tree's
-- upkeep.
ALTER TABLE audit_seals DROP CONSTRAINT audit_seals_seq_fkey;
DROP INDEX audit_events_occurred_at_idx;
CREATE INDEX audit_events_occurred_at_brin ON audit_events USING brin (occurred_at);
