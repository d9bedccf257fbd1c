//! The person registry: validation, encryption at rest, masking, reveal, lookup and scope.

use serde_json::{json, Value};

use crate::helpers::{
    data_keys, fields, logged_lines_containing, person_body, problem, resident_id, spawn_app,
    ADULT_ID, ADULT_PHONE,
};

#[tokio::test]
async fn registration_masks_responses_and_encrypts_at_rest() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let res = app
        .post(
            "/api/v1/persons",
            Some(&daoli),
            &person_body(ADULT_ID, "230102001001"),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/api/v1/persons/"));
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["id_number"], "**************0015");
    assert_eq!(p["phone"], "138****5678");
    assert!(
        p.get("birth_date").is_none(),
        "masked views carry no birth date"
    );
    assert_eq!(p["age_band"], "35-59");
    assert_eq!(p["sex"], "male");
    assert_eq!(p["revealed"], false);
    assert_eq!(p["low_income"]["tier"], "subsistence_allowance");
    assert_eq!(p["household"]["income_per_capita_fen"], 45000);

    let keys = data_keys();
    let mut conn = app.db().await;
    use aidbridge::db::schema::persons;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    let (enc, hash, phone_enc): (String, String, Option<String>) = persons::table
        .select((
            persons::id_number_encrypted,
            persons::id_number_hash,
            persons::phone_encrypted,
        ))
        .first(&mut conn)
        .await
        .unwrap();
    assert!(enc.starts_with("v1:t1:"), "{enc}");
    assert_eq!(
        keys.decrypt(aidbridge::privacy::Field::IdNumber, &enc)
            .unwrap(),
        ADULT_ID
    );
    assert_eq!(
        keys.decrypt(aidbridge::privacy::Field::Phone, &phone_enc.unwrap())
            .unwrap(),
        ADULT_PHONE
    );
    assert_eq!(hash, keys.blind_index(ADULT_ID));
}

#[tokio::test]
async fn resident_id_numbers_are_checked_and_explained() {
    let app = spawn_app().await;
    let province = app.token("province.ca").await;
    let cases = [
        ("230102199003070016", "check_digit"),
        ("230102900307001", "first_generation_id"),
        ("230102199002300015", "birth_date"),
        (&*resident_id("23020220010229002"), "birth_date"),
        (&*resident_id("23010220990101001"), "birth_date_in_future"),
        ("2301021990030700", "length"),
        ("23010219900307001Y", "characters"),
    ];
    for (id, code) in cases {
        let p = problem(
            app.post("/api/v1/persons", Some(&province), &person_body(id, "2301"))
                .await,
            422,
        )
        .await;
        assert_eq!(fields(&p), vec!["id_number"], "{id}");
        assert_eq!(p["errors"][0]["code"], code, "{id}: {p}");
    }
    // Leap-day births are real; lower-case x is normalised.
    let leap = app
        .register_person(&province, &person_body("230202200002290025", "2302"))
        .await;
    let revealed: Value = app
        .post(
            &format!("/api/v1/persons/{}/reveal", leap["id"].as_str().unwrap()),
            Some(&province),
            &json!({"purpose": "check the birth date"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revealed["birth_date"], "2000-02-29");
    assert_eq!(leap["sex"], "female");
    let x = app
        .register_person(&province, &person_body("11010519491231002x", "2301"))
        .await;
    assert_eq!(x["id_number"], "**************002X");
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 2);
}

#[tokio::test]
async fn phones_regions_and_status_periods_are_validated() {
    let app = spawn_app().await;
    let harbin = app.token("harbin.ca").await;
    for phone in ["12812345678", "1381234567", "1440000000001"] {
        let mut body = person_body(ADULT_ID, "230102");
        body["phone"] = json!(phone);
        let p = problem(app.post("/api/v1/persons", Some(&harbin), &body).await, 422).await;
        assert_eq!(fields(&p), vec!["phone"], "{phone}");
    }
    let mut body = person_body(ADULT_ID, "230102");
    body["phone"] = json!("+86 138-1234-5678");
    body["region_code"] = json!("2301021");
    body["low_income"] = json!({"tier": "rigid_expenditure_hardship", "certifying_region": "230102001", "valid_from": "2026-01-01", "valid_to": "2027-03-01"});
    body["relapse_monitoring"] = json!({"certifying_region": "99", "valid_from": "2026-01-01"});
    let p = problem(app.post("/api/v1/persons", Some(&harbin), &body).await, 422).await;
    assert_eq!(
        fields(&p),
        vec![
            "low_income.valid_to",
            "region_code",
            "relapse_monitoring.certifying_region"
        ]
    );
    body["region_code"] = json!("230102");
    body["low_income"]["valid_to"] = json!("2026-12-31");
    body["relapse_monitoring"]["certifying_region"] = json!("230102");
    let p = app.register_person(&harbin, &body).await;
    assert_eq!(p["phone"], "138****5678", "normalised before masking");
    assert_eq!(p["relapse_monitoring"]["certifying_region"], "230102");
    // A region outside the caller's is refused.
    let mut other = person_body("230202200002290025", "230202");
    other["phone"] = json!(null);
    problem(
        app.post("/api/v1/persons", Some(&harbin), &other).await,
        403,
    )
    .await;
    let p = problem(
        app.post(
            "/api/v1/persons",
            Some(&harbin),
            &json!({"name": "x", "id_number": ADULT_ID, "region_code": "2301", "amount": 1}),
        )
        .await,
        422,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("amount"));
}

#[tokio::test]
async fn a_duplicate_id_number_is_a_conflict_that_names_the_existing_person_only_in_scope() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let first = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let p = problem(
        app.post(
            "/api/v1/persons",
            Some(&daoli),
            &person_body(ADULT_ID, "230102"),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "duplicate_person");
    assert_eq!(p["existing_id"], first["id"]);
    let qiqihar = app.qiqihar_token().await;
    let p = problem(
        app.post(
            "/api/v1/persons",
            Some(&qiqihar),
            &person_body(ADULT_ID, "2302"),
        )
        .await,
        409,
    )
    .await;
    assert!(
        p.get("existing_id").is_none(),
        "another region must not learn the id: {p}"
    );
    // Nor where, nor whom; and supervision sees the probe.
    assert_eq!(p["code"], "already_registered");
    assert!(!p.to_string().contains("230102"), "{p}");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'person.cross_region_lookup'
             AND details->>'by' = 'id_number'"
        )
        .await,
        1
    );
    // The same for an external id taken in another region.
    let mut other = person_body(&resident_id("23020219800101123"), "2302");
    other["external_id"] = first["external_id"].clone();
    if other["external_id"].is_null() {
        other["external_id"] = json!("DBJC-1");
        app.patch(
            &format!("/api/v1/persons/{}", first["id"].as_str().unwrap()),
            Some(&daoli),
            &json!({"external_id": "DBJC-1"}),
        )
        .await;
    }
    let p = problem(
        app.post("/api/v1/persons", Some(&qiqihar), &other).await,
        409,
    )
    .await;
    assert_eq!(
        (p["code"].as_str(), p["field"].as_str()),
        (Some("already_registered"), Some("external_id"))
    );
    assert!(p.get("existing_id").is_none());
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 1);
}

#[tokio::test]
async fn concurrent_registrations_of_one_id_number_create_one_person() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let body = person_body(ADULT_ID, "230102");
    let results = futures_util::future::join_all(
        (0..6).map(|_| app.post("/api/v1/persons", Some(&daoli), &body)),
    )
    .await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.create'")
            .await,
        1
    );
}

#[tokio::test]
async fn full_values_only_on_an_audited_reveal_by_staff_of_the_region() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let id = person["id"].as_str().unwrap();
    let path = format!("/api/v1/persons/{id}");

    let masked: Value = app.get(&path, Some(&daoli)).await.json().await.unwrap();
    assert_eq!(masked["id_number"], "**************0015");
    let p = problem(
        app.post(&format!("{path}/reveal"), Some(&daoli), &json!({}))
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["purpose"]);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.reveal'")
            .await,
        0
    );

    let res = app
        .client
        .post(app.url(&format!("{path}/reveal")))
        .json(&json!({"purpose": "medical aid application"}))
        .bearer_auth(&daoli)
        .header("x-request-id", "reveal-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let full: Value = res.json().await.unwrap();
    assert_eq!(full["id_number"], ADULT_ID);
    assert_eq!(full["phone"], ADULT_PHONE);
    assert_eq!(full["revealed"], true);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'person.reveal' AND entity_id = '{id}'
             AND reason = 'medical aid application' AND request_id = 'reveal-1'"
        ))
        .await,
        1
    );

    // Auditors read masked data, and the read is recorded; they cannot reveal.
    let auditor = app.token("auditor").await;
    let seen: Value = app.get(&path, Some(&auditor)).await.json().await.unwrap();
    assert_eq!(seen["id_number"], "**************0015");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.read'")
            .await,
        1
    );
    problem(
        app.post(
            &format!("{path}/reveal"),
            Some(&auditor),
            &json!({"purpose": "audit check"}),
        )
        .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn people_are_visible_only_within_the_callers_reach() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let path = format!("/api/v1/persons/{}", person["id"].as_str().unwrap());
    for user in ["harbin.ca", "province.ca", "daoli.ca"] {
        let t = app.token(user).await;
        assert_eq!(app.get(&path, Some(&t)).await.status(), 200, "{user}");
        let page: Value = app
            .get("/api/v1/persons", Some(&t))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{user}");
    }
    let qiqihar = app.qiqihar_token().await;
    problem(app.get(&path, Some(&qiqihar)).await, 404).await;
    let page: Value = app
        .get("/api/v1/persons", Some(&qiqihar))
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());
    problem(
        app.get("/api/v1/persons?region=2301", Some(&qiqihar)).await,
        403,
    )
    .await;
    let grid = app.token("grid.worker").await;
    problem(app.get(&path, Some(&grid)).await, 403).await;
    problem(app.get("/api/v1/persons", Some(&grid)).await, 403).await;
    let charity = app.token("charity.edu").await;
    problem(
        app.get(&format!("{path}?purpose=referral"), Some(&charity))
            .await,
        404,
    )
    .await;
    let admin = app.token("admin").await;
    problem(app.get(&path, Some(&admin)).await, 403).await;
    // Narrowing within one's region works; the list is masked.
    let harbin = app.token("harbin.ca").await;
    let page: Value = app
        .get("/api/v1/persons?region=230102001", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["id_number"], "**************0015");
    let page: Value = app
        .get("/api/v1/persons?region=230103", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert!(page["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn lookup_by_id_number_travels_in_the_body() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let res = app
        .post(
            "/api/v1/persons/lookup",
            Some(&daoli),
            &json!({"id_number": ADULT_ID}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let found: Value = res.json().await.unwrap();
    assert_eq!(found["id"], person["id"]);
    assert_eq!(found["id_number"], "**************0015");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.lookup'")
            .await,
        1
    );
    problem(
        app.post(
            "/api/v1/persons/lookup",
            Some(&daoli),
            &json!({"id_number": "11010519491231002X"}),
        )
        .await,
        404,
    )
    .await;
    let p = problem(
        app.post(
            "/api/v1/persons/lookup",
            Some(&daoli),
            &json!({"id_number": "123"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["id_number"]);
    let qiqihar = app.qiqihar_token().await;
    problem(
        app.post(
            "/api/v1/persons/lookup",
            Some(&qiqihar),
            &json!({"id_number": ADULT_ID}),
        )
        .await,
        404,
    )
    .await;
    let charity = app.token("charity.edu").await;
    problem(
        app.post(
            "/api/v1/persons/lookup",
            Some(&charity),
            &json!({"id_number": ADULT_ID}),
        )
        .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn lists_filter_by_tier_circumstance_and_hardship_after_government_aid() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let a = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let mut other = person_body(&resident_id("23010219750505002"), "230102");
    other["low_income"] = json!({"tier": "extreme_poverty", "certifying_region": "230102001", "valid_from": "2025-01-01"});
    other["special_circumstances"] = json!(["elderly_dependent"]);
    other["phone"] = json!(null);
    let b = app.register_person(&daoli, &other).await;
    assert!(b.get("phone").is_none() || b["phone"].is_null());

    let page: Value = app
        .get("/api/v1/persons?tier=extreme_poverty", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], b["id"]);
    let page: Value = app
        .get("/api/v1/persons?circumstance=major_illness", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["id"], a["id"]);
    problem(
        app.get("/api/v1/persons?tier=rich", Some(&daoli)).await,
        400,
    )
    .await;

    // Both receive government aid; only A still has an open need.
    for p in [&a, &b] {
        let res = app
            .post(
                &format!("/api/v1/persons/{}/government-aid", p["id"].as_str().unwrap()),
                Some(&daoli),
                &json!({"programme": "subsistence_allowance", "amount_fen": 68000, "period_start": "2026-01-01", "period_end": "2026-12-31", "source_system": "dibao", "certifying_region": "230102001"}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": a["id"], "category": "medical", "description": "chemotherapy", "amount_requested_fen": 3000000, "urgency": "urgent", "source": "screening"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let page: Value = app
        .get("/api/v1/persons?after_government_aid=true", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(ids, vec![&a["id"]]);
}

#[tokio::test]
async fn government_aid_records_are_validated_and_listed() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let path = format!(
        "/api/v1/persons/{}/government-aid",
        person["id"].as_str().unwrap()
    );
    let good = json!({"programme": "medical_aid", "amount_fen": 1250000, "period_start": "2026-03-01", "period_end": "2026-03-31", "source_system": "medical-aid", "certifying_region": "2301"});
    let mut bad = good.clone();
    bad["amount_fen"] = json!(-1);
    assert_eq!(
        fields(&problem(app.post(&path, Some(&daoli), &bad).await, 422).await),
        vec!["amount_fen"]
    );
    bad["amount_fen"] = json!(12.5);
    assert_eq!(
        fields(&problem(app.post(&path, Some(&daoli), &bad).await, 422).await),
        vec!["amount_fen"]
    );
    let mut bad = good.clone();
    bad["period_end"] = json!("2026-02-28");
    assert_eq!(
        fields(&problem(app.post(&path, Some(&daoli), &bad).await, 422).await),
        vec!["period_end"]
    );
    bad["programme"] = json!("lottery");
    assert_eq!(
        fields(&problem(app.post(&path, Some(&daoli), &bad).await, 422).await),
        vec!["programme"]
    );
    assert_eq!(app.post(&path, Some(&daoli), &good).await.status(), 201);
    let list: Value = app.get(&path, Some(&daoli)).await.json().await.unwrap();
    assert_eq!(list[0]["amount_fen"], 1250000);
    assert_eq!(list[0]["programme"], "medical_aid");
    let qiqihar = app.qiqihar_token().await;
    problem(app.post(&path, Some(&qiqihar), &good).await, 404).await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM government_aid_records")
            .await,
        1
    );
}

#[tokio::test]
async fn no_plaintext_id_number_or_phone_is_stored_anywhere() {
    let app = spawn_app().await;
    // Ages in this test are those on a fixed day, whatever day it runs.
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 29, 4, 0, 0).unwrap());
    let daoli = app.token("daoli.ca").await;
    let guardian_id = "11010519491231002X";
    let minor_id = resident_id("23010220180601003");
    let mut child = person_body(&minor_id, "230102");
    child["phone"] = json!("13998765432");
    let adult = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let minor = app.register_person(&daoli, &child).await;
    let charity = app.org_id("哈尔滨市助学慈善基金会").await;
    let mut consent = crate::helpers::consent_to(&charity, &["identity", "contact"]);
    consent["given_by"] = json!("guardian");
    consent["guardian"] = json!({"name": "张父", "relation": "父亲", "id_number": guardian_id});
    assert_eq!(
        app.consent(&daoli, minor["id"].as_str().unwrap(), &consent)
            .await
            .status(),
        201
    );
    app.post(
        "/api/v1/persons/lookup",
        Some(&daoli),
        &json!({"id_number": ADULT_ID}),
    )
    .await;
    app.post(
        &format!("/api/v1/persons/{}/reveal", adult["id"].as_str().unwrap()),
        Some(&daoli),
        &json!({"purpose": "check storage"}),
    )
    .await;

    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
    }
    use diesel_async::RunQueryDsl;
    let mut conn = app.db().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb', 'ARRAY', 'json', 'bytea')",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert!(columns.len() > 20);
    let secrets = [
        ADULT_ID,
        ADULT_PHONE,
        "13998765432",
        &minor_id,
        guardian_id,
        "13812345678",
    ];
    // Nor in the logs (checked before the scan below, whose own SQL names the values): request
    // lines, errors, and the database driver's debug output of every statement and parameter.
    assert!(
        crate::helpers::logged_line_count() > 0,
        "the log capture works"
    );
    assert!(
        !crate::helpers::logged_lines_containing("/api/v1/persons/lookup").is_empty(),
        "request lines are captured"
    );
    for s in secrets {
        let found = crate::helpers::logged_lines_containing(s);
        assert!(
            found.is_empty(),
            "a log line holds a plaintext identifier: {found:?}"
        );
    }
    for c in &columns {
        for s in secrets {
            let n = app
                .count(&format!(
                    "SELECT count(*) AS n FROM \"{}\" WHERE \"{}\"::text LIKE '%{s}%'",
                    c.table_name, c.column_name
                ))
                .await;
            assert_eq!(
                n, 0,
                "{}.{} holds a plaintext identifier",
                c.table_name, c.column_name
            );
        }
    }
}

#[tokio::test]
async fn staff_update_a_record_and_the_audit_trail_names_the_fields() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let path = format!("/api/v1/persons/{}", person["id"].as_str().unwrap());
    let res = app
        .patch(
            &path,
            Some(&daoli),
            &json!({"phone": "139-0000-1111", "low_income": null, "relapse_monitoring": {"certifying_region": "230102001", "valid_from": "2026-06-01"}, "special_circumstances": ["disaster"], "reason": "年度复核"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["phone"], "139****1111");
    assert!(p.get("low_income").is_none());
    assert_eq!(p["relapse_monitoring"]["valid_from"], "2026-06-01");
    assert_eq!(p["special_circumstances"], json!(["disaster"]));
    assert_eq!(p["name"], "张三", "absent fields stay");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM persons WHERE tier IS NULL AND relapse_monitoring AND phone_masked = '139****1111'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'person.update' AND reason = '年度复核'
             AND details->'fields' = '[\"phone\", \"low_income\", \"relapse_monitoring\", \"special_circumstances\"]'::jsonb"
        )
        .await,
        1
    );
    let full: Value = app
        .post(
            &format!("{path}/reveal"),
            Some(&daoli),
            &json!({"purpose": "check update"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["phone"], "13900001111");

    let p = problem(
        app.patch(&path, Some(&daoli), &json!({"phone": "123", "low_income": {"tier": "rigid_expenditure_hardship", "certifying_region": "230102", "valid_from": "2026-01-01"}}))
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["low_income.valid_to", "phone"]);
    problem(
        app.patch(&path, Some(&daoli), &json!({"region_code": "230103"}))
            .await,
        403,
    )
    .await;
    problem(
        app.patch(
            &path,
            Some(&daoli),
            &json!({"id_number": "11010519491231002X"}),
        )
        .await,
        422,
    )
    .await;
    let qiqihar = app.qiqihar_token().await;
    problem(
        app.patch(&path, Some(&qiqihar), &json!({"name": "x"}))
            .await,
        404,
    )
    .await;
    let harbin = app.token("harbin.ca").await;
    let moved: Value = app
        .patch(&path, Some(&harbin), &json!({"region_code": "230103001"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["region_code"], "230103001");
    problem(app.get(&path, Some(&daoli)).await, 404).await;
}

#[tokio::test]
async fn every_supervision_read_of_personal_data_is_recorded_and_staff_reads_are_not() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let id = person["id"].as_str().unwrap();
    let need: Value = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": id, "category": "medical", "description": "x", "urgency": "normal", "source": "screening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let need_path = format!("/api/v1/needs/{}", need["id"].as_str().unwrap());
    let reads = [
        "/api/v1/persons".to_string(),
        format!("/api/v1/persons/{id}"),
        format!("/api/v1/persons/{id}/consents"),
        format!("/api/v1/persons/{id}/government-aid"),
        "/api/v1/needs".to_string(),
        need_path.clone(),
    ];
    let before = app.count("SELECT count(*) AS n FROM audit_events").await;
    for path in &reads {
        assert_eq!(app.get(path, Some(&daoli)).await.status(), 200, "{path}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events").await,
        before,
        "staff reads of their own region"
    );
    let auditor = app.token("auditor").await;
    let claims = app.keys.verify(&auditor, chrono::Utc::now()).unwrap();
    for path in &reads {
        assert_eq!(app.get(path, Some(&auditor)).await.status(), 200, "{path}");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE actor_id = '{}'",
            claims.sub
        ))
        .await,
        reads.len() as i64,
        "one record per supervision read"
    );
    for action in [
        "person.list",
        "person.read",
        "consent.read",
        "government_aid.read",
        "need.list",
        "need.read",
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE action = '{action}'"
            ))
            .await,
            1,
            "{action}"
        );
    }
}

#[tokio::test]
async fn an_unknown_stored_code_is_an_error_never_a_default() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let id = p["id"].as_str().unwrap();
    // A code written by a newer build (or by hand): no CHECK guards array elements.
    app.exec(&format!(
        "UPDATE persons SET special_circumstances = '{{disabled,teleported}}' WHERE id = '{id}'"
    ))
    .await
    .unwrap();
    let res = app
        .get(&format!("/api/v1/persons/{id}"), Some(&daoli))
        .await;
    let body = problem(res, 500).await;
    assert_eq!(body["code"], "internal_error");
    // The cause is logged, never sent.
    assert!(!body.to_string().contains("teleported"));
    let logged = logged_lines_containing("teleported");
    assert!(
        logged
            .iter()
            .any(|l| l.contains("unknown Circumstance code")),
        "{logged:?}"
    );
}

/// Whether a view hands over more of the number than its last four: the birth date (anywhere),
/// or a masked number that keeps the region or birth digits.
fn rebuildable(body: &Value, full: &str) -> Option<String> {
    let text = body.to_string();
    for part in [&full[6..14], &full[..12], "1990-03-07"] {
        if text.contains(part) {
            return Some(format!("{part} appears in {text}"));
        }
    }
    let mut found = None;
    visit(body, &mut |key, v| {
        if key == "birth_date" {
            found = Some(format!("birth_date in {text}"));
        }
        if key == "id_number" {
            let s = v.as_str().unwrap_or("");
            if !(s.len() == 18 && s[..14].bytes().all(|b| b == b'*')) {
                found = Some(format!("id_number {s} keeps more than the last four"));
            }
        }
    });
    found
}

fn visit(v: &Value, f: &mut impl FnMut(&str, &Value)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                f(k, child);
                visit(child, f);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| visit(c, f)),
        _ => {}
    }
}

#[tokio::test]
async fn no_answer_short_of_a_reveal_lets_anyone_rebuild_the_id_number() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let auditor = app.token("auditor").await;
    let charity = app.token("charity.care").await;
    let care = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let mut answers: Vec<(&str, Value)> = Vec::new();
    let res = app
        .post(
            "/api/v1/persons",
            Some(&daoli),
            &person_body(ADULT_ID, "230102001001"),
        )
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/persons/{id}");
    answers.push(("create", created));
    let all = [
        "identity",
        "contact",
        "household",
        "income",
        "health",
        "disability",
        "aid_history",
    ];
    let res = app
        .consent(&daoli, &id, &crate::helpers::consent_to(&care, &all))
        .await;
    assert_eq!(res.status(), 201);
    answers.push(("consent", res.json().await.unwrap()));
    let gets = [
        ("staff read", path.clone(), &daoli),
        ("auditor read", path.clone(), &auditor),
        ("charity read", format!("{path}?purpose=referral"), &charity),
        ("staff list", "/api/v1/persons".to_owned(), &daoli),
        (
            "auditor list",
            "/api/v1/persons?region=23".to_owned(),
            &auditor,
        ),
        ("consents", format!("{path}/consents"), &daoli),
        ("auditor consents", format!("{path}/consents"), &auditor),
    ];
    for (what, url, token) in gets {
        let res = app.get(&url, Some(token)).await;
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{what}");
        answers.push((what, res.json().await.unwrap()));
    }
    let res = app
        .post(
            "/api/v1/persons/lookup",
            Some(&daoli),
            &json!({"id_number": ADULT_ID}),
        )
        .await;
    answers.push(("lookup", res.json().await.unwrap()));
    let res = app
        .patch(&path, Some(&daoli), &json!({"name": "张三丰"}))
        .await;
    answers.push(("update", res.json().await.unwrap()));
    for (what, body) in &answers {
        assert!(body.is_object() || body.is_array(), "{what}: {body}");
        if let Some(why) = rebuildable(body, ADULT_ID) {
            panic!("{what}: {why}");
        }
    }
    // The reveal is the one answer with the full number and birth date, and it is not cached.
    let res = app
        .post(
            &format!("{path}/reveal"),
            Some(&daoli),
            &json!({"purpose": "核实身份"}),
        )
        .await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let full: Value = res.json().await.unwrap();
    assert_eq!(full["id_number"], ADULT_ID);
    assert_eq!(full["birth_date"], "1990-03-07");
}

#[tokio::test]
async fn a_charity_reads_only_for_a_purpose_its_consent_covers() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let charity = app.token("charity.care").await;
    let care = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let p = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let path = format!("/api/v1/persons/{}", p["id"].as_str().unwrap());
    let mut body = crate::helpers::consent_to(&care, &["identity"]);
    body["purposes"] = json!(["follow_up"]);
    assert_eq!(
        app.consent(&daoli, p["id"].as_str().unwrap(), &body)
            .await
            .status(),
        201
    );
    let p422 = problem(app.get(&path, Some(&charity)).await, 422).await;
    assert_eq!(fields(&p422), vec!["purpose"]);
    problem(
        app.get(&format!("{path}?purpose=matching"), Some(&charity))
            .await,
        404,
    )
    .await;
    let seen = app
        .get(&format!("{path}?purpose=follow_up"), Some(&charity))
        .await;
    assert_eq!(seen.status(), 200);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'person.disclose'
             AND details->>'purpose' = 'follow_up'"
        )
        .await,
        1
    );
}
