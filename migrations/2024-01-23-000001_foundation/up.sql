-- Foundation: organisations, users, API clients, login throttling and the audit trail.

CREATE TABLE organizations (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('civil_affairs_bureau', 'township_office', 'charity',
        'charity_federation', 'red_cross', 'social_work_agency', 'enterprise', 'other')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    uscc text UNIQUE CHECK (uscc ~ '^[0-9A-HJ-NP-RTUWXY]{18}$'),
    region_code text NOT NULL CHECK (region_code ~ '^23([0-9]{2}|[0-9]{4}|[0-9]{7}|[0-9]{10})?$'),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    public_fundraising boolean NOT NULL DEFAULT false,
    parent_id uuid REFERENCES organizations (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organizations_parent_id_idx ON organizations (parent_id);
CREATE INDEX organizations_region_code_idx ON organizations (region_code text_pattern_ops);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{2,63}$'),
    display_name text NOT NULL,
    password_hash text NOT NULL,
    roles text[] NOT NULL CHECK (cardinality(roles) > 0),
    region_code text NOT NULL CHECK (region_code ~ '^23([0-9]{2}|[0-9]{4}|[0-9]{7}|[0-9]{10})?$'),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_organization_id_idx ON users (organization_id);

CREATE TABLE api_clients (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    client_id text NOT NULL UNIQUE,
    name text NOT NULL,
    secret_hash text NOT NULL,
    roles text[] NOT NULL CHECK (cardinality(roles) > 0),
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_clients_organization_id_idx ON api_clients (organization_id);

-- Failed sign-ins per principal name (existing or not, so the lock reveals nothing).
CREATE TABLE login_throttle (
    principal text PRIMARY KEY,
    failures integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    locked_until timestamptz
);

CREATE TABLE audit_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    occurred_at timestamptz NOT NULL,
    actor_kind text NOT NULL CHECK (actor_kind IN ('user', 'client', 'system')),
    actor_id uuid,
    actor_organization_id uuid,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id uuid,
    ip text,
    request_id text,
    reason text,
    details jsonb NOT NULL DEFAULT '{}',
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- The audit trail is append-only: no role, not even the application's, may rewrite history.
CREATE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();
