-- Referrals (转介): a bureau refers a person with some of their open needs to a charity (or to
-- every charity of a region), under the person's consent for `referral` or, in an emergency,
-- the PIPL art. 13(4) basis; the charity answers. Every transition is kept in the history.
CREATE TABLE referrals (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES persons (id),
    need_ids uuid[] NOT NULL CHECK (cardinality(need_ids) BETWEEN 1 AND 20),
    referring_organization_id uuid NOT NULL REFERENCES organizations (id),
    referred_by uuid NOT NULL,
    -- Addressed to one charity, or open to every charity of a region (the first to accept owns it).
    target_organization_id uuid REFERENCES organizations (id),
    target_region_code text,
    owner_organization_id uuid REFERENCES organizations (id),
    project_id uuid REFERENCES projects (id),
    urgency text NOT NULL CHECK (urgency IN ('normal', 'urgent', 'emergency')),
    note text,
    legal_basis text NOT NULL CHECK (legal_basis IN ('consent', 'emergency')),
    emergency_justification text,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'in_progress',
        'completed', 'declined', 'expired', 'cancelled')),
    response_due_at timestamptz NOT NULL,
    feedback_due_at timestamptz,
    decline_reason text CHECK (decline_reason IN ('no_capacity', 'not_eligible', 'unreachable',
        'duplicate', 'outside_scope', 'other')),
    outcome text CHECK (outcome IN ('got_help', 'partly_helped', 'could_not_help', 'unreachable',
        'declined_by_person')),
    cancel_reason text,
    -- The aid records the charity reports with its outcome.
    aid_record_ids uuid[] NOT NULL DEFAULT '{}',
    previous_referral_id uuid REFERENCES referrals (id),
    -- A federation's forward to a member charity, linked both ways.
    forwarded_from_id uuid REFERENCES referrals (id),
    forwarded_to_id uuid REFERENCES referrals (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    CONSTRAINT referrals_one_target CHECK ((target_organization_id IS NULL) <> (target_region_code IS NULL)),
    CONSTRAINT referrals_emergency_justified CHECK (
        legal_basis = 'consent' OR (urgency = 'emergency' AND length(emergency_justification) >= 1))
);
CREATE INDEX referrals_person_idx ON referrals (person_id);
CREATE INDEX referrals_referring_idx ON referrals (referring_organization_id, id);
CREATE INDEX referrals_target_idx ON referrals (target_organization_id, id) WHERE target_organization_id IS NOT NULL;
CREATE INDEX referrals_target_region_idx ON referrals (target_region_code text_pattern_ops, id) WHERE target_region_code IS NOT NULL;
CREATE INDEX referrals_owner_idx ON referrals (owner_organization_id, id) WHERE owner_organization_id IS NOT NULL;
CREATE INDEX referrals_project_idx ON referrals (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX referrals_previous_idx ON referrals (previous_referral_id) WHERE previous_referral_id IS NOT NULL;
CREATE INDEX referrals_forwarded_from_idx ON referrals (forwarded_from_id) WHERE forwarded_from_id IS NOT NULL;
CREATE INDEX referrals_forwarded_to_idx ON referrals (forwarded_to_id) WHERE forwarded_to_id IS NOT NULL;
CREATE INDEX referrals_pending_due_idx ON referrals (response_due_at) WHERE status = 'pending';

CREATE TABLE referral_history (
    id uuid PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (id),
    from_status text,
    to_status text NOT NULL,
    actor_id uuid,
    actor_organization_id uuid,
    note text,
    at timestamptz NOT NULL
);
CREATE INDEX referral_history_referral_idx ON referral_history (referral_id, at);
CREATE TRIGGER referral_history_append_only BEFORE UPDATE OR DELETE ON referral_history
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER referral_history_no_truncate BEFORE TRUNCATE ON referral_history
    FOR EACH STATEMENT EXECUTE FUNCTION reject_change();

-- Notes between the referring bureau and the charity on one case (nobody else reads them but
-- auditors).
CREATE TABLE referral_notes (
    id uuid PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (id),
    author_id uuid NOT NULL,
    author_organization_id uuid NOT NULL,
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at timestamptz NOT NULL
);
CREATE INDEX referral_notes_referral_idx ON referral_notes (referral_id, created_at);
CREATE TRIGGER referral_notes_append_only BEFORE UPDATE OR DELETE ON referral_notes
    FOR EACH ROW EXECUTE FUNCTION reject_change();

-- Conflict of interest (优亲厚友): staff declare their relatives; the ID number is kept only as
-- its keyed hash. A removed declaration stays on record.
CREATE TABLE staff_relations (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    relative_id_hash text NOT NULL,
    relation text NOT NULL CHECK (relation IN ('spouse', 'parent', 'child', 'sibling',
        'grandparent', 'grandchild', 'in_law', 'other_relative')),
    declared_at timestamptz NOT NULL,
    removed_at timestamptz
);
CREATE UNIQUE INDEX staff_relations_one_active_idx ON staff_relations (user_id, relative_id_hash)
    WHERE removed_at IS NULL;
CREATE INDEX staff_relations_organization_idx ON staff_relations (organization_id, id);
CREATE INDEX staff_relations_hash_idx ON staff_relations (relative_id_hash) WHERE removed_at IS NULL;
