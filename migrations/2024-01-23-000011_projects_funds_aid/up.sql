-- The charity side of the exchange: projects, special funds and their ledger, aid records,
-- duplicate-aid flags and public disclosures. Amounts in integer fen; hours kept as minutes.

-- One refusal for every append-only table (ledgers, histories, published statements).
CREATE FUNCTION reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'check_violation', CONSTRAINT = TG_TABLE_NAME || '_append_only';
END $$;

CREATE TABLE projects (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    categories text[] NOT NULL CHECK (cardinality(categories) >= 1),
    aid_form text NOT NULL CHECK (aid_form IN ('material', 'service', 'both')),
    -- Eligibility (受助条件): a person qualifies in any region these prefix; any of the tiers (or
    -- relapse monitoring, when flagged); any of the circumstances; within the age range.
    region_prefixes text[] NOT NULL CHECK (cardinality(region_prefixes) >= 1),
    tiers text[] NOT NULL DEFAULT '{}',
    relapse_monitoring boolean NOT NULL DEFAULT false,
    circumstances text[] NOT NULL DEFAULT '{}',
    min_age integer CHECK (min_age BETWEEN 0 AND 150),
    max_age integer CHECK (max_age BETWEEN 0 AND 150),
    per_person_cap_fen bigint CHECK (per_person_cap_fen > 0),
    capacity integer NOT NULL CHECK (capacity >= 0),
    places_left integer NOT NULL,
    budget_fen bigint NOT NULL CHECK (budget_fen >= 0),
    spent_fen bigint NOT NULL DEFAULT 0,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    procedures text NOT NULL DEFAULT '',
    standards text NOT NULL DEFAULT '',
    contact text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'closed')),
    published_at timestamptz,
    closed_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    CONSTRAINT projects_places_within_capacity CHECK (places_left BETWEEN 0 AND capacity),
    CONSTRAINT projects_spent_within_budget CHECK (spent_fen BETWEEN 0 AND budget_fen),
    CONSTRAINT projects_period CHECK (ends_on >= starts_on),
    CONSTRAINT projects_age_range CHECK (min_age IS NULL OR max_age IS NULL OR min_age <= max_age)
);
CREATE INDEX projects_organization_idx ON projects (organization_id, id);
-- Matching a need: published projects whose regions and categories overlap the need's (GIN
-- answers both array overlaps).
CREATE INDEX projects_published_match_idx ON projects USING gin (region_prefixes, categories)
    WHERE status = 'published';

-- Every version of a project from its publication on (what the public was shown, and when).
CREATE TABLE project_versions (
    project_id uuid NOT NULL REFERENCES projects (id),
    version bigint NOT NULL,
    snapshot jsonb NOT NULL,
    changed_at timestamptz NOT NULL,
    changed_by uuid NOT NULL,
    reason text,
    PRIMARY KEY (project_id, version)
);
CREATE TRIGGER project_versions_append_only BEFORE UPDATE OR DELETE ON project_versions
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER project_versions_no_truncate BEFORE TRUNCATE ON project_versions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_change();

-- Who has been helped by a project, and how much: one place per person, the per-person cap.
CREATE TABLE project_beneficiaries (
    project_id uuid NOT NULL REFERENCES projects (id),
    person_id uuid NOT NULL REFERENCES persons (id),
    total_fen bigint NOT NULL DEFAULT 0 CHECK (total_fen >= 0),
    first_aid_on date NOT NULL,
    PRIMARY KEY (project_id, person_id)
);
CREATE INDEX project_beneficiaries_person_idx ON project_beneficiaries (person_id);

CREATE TABLE funds (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    donor text NOT NULL CHECK (length(donor) BETWEEN 1 AND 200),
    purpose text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 2000),
    agreement_ref text NOT NULL CHECK (length(agreement_ref) BETWEEN 1 AND 200),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    -- The running sum of the ledger, kept by the ledger's trigger; never negative, so an
    -- expenditure the balance cannot carry is refused even when two race.
    balance_fen bigint NOT NULL DEFAULT 0 CONSTRAINT funds_balance_not_negative CHECK (balance_fen >= 0)
        CONSTRAINT funds_balance_limit CHECK (balance_fen <= 1000000000000000),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    UNIQUE (organization_id, name)
);

CREATE TABLE fund_entries (
    id uuid PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    fund_id uuid NOT NULL REFERENCES funds (id),
    kind text NOT NULL CHECK (kind IN ('donation', 'aid', 'grant', 'reversal')),
    amount_fen bigint NOT NULL CHECK (amount_fen > 0),
    -- What the entry does to the balance: + income, - expenditure; a reversal undoes its entry.
    delta_fen bigint NOT NULL,
    reverses_id uuid UNIQUE REFERENCES fund_entries (id),
    counterparty text,
    note text,
    occurred_on date NOT NULL,
    aid_record_id uuid,
    recorded_by uuid NOT NULL,
    recorded_at timestamptz NOT NULL,
    CONSTRAINT fund_entries_direction CHECK (
        (kind = 'donation' AND delta_fen = amount_fen AND reverses_id IS NULL)
        OR (kind IN ('aid', 'grant') AND delta_fen = -amount_fen AND reverses_id IS NULL)
        OR (kind = 'reversal' AND abs(delta_fen) = amount_fen AND reverses_id IS NOT NULL))
);
CREATE INDEX fund_entries_fund_idx ON fund_entries (fund_id, seq);
CREATE TRIGGER fund_entries_append_only BEFORE UPDATE OR DELETE ON fund_entries
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER fund_entries_no_truncate BEFORE TRUNCATE ON fund_entries
    FOR EACH STATEMENT EXECUTE FUNCTION reject_change();

-- The balance is derived from the ledger, in the database, whoever inserts.
CREATE FUNCTION fund_entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE funds SET balance_fen = balance_fen + NEW.delta_fen, version = version + 1,
        updated_at = NEW.recorded_at
        WHERE id = NEW.fund_id;
    RETURN NEW;
END $$;
CREATE TRIGGER fund_entries_apply AFTER INSERT ON fund_entries
    FOR EACH ROW EXECUTE FUNCTION fund_entries_apply();

-- A charity's periodic report (定期反馈): many aid records accepted or rejected as a whole.
CREATE TABLE feedback_reports (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    period_start date NOT NULL,
    period_end date NOT NULL,
    format text NOT NULL CHECK (format IN ('json', 'csv')),
    record_count integer NOT NULL CHECK (record_count > 0),
    total_value_fen bigint NOT NULL,
    total_service_minutes bigint NOT NULL,
    submitted_by uuid NOT NULL,
    submitted_at timestamptz NOT NULL,
    CONSTRAINT feedback_reports_period CHECK (period_end >= period_start)
);
CREATE INDEX feedback_reports_organization_idx ON feedback_reports (organization_id, id);
CREATE TRIGGER feedback_reports_append_only BEFORE UPDATE OR DELETE ON feedback_reports
    FOR EACH ROW EXECUTE FUNCTION reject_change();

CREATE TABLE aid_records (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    person_id uuid NOT NULL REFERENCES persons (id),
    project_id uuid NOT NULL REFERENCES projects (id),
    referral_id uuid,
    category text NOT NULL,
    form text NOT NULL CHECK (form IN ('cash', 'in_kind', 'service')),
    value_fen bigint CHECK (value_fen >= 0),
    service_minutes integer CHECK (service_minutes > 0),
    service_type text CHECK (service_type IN ('visit_care', 'psychological', 'rehabilitation', 'skills')),
    aid_on date NOT NULL,
    period_end date,
    note text,
    fund_id uuid REFERENCES funds (id),
    fund_entry_id uuid REFERENCES fund_entries (id),
    feedback_report_id uuid REFERENCES feedback_reports (id),
    recorded_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT aid_records_something_given CHECK (value_fen IS NOT NULL OR service_minutes IS NOT NULL),
    CONSTRAINT aid_records_service_typed CHECK ((service_minutes IS NULL) = (service_type IS NULL)),
    CONSTRAINT aid_records_period CHECK (period_end IS NULL OR period_end >= aid_on)
);
CREATE INDEX aid_records_person_idx ON aid_records (person_id, aid_on);
CREATE INDEX aid_records_project_idx ON aid_records (project_id, id);
CREATE INDEX aid_records_organization_idx ON aid_records (organization_id, id);
CREATE INDEX aid_records_report_idx ON aid_records (feedback_report_id) WHERE feedback_report_id IS NOT NULL;
CREATE INDEX aid_records_fund_idx ON aid_records (fund_id) WHERE fund_id IS NOT NULL;
CREATE INDEX aid_records_fund_entry_idx ON aid_records (fund_entry_id) WHERE fund_entry_id IS NOT NULL;
CREATE TRIGGER aid_records_append_only BEFORE UPDATE OR DELETE ON aid_records
    FOR EACH ROW EXECUTE FUNCTION reject_change();

-- The same person helped in the same category by two sources in overlapping periods.
CREATE TABLE aid_duplicate_flags (
    id uuid PRIMARY KEY,
    aid_record_id uuid NOT NULL REFERENCES aid_records (id),
    person_id uuid NOT NULL REFERENCES persons (id),
    region_code text NOT NULL,
    category text NOT NULL,
    other_source text NOT NULL CHECK (other_source IN ('government', 'charity')),
    other_record_id uuid NOT NULL,
    other_organization_id uuid,
    other_programme text,
    detected_at timestamptz NOT NULL
);
CREATE INDEX aid_duplicate_flags_record_idx ON aid_duplicate_flags (aid_record_id);
CREATE INDEX aid_duplicate_flags_person_idx ON aid_duplicate_flags (person_id);
CREATE INDEX aid_duplicate_flags_region_idx ON aid_duplicate_flags (region_code text_pattern_ops, id);

CREATE TABLE disclosures (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    project_id uuid REFERENCES projects (id),
    fund_id uuid REFERENCES funds (id),
    kind text NOT NULL CHECK (kind IN ('procedures', 'progress', 'financial', 'results',
        'close_out', 'leftover_property', 'correction')),
    period_start date NOT NULL,
    period_end date NOT NULL,
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    funds_raised_fen bigint CHECK (funds_raised_fen >= 0),
    funds_used_fen bigint CHECK (funds_used_fen >= 0),
    beneficiaries integer CHECK (beneficiaries >= 0),
    service_minutes bigint CHECK (service_minutes >= 0),
    corrects_id uuid REFERENCES disclosures (id),
    correction_note text,
    published_at timestamptz NOT NULL,
    -- The Asia/Shanghai date of publication: what deadlines are measured against.
    published_on date NOT NULL,
    published_by uuid NOT NULL,
    CONSTRAINT disclosures_one_subject CHECK ((project_id IS NULL) <> (fund_id IS NULL)),
    CONSTRAINT disclosures_period CHECK (period_end >= period_start),
    CONSTRAINT disclosures_correction CHECK (
        (kind = 'correction') = (corrects_id IS NOT NULL)
        AND (corrects_id IS NULL OR length(correction_note) >= 1))
);
CREATE INDEX disclosures_organization_idx ON disclosures (organization_id, published_on);
CREATE INDEX disclosures_project_idx ON disclosures (project_id, published_on) WHERE project_id IS NOT NULL;
CREATE INDEX disclosures_fund_idx ON disclosures (fund_id, published_on) WHERE fund_id IS NOT NULL;
CREATE INDEX disclosures_corrects_idx ON disclosures (corrects_id) WHERE corrects_id IS NOT NULL;
CREATE TRIGGER disclosures_append_only BEFORE UPDATE OR DELETE ON disclosures
    FOR EACH ROW EXECUTE FUNCTION reject_change();
CREATE TRIGGER disclosures_no_truncate BEFORE TRUNCATE ON disclosures
    FOR EACH STATEMENT EXECUTE FUNCTION reject_change();

-- Volunteer pairing (结对帮扶): a grassroots volunteer with a person, under a follow-up consent.
CREATE TABLE pairings (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    volunteer_id uuid NOT NULL REFERENCES users (id),
    person_id uuid NOT NULL REFERENCES persons (id),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    started_on date NOT NULL,
    ended_on date,
    end_reason text,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    CONSTRAINT pairings_period CHECK (ended_on IS NULL OR ended_on >= started_on)
);
CREATE UNIQUE INDEX pairings_one_active_idx ON pairings (volunteer_id, person_id) WHERE status = 'active';
CREATE INDEX pairings_organization_idx ON pairings (organization_id, id);
CREATE INDEX pairings_person_idx ON pairings (person_id);

CREATE TABLE pairing_visits (
    id uuid PRIMARY KEY,
    pairing_id uuid NOT NULL REFERENCES pairings (id),
    volunteer_id uuid NOT NULL,
    visited_on date NOT NULL,
    minutes integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
    kind text NOT NULL CHECK (kind IN ('home_visit', 'phone_call', 'accompany', 'other')),
    note text,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX pairing_visits_pairing_idx ON pairing_visits (pairing_id, visited_on);
CREATE TRIGGER pairing_visits_append_only BEFORE UPDATE OR DELETE ON pairing_visits
    FOR EACH ROW EXECUTE FUNCTION reject_change();

-- Matching a project: consents for every charity of a region, by that region.
CREATE INDEX consents_recipient_region_idx ON consents (recipient_region_code)
    WHERE recipient_region_code IS NOT NULL;
-- Matching a project: open needs by category and region prefix.
CREATE INDEX needs_open_category_region_idx ON needs (category, region_code text_pattern_ops)
    WHERE status = 'open';
