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
        seqs -> Nullable<Array<Int8>>,
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

diesel::table! {
    projects (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        categories -> Array<Text>,
        aid_form -> Text,
        region_prefixes -> Array<Text>,
        tiers -> Array<Text>,
        relapse_monitoring -> Bool,
        circumstances -> Array<Text>,
        min_age -> Nullable<Int4>,
        max_age -> Nullable<Int4>,
        per_person_cap_fen -> Nullable<Int8>,
        capacity -> Int4,
        places_left -> Int4,
        budget_fen -> Int8,
        spent_fen -> Int8,
        starts_on -> Date,
        ends_on -> Date,
        procedures -> Text,
        standards -> Text,
        contact -> Text,
        status -> Text,
        published_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    project_versions (project_id, version) {
        project_id -> Uuid,
        version -> Int8,
        snapshot -> Jsonb,
        changed_at -> Timestamptz,
        changed_by -> Uuid,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    project_beneficiaries (project_id, person_id) {
        project_id -> Uuid,
        person_id -> Uuid,
        total_fen -> Int8,
        first_aid_on -> Date,
    }
}

diesel::table! {
    funds (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        donor -> Text,
        purpose -> Text,
        agreement_ref -> Text,
        status -> Text,
        balance_fen -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    fund_entries (id) {
        id -> Uuid,
        seq -> Int8,
        fund_id -> Uuid,
        kind -> Text,
        amount_fen -> Int8,
        delta_fen -> Int8,
        reverses_id -> Nullable<Uuid>,
        counterparty -> Nullable<Text>,
        note -> Nullable<Text>,
        occurred_on -> Date,
        aid_record_id -> Nullable<Uuid>,
        recorded_by -> Uuid,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    aid_records (id) {
        id -> Uuid,
        organization_id -> Uuid,
        person_id -> Uuid,
        project_id -> Uuid,
        referral_id -> Nullable<Uuid>,
        category -> Text,
        form -> Text,
        value_fen -> Nullable<Int8>,
        service_minutes -> Nullable<Int4>,
        service_type -> Nullable<Text>,
        aid_on -> Date,
        period_end -> Nullable<Date>,
        note -> Nullable<Text>,
        fund_id -> Nullable<Uuid>,
        fund_entry_id -> Nullable<Uuid>,
        feedback_report_id -> Nullable<Uuid>,
        recorded_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    feedback_reports (id) {
        id -> Uuid,
        organization_id -> Uuid,
        period_start -> Date,
        period_end -> Date,
        format -> Text,
        record_count -> Int4,
        total_value_fen -> Int8,
        total_service_minutes -> Int8,
        submitted_by -> Uuid,
        submitted_at -> Timestamptz,
    }
}

diesel::table! {
    aid_duplicate_flags (id) {
        id -> Uuid,
        aid_record_id -> Uuid,
        person_id -> Uuid,
        region_code -> Text,
        category -> Text,
        other_source -> Text,
        other_record_id -> Uuid,
        other_organization_id -> Nullable<Uuid>,
        other_programme -> Nullable<Text>,
        detected_at -> Timestamptz,
    }
}

diesel::table! {
    disclosures (id) {
        id -> Uuid,
        organization_id -> Uuid,
        project_id -> Nullable<Uuid>,
        fund_id -> Nullable<Uuid>,
        kind -> Text,
        period_start -> Date,
        period_end -> Date,
        body -> Text,
        funds_raised_fen -> Nullable<Int8>,
        funds_used_fen -> Nullable<Int8>,
        beneficiaries -> Nullable<Int4>,
        service_minutes -> Nullable<Int8>,
        corrects_id -> Nullable<Uuid>,
        correction_note -> Nullable<Text>,
        published_at -> Timestamptz,
        published_on -> Date,
        published_by -> Uuid,
    }
}

diesel::joinable!(projects -> organizations (organization_id));
diesel::joinable!(project_versions -> projects (project_id));
diesel::joinable!(funds -> organizations (organization_id));
diesel::joinable!(fund_entries -> funds (fund_id));
diesel::joinable!(aid_records -> projects (project_id));
diesel::joinable!(aid_records -> persons (person_id));
diesel::allow_tables_to_appear_in_same_query!(
    projects,
    project_versions,
    project_beneficiaries,
    funds,
    fund_entries,
    aid_records,
    aid_duplicate_flags,
    disclosures,
    feedback_reports,
);
diesel::allow_tables_to_appear_in_same_query!(projects, organizations);
diesel::allow_tables_to_appear_in_same_query!(projects, persons);
diesel::allow_tables_to_appear_in_same_query!(projects, needs);
diesel::allow_tables_to_appear_in_same_query!(projects, consents);
diesel::allow_tables_to_appear_in_same_query!(projects, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(project_versions, organizations);
diesel::allow_tables_to_appear_in_same_query!(project_versions, persons);
diesel::allow_tables_to_appear_in_same_query!(project_versions, needs);
diesel::allow_tables_to_appear_in_same_query!(project_versions, consents);
diesel::allow_tables_to_appear_in_same_query!(project_versions, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(project_beneficiaries, organizations);
diesel::allow_tables_to_appear_in_same_query!(project_beneficiaries, persons);
diesel::allow_tables_to_appear_in_same_query!(project_beneficiaries, needs);
diesel::allow_tables_to_appear_in_same_query!(project_beneficiaries, consents);
diesel::allow_tables_to_appear_in_same_query!(project_beneficiaries, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(funds, organizations);
diesel::allow_tables_to_appear_in_same_query!(funds, persons);
diesel::allow_tables_to_appear_in_same_query!(funds, needs);
diesel::allow_tables_to_appear_in_same_query!(funds, consents);
diesel::allow_tables_to_appear_in_same_query!(funds, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(fund_entries, organizations);
diesel::allow_tables_to_appear_in_same_query!(fund_entries, persons);
diesel::allow_tables_to_appear_in_same_query!(fund_entries, needs);
diesel::allow_tables_to_appear_in_same_query!(fund_entries, consents);
diesel::allow_tables_to_appear_in_same_query!(fund_entries, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(aid_records, organizations);
diesel::allow_tables_to_appear_in_same_query!(aid_records, persons);
diesel::allow_tables_to_appear_in_same_query!(aid_records, needs);
diesel::allow_tables_to_appear_in_same_query!(aid_records, consents);
diesel::allow_tables_to_appear_in_same_query!(aid_records, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(aid_duplicate_flags, organizations);
diesel::allow_tables_to_appear_in_same_query!(aid_duplicate_flags, persons);
diesel::allow_tables_to_appear_in_same_query!(aid_duplicate_flags, needs);
diesel::allow_tables_to_appear_in_same_query!(aid_duplicate_flags, consents);
diesel::allow_tables_to_appear_in_same_query!(aid_duplicate_flags, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(disclosures, organizations);
diesel::allow_tables_to_appear_in_same_query!(disclosures, persons);
diesel::allow_tables_to_appear_in_same_query!(disclosures, needs);
diesel::allow_tables_to_appear_in_same_query!(disclosures, consents);
diesel::allow_tables_to_appear_in_same_query!(disclosures, government_aid_records);
diesel::allow_tables_to_appear_in_same_query!(feedback_reports, organizations);

diesel::table! {
    pairings (id) {
        id -> Uuid,
        organization_id -> Uuid,
        volunteer_id -> Uuid,
        person_id -> Uuid,
        status -> Text,
        started_on -> Date,
        ended_on -> Nullable<Date>,
        end_reason -> Nullable<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    pairing_visits (id) {
        id -> Uuid,
        pairing_id -> Uuid,
        volunteer_id -> Uuid,
        visited_on -> Date,
        minutes -> Int4,
        kind -> Text,
        note -> Nullable<Text>,
        recorded_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(pairings, pairing_visits);

diesel::table! {
    referrals (id) {
        id -> Uuid,
        person_id -> Uuid,
        need_ids -> Array<Uuid>,
        referring_organization_id -> Uuid,
        referred_by -> Uuid,
        target_organization_id -> Nullable<Uuid>,
        target_region_code -> Nullable<Text>,
        owner_organization_id -> Nullable<Uuid>,
        project_id -> Nullable<Uuid>,
        urgency -> Text,
        note -> Nullable<Text>,
        legal_basis -> Text,
        emergency_justification -> Nullable<Text>,
        status -> Text,
        response_due_at -> Timestamptz,
        feedback_due_at -> Nullable<Timestamptz>,
        decline_reason -> Nullable<Text>,
        outcome -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        aid_record_ids -> Array<Uuid>,
        previous_referral_id -> Nullable<Uuid>,
        forwarded_from_id -> Nullable<Uuid>,
        forwarded_to_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
        emergency_since -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    referral_history (id) {
        id -> Uuid,
        referral_id -> Uuid,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_id -> Nullable<Uuid>,
        actor_organization_id -> Nullable<Uuid>,
        note -> Nullable<Text>,
        at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(referrals, referral_history);
diesel::allow_tables_to_appear_in_same_query!(referrals, persons);

diesel::table! {
    referral_notes (id) {
        id -> Uuid,
        referral_id -> Uuid,
        author_id -> Uuid,
        author_organization_id -> Uuid,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    staff_relations (id) {
        id -> Uuid,
        user_id -> Uuid,
        organization_id -> Uuid,
        relative_id_hash -> Text,
        relation -> Text,
        declared_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    leads (id) {
        id -> Uuid,
        reporter_id -> Uuid,
        reporter_organization_id -> Uuid,
        region_code -> Text,
        reported_region_code -> Text,
        person_id -> Nullable<Uuid>,
        reported_person_id -> Nullable<Uuid>,
        name -> Nullable<Text>,
        id_number_encrypted -> Nullable<Text>,
        id_number_hash -> Nullable<Text>,
        id_number_masked -> Nullable<Text>,
        phone_encrypted -> Nullable<Text>,
        phone_masked -> Nullable<Text>,
        person_agreed -> Bool,
        suspected_programmes -> Array<Text>,
        need_categories -> Array<Text>,
        description -> Nullable<Text>,
        status -> Text,
        acknowledge_due_at -> Timestamptz,
        acknowledged_at -> Nullable<Timestamptz>,
        assessing_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        handled_by_organization_id -> Nullable<Uuid>,
        outcome -> Nullable<Text>,
        outcome_note -> Nullable<Text>,
        duplicate_of_id -> Nullable<Uuid>,
        government_aid_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    outbox_events (id) {
        id -> Uuid,
        position -> Nullable<Int8>,
        event_type -> Text,
        entity_type -> Text,
        entity_id -> Uuid,
        region_code -> Nullable<Text>,
        organization_ids -> Array<Uuid>,
        payload -> Jsonb,
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (principal_id, key) {
        principal_id -> Uuid,
        key -> Text,
        request_hash -> Text,
        status -> Nullable<Int2>,
        response -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Uuid,
        organization_id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        secret_encrypted -> Text,
        audience -> Text,
        region_code -> Nullable<Text>,
        active -> Bool,
        cursor -> Int8,
        created_by -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        lease_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        subscription_id -> Uuid,
        event_id -> Uuid,
        event_position -> Int8,
        event_type -> Text,
        body -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_status_code -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_subscriptions);

diesel::table! {
    person_imports (id) {
        id -> Uuid,
        organization_id -> Uuid,
        created_by -> Uuid,
        status -> Text,
        rows_read -> Int8,
        rows_written -> Int8,
        rows_unchanged -> Int8,
        rows_rejected -> Int8,
        rejected -> Jsonb,
        failure -> Nullable<Text>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}
