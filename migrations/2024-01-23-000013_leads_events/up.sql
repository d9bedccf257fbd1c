-- Leads (线索): reverse referral and grassroots discovery. A charity or grassroots worker reports
-- someone who may qualify for government aid; the bureau of the lead's region answers. A lead
-- names a registered person or carries minimal details of someone not yet registered
-- (identifiers encrypted and hashed as in `persons`).
CREATE TABLE leads (
    id uuid PRIMARY KEY,
    -- A user or an API client of the reporting organisation.
    reporter_id uuid NOT NULL,
    reporter_organization_id uuid NOT NULL REFERENCES organizations (id),
    -- Where the lead is handled: the registered person's region, else the region reported.
    region_code text NOT NULL,
    -- The region as the reporter gave it (all the reporter is shown).
    reported_region_code text NOT NULL,
    person_id uuid REFERENCES persons (id),
    -- What the reporter gave; kept so the reporter sees no more than it reported.
    reported_person_id uuid REFERENCES persons (id),
    name text CHECK (length(name) BETWEEN 1 AND 100),
    id_number_encrypted text,
    id_number_hash text,
    id_number_masked text,
    phone_encrypted text,
    phone_masked text,
    person_agreed boolean NOT NULL,
    suspected_programmes text[] NOT NULL DEFAULT '{}',
    need_categories text[] NOT NULL DEFAULT '{}',
    description text CHECK (length(description) <= 2000),
    status text NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'acknowledged',
        'assessing', 'closed')),
    acknowledge_due_at timestamptz NOT NULL,
    acknowledged_at timestamptz,
    assessing_at timestamptz,
    closed_at timestamptz,
    handled_by_organization_id uuid REFERENCES organizations (id),
    outcome text CHECK (outcome IN ('aid_granted', 'not_eligible', 'duplicate', 'unreachable')),
    outcome_note text CHECK (length(outcome_note) <= 2000),
    duplicate_of_id uuid REFERENCES leads (id),
    government_aid_id uuid REFERENCES government_aid_records (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    CONSTRAINT leads_someone CHECK (reported_person_id IS NOT NULL OR name IS NOT NULL),
    CONSTRAINT leads_outcome_when_closed CHECK ((status = 'closed') = (outcome IS NOT NULL)),
    CONSTRAINT leads_granted_has_aid CHECK (outcome IS DISTINCT FROM 'aid_granted'
        OR (government_aid_id IS NOT NULL AND person_id IS NOT NULL)),
    CONSTRAINT leads_duplicate_names_other CHECK ((outcome = 'duplicate') = (duplicate_of_id IS NOT NULL)
        AND duplicate_of_id IS DISTINCT FROM id)
);
CREATE INDEX leads_region_idx ON leads (region_code text_pattern_ops, id);
CREATE INDEX leads_reporter_org_idx ON leads (reporter_organization_id, id);
CREATE INDEX leads_reporter_idx ON leads (reporter_id, id);
CREATE INDEX leads_person_idx ON leads (person_id) WHERE person_id IS NOT NULL;
CREATE INDEX leads_reported_person_idx ON leads (reported_person_id) WHERE reported_person_id IS NOT NULL;
CREATE INDEX leads_handled_by_idx ON leads (handled_by_organization_id) WHERE handled_by_organization_id IS NOT NULL;
CREATE INDEX leads_duplicate_of_idx ON leads (duplicate_of_id) WHERE duplicate_of_id IS NOT NULL;
CREATE INDEX leads_government_aid_idx ON leads (government_aid_id) WHERE government_aid_id IS NOT NULL;
CREATE INDEX leads_unacknowledged_idx ON leads (acknowledge_due_at) WHERE status = 'submitted';
CREATE INDEX leads_id_hash_idx ON leads (id_number_hash) WHERE id_number_hash IS NOT NULL;

-- When the emergency basis began for the case: kept along forwards and re-referrals, so the
-- time allowed to obtain consent cannot be restarted by referring again.
ALTER TABLE referrals ADD COLUMN emergency_since timestamptz;
UPDATE referrals SET emergency_since = created_at WHERE legal_basis = 'emergency';

-- The sweep for emergency referrals still without consent.
CREATE INDEX referrals_emergency_open_idx ON referrals (emergency_since)
    WHERE legal_basis = 'emergency' AND status IN ('pending', 'accepted', 'in_progress');

-- Referrals accepted whose outcome is late (the overdue list).
CREATE INDEX referrals_feedback_due_idx ON referrals (feedback_due_at)
    WHERE status IN ('accepted', 'in_progress');

-- The outbox (DESIGN §3 Events): every state change writes one row in its own transaction. A
-- row becomes part of the feed when the relay gives it a `position`: the relay runs one at a time
-- (an advisory lock) and numbers only rows it can see, i.e. of committed transactions, so
-- positions become visible in increasing order and a poller reading `position > cursor` can
-- never skip an event, however the writers' transactions interleave.
CREATE TABLE outbox_events (
    id uuid PRIMARY KEY,
    position bigint UNIQUE,
    event_type text NOT NULL,
    entity_type text NOT NULL,
    entity_id uuid NOT NULL,
    -- Bureaus covering this region see the event; the listed organisations see it too.
    region_code text,
    organization_ids uuid[] NOT NULL DEFAULT '{}',
    payload jsonb NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL
);
CREATE INDEX outbox_events_unpositioned_idx ON outbox_events (id) WHERE position IS NULL;
CREATE INDEX outbox_events_region_idx ON outbox_events (region_code text_pattern_ops, position);
CREATE INDEX outbox_events_organizations_idx ON outbox_events USING gin (organization_ids);
CREATE INDEX outbox_events_occurred_idx ON outbox_events USING brin (occurred_at);

-- Events never change once written, except that the relay numbers each once; numbered events
-- older than 30 days may be deleted (the retention sweep keeps them as long as configured).
CREATE FUNCTION outbox_events_position_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.position IS NOT NULL
        AND OLD.occurred_at < now() - interval '30 days' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
        AND (NEW.id, NEW.event_type, NEW.entity_type, NEW.entity_id, NEW.region_code,
             NEW.organization_ids, NEW.payload, NEW.occurred_at)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.event_type, OLD.entity_type, OLD.entity_id, OLD.region_code,
             OLD.organization_ids, OLD.payload, OLD.occurred_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'outbox events are append-only' USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER outbox_events_append_only BEFORE UPDATE OR DELETE ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION outbox_events_position_once();
CREATE TRIGGER outbox_events_no_truncate BEFORE TRUNCATE ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_change();
