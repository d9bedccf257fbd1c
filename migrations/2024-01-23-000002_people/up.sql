-- People in hardship, their consents, government aid received and needs.
-- Resident ID numbers and phones are stored only encrypted (AES-256-GCM, `v1:<key id>:…`),
-- with a keyed hash for exact lookup and a masked form for display.

CREATE TABLE persons (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    id_number_encrypted text NOT NULL CHECK (id_number_encrypted LIKE 'v1:%'),
    id_number_hash text NOT NULL UNIQUE CHECK (id_number_hash ~ '^[0-9a-f]{64}$'),
    id_number_masked text NOT NULL CHECK (id_number_masked ~ '^[0-9]{6}\*{8}[0-9]{3}[0-9X]$'),
    birth_date date NOT NULL,
    sex text NOT NULL CHECK (sex IN ('male', 'female')),
    phone_encrypted text CHECK (phone_encrypted LIKE 'v1:%'),
    phone_masked text CHECK (phone_masked ~ '^1[0-9]{2}\*{4}[0-9]{4}$'),
    region_code text NOT NULL CHECK (region_code ~ '^23([0-9]{2}|[0-9]{4}|[0-9]{7}|[0-9]{10})?$'),
    household_key text,
    household_size integer CHECK (household_size BETWEEN 1 AND 50),
    household_income_per_capita_fen bigint CHECK (household_income_per_capita_fen >= 0),
    tier text CHECK (tier IN ('subsistence_allowance', 'extreme_poverty', 'marginal_low_income',
        'rigid_expenditure_hardship', 'other_hardship')),
    tier_certifying_region text,
    tier_valid_from date,
    tier_valid_to date,
    relapse_monitoring boolean NOT NULL DEFAULT false,
    relapse_certifying_region text,
    relapse_valid_from date,
    relapse_valid_to date,
    special_circumstances text[] NOT NULL DEFAULT '{}',
    external_id text UNIQUE,
    registered_by_organization_id uuid NOT NULL REFERENCES organizations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (tier IS NULL OR (tier_certifying_region IS NOT NULL AND tier_valid_from IS NOT NULL)),
    CHECK (NOT relapse_monitoring OR (relapse_certifying_region IS NOT NULL AND relapse_valid_from IS NOT NULL))
);
CREATE INDEX persons_region_code_idx ON persons (region_code text_pattern_ops);
CREATE INDEX persons_registered_by_idx ON persons (registered_by_organization_id);
CREATE INDEX persons_tier_idx ON persons (tier);

CREATE TABLE consents (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES persons (id),
    recipient_organization_id uuid REFERENCES organizations (id),
    recipient_region_code text,
    purposes text[] NOT NULL CHECK (cardinality(purposes) > 0),
    data_categories text[] NOT NULL,
    method text NOT NULL CHECK (method IN ('written', 'electronic', 'oral_witnessed')),
    notice_version text NOT NULL,
    notice_sha256 text NOT NULL CHECK (notice_sha256 ~ '^[0-9a-f]{64}$'),
    evidence_ref text NOT NULL,
    given_by text NOT NULL CHECK (given_by IN ('subject', 'guardian')),
    guardian_name text,
    guardian_relation text,
    guardian_id_number_encrypted text CHECK (guardian_id_number_encrypted LIKE 'v1:%'),
    guardian_id_number_hash text,
    given_at timestamptz NOT NULL,
    expires_at timestamptz,
    withdrawn_at timestamptz,
    withdrawal_reason text,
    recorded_by_organization_id uuid NOT NULL REFERENCES organizations (id),
    recorded_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Exactly one kind of recipient.
    CHECK ((recipient_organization_id IS NULL) <> (recipient_region_code IS NULL)),
    CHECK (given_by = 'subject' OR (guardian_name IS NOT NULL AND guardian_id_number_encrypted IS NOT NULL)),
    CHECK (expires_at IS NULL OR expires_at > given_at)
);
CREATE INDEX consents_person_id_idx ON consents (person_id);
CREATE INDEX consents_recipient_organization_id_idx ON consents (recipient_organization_id);
CREATE INDEX consents_recorded_by_organization_id_idx ON consents (recorded_by_organization_id);

CREATE TABLE government_aid_records (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES persons (id),
    programme text NOT NULL CHECK (programme IN ('subsistence_allowance', 'extreme_poverty_support',
        'disaster_relief', 'medical_aid', 'education_aid', 'housing_aid', 'employment_aid', 'temporary_aid')),
    amount_fen bigint NOT NULL CHECK (amount_fen >= 0),
    period_start date NOT NULL,
    period_end date NOT NULL,
    source_system text NOT NULL,
    certifying_region text NOT NULL,
    recorded_by_organization_id uuid NOT NULL REFERENCES organizations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (period_end >= period_start)
);
CREATE INDEX government_aid_records_person_id_idx ON government_aid_records (person_id);
CREATE INDEX government_aid_records_recorded_by_idx ON government_aid_records (recorded_by_organization_id);

CREATE TABLE needs (
    id uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES persons (id),
    region_code text NOT NULL,
    category text NOT NULL CHECK (category IN ('medical', 'education', 'employment', 'emergency',
        'housing', 'living', 'care_service', 'psychological', 'rehabilitation', 'skills')),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    amount_requested_fen bigint CHECK (amount_requested_fen >= 0),
    urgency text NOT NULL CHECK (urgency IN ('normal', 'urgent', 'emergency')),
    source text NOT NULL CHECK (source IN ('screening', 'application', 'lead', 'charity_report')),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'referred', 'met', 'closed')),
    recorded_by_organization_id uuid NOT NULL REFERENCES organizations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX needs_person_id_idx ON needs (person_id);
CREATE INDEX needs_region_code_idx ON needs (region_code text_pattern_ops);
CREATE INDEX needs_status_idx ON needs (status);
CREATE INDEX needs_recorded_by_idx ON needs (recorded_by_organization_id);
