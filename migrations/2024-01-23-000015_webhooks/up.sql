-- Webhooks: an organisation subscribes a URL to event types; the sender delivers the events
-- the organisation may see (as GET /events would show them), in order per subscription, signed
-- with the subscription's secret (encrypted here), retried with back-off, dead-lettered after
-- the last attempt.
CREATE TABLE webhook_subscriptions (
    id uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    -- Empty: every type.
    event_types text[] NOT NULL DEFAULT '{}',
    secret_encrypted text NOT NULL,
    -- Whose events: as GET /events shows them to the subscriber (`all` for auditors, a bureau's
    -- region prefix, or the organisation's own).
    audience text NOT NULL CHECK (audience IN ('all', 'region', 'organization')),
    region_code text,
    active boolean NOT NULL DEFAULT true,
    -- The feed position up to which events have been queued for delivery.
    cursor bigint NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- A sender instance serving the subscription holds it until then (renewed as it goes);
    -- no database lock is held while it talks to the receiver.
    lease_until timestamptz
);
CREATE INDEX webhook_subscriptions_organization_idx ON webhook_subscriptions (organization_id, id);
CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions (id) WHERE active;

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id),
    -- The event as delivered (kept even after the feed's retention).
    event_id uuid NOT NULL,
    event_position bigint NOT NULL,
    event_type text NOT NULL,
    body text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_status_code integer,
    last_error text,
    created_at timestamptz NOT NULL,
    delivered_at timestamptz,
    UNIQUE (subscription_id, event_position)
);
CREATE INDEX webhook_deliveries_open_idx ON webhook_deliveries (subscription_id, event_position)
    WHERE status = 'pending';
