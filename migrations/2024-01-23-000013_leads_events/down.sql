DROP INDEX referrals_feedback_due_idx;
DROP INDEX referrals_emergency_open_idx;
DROP TABLE outbox_events;
DROP FUNCTION outbox_events_position_once();
DROP TABLE leads;
ALTER TABLE referrals DROP COLUMN emergency_since;
