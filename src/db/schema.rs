// Diesel table definitions; kept in step with migrations/ (diesel print-schema output format).

diesel::table! {
    organizations (id) {
        id -> Uuid,
        kind -> Text,
        name -> Text,
        uscc -> Nullable<Text>,
        region_code -> Text,
        status -> Text,
        public_fundraising -> Bool,
        parent_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        organization_id -> Uuid,
        username -> Text,
        display_name -> Text,
        password_hash -> Text,
        roles -> Array<Text>,
        region_code -> Text,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Uuid,
        organization_id -> Uuid,
        client_id -> Text,
        name -> Text,
        secret_hash -> Text,
        roles -> Array<Text>,
        enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    login_throttle (principal) {
        principal -> Text,
        failures -> Int4,
        window_started_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> Int8,
        id -> Uuid,
        occurred_at -> Timestamptz,
        actor_kind -> Text,
        actor_id -> Nullable<Uuid>,
        actor_organization_id -> Nullable<Uuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Nullable<Uuid>,
        ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        details -> Jsonb,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(api_clients -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(organizations, users, api_clients, audit_events);
