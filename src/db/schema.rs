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
        version -> Int8,
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
        version -> Int8,
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
        version -> Int8,
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
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(api_clients -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(organizations, users, api_clients, audit_events);

diesel::table! {
    persons (id) {
        id -> Uuid,
        name -> Text,
        id_number_encrypted -> Text,
        id_number_hash -> Text,
        id_number_masked -> Text,
        birth_date -> Date,
        sex -> Text,
        phone_encrypted -> Nullable<Text>,
        phone_masked -> Nullable<Text>,
        region_code -> Text,
        household_key -> Nullable<Text>,
        household_size -> Nullable<Int4>,
        household_income_per_capita_fen -> Nullable<Int8>,
        tier -> Nullable<Text>,
        tier_certifying_region -> Nullable<Text>,
        tier_valid_from -> Nullable<Date>,
        tier_valid_to -> Nullable<Date>,
        relapse_monitoring -> Bool,
        relapse_certifying_region -> Nullable<Text>,
        relapse_valid_from -> Nullable<Date>,
        relapse_valid_to -> Nullable<Date>,
        special_circumstances -> Array<Text>,
        external_id -> Nullable<Text>,
        registered_by_organization_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    consents (id) {
        id -> Uuid,
        person_id -> Uuid,
        recipient_organization_id -> Nullable<Uuid>,
        recipient_region_code -> Nullable<Text>,
        purposes -> Array<Text>,
        data_categories -> Array<Text>,
        method -> Text,
        notice_version -> Text,
        notice_sha256 -> Text,
        evidence_ref -> Text,
        given_by -> Text,
        guardian_name -> Nullable<Text>,
        guardian_relation -> Nullable<Text>,
        guardian_id_number_encrypted -> Nullable<Text>,
        guardian_id_number_hash -> Nullable<Text>,
        given_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        withdrawn_at -> Nullable<Timestamptz>,
        withdrawal_reason -> Nullable<Text>,
        recorded_by_organization_id -> Uuid,
        recorded_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    government_aid_records (id) {
        id -> Uuid,
        person_id -> Uuid,
        programme -> Text,
        amount_fen -> Int8,
        period_start -> Date,
        period_end -> Date,
        source_system -> Text,
        certifying_region -> Text,
        recorded_by_organization_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    needs (id) {
        id -> Uuid,
        person_id -> Uuid,
        region_code -> Text,
        category -> Text,
        description -> Text,
        amount_requested_fen -> Nullable<Int8>,
        urgency -> Text,
        source -> Text,
        status -> Text,
        recorded_by_organization_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::joinable!(consents -> persons (person_id));
diesel::joinable!(government_aid_records -> persons (person_id));
diesel::joinable!(needs -> persons (person_id));

diesel::allow_tables_to_appear_in_same_query!(
    persons,
    consents,
    government_aid_records,
    needs,
    organizations
);

diesel::table! {
    key_fingerprints (kind, key_id) {
        kind -> Text,
        key_id -> Text,
        fingerprint -> Text,
        first_seen_at -> Timestamptz,
    }
}

diesel::table! {
    audit_seals (position) {
        position -> Int8,
        seq -> Int8,
        prev_mac -> Text,
        mac -> Text,
        sealed_at -> Timestamptz,
    }
}

diesel::table! {
    audit_checkpoints (position) {
        position -> Int8,
        head_mac -> Text,
        signed_at -> Timestamptz,
        key_id -> Text,
        signature -> Text,
    }
}

diesel::joinable!(audit_seals -> audit_events (seq));
diesel::allow_tables_to_appear_in_same_query!(audit_seals, audit_events, audit_checkpoints);

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        family_id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        issued_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}
