//! Leads: the life cycle for someone not yet registered (ending in government aid and a
//! registration), what the reporter sees, who may act, outcomes and their fields, the
//! acknowledgement deadline, races on closing, and the conflict-of-interest refusal.

use serde_json::{json, Value};

use crate::helpers::{person_body, problem, resident_id, spawn_app, TestApp};

fn aid() -> Value {
    json!({"programme": "subsistence_allowance", "amount_fen": 68000,
           "period_start": "2026-12-01", "period_end": "2027-11-30",
           "source_system": "dibao-system", "certifying_region": "230102001"})
}

async fn report(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post("/api/v1/leads", Some(token), body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

fn unregistered(id_number: Option<&str>) -> Value {
    let mut p = json!({"name": "李四", "phone": "13912345678"});
    if let Some(n) = id_number {
        p["id_number"] = json!(n);
    }
    json!({"person": p, "region_code": "230102001", "person_agreed": true,
           "suspected_programmes": ["subsistence_allowance"], "need_categories": ["living"],
           "description": "独居老人，冬季取暖困难"})
}

#[tokio::test]
async fn a_lead_about_someone_unregistered_ends_in_aid_and_a_registration() {
    let app = spawn_app().await;
    let grid = app.token("grid.worker").await;
    let daoli = app.token("daoli.ca").await;
    let edu = app.token("charity.edu").await;
    let auditor = app.token("auditor").await;
    let id_number = resident_id("23010219500101002");
    let lead = report(&app, &grid, &unregistered(Some(&id_number))).await;
    let id = lead["id"].as_str().unwrap().to_owned();
    let path = |a: &str| format!("/api/v1/leads/{id}{a}");
    assert_eq!(lead["status"], "submitted");
    assert_eq!(lead["reported"]["name"], "李四");
    let masked = lead["reported"]["id_number"].as_str().unwrap();
    assert!(masked.ends_with(&id_number[14..]) && !masked.contains(&id_number[6..14]));
    assert!(!lead.to_string().contains("13912345678"));
    let stored = app
        .count(&format!(
            "SELECT count(*) AS n FROM leads WHERE id = '{id}' AND id_number_encrypted NOT LIKE '%{id_number}%' AND phone_encrypted NOT LIKE '%13912345678%' AND status = 'submitted'"
        ))
        .await;
    assert_eq!(stored, 1, "identifiers are stored encrypted");

    // Another charity and the reporter's neighbours see nothing; the bureau sees it all.
    problem(app.get(&path(""), Some(&edu)).await, 404).await;
    let seen: Value = app.get(&path(""), Some(&daoli)).await.json().await.unwrap();
    assert_eq!(seen["status"], "submitted");

    // Order: acknowledge, then assess; the reporter cannot act.
    let p = problem(
        app.post(&path("/assess"), Some(&daoli), &json!({})).await,
        409,
    )
    .await;
    assert_eq!(
        (p["code"].as_str(), p["from"].as_str()),
        (Some("illegal_transition"), Some("submitted"))
    );
    problem(
        app.post(&path("/acknowledge"), Some(&grid), &json!({}))
            .await,
        403,
    )
    .await;
    let a = app
        .post(&path("/acknowledge"), Some(&daoli), &json!({}))
        .await;
    assert_eq!(a.status(), 200);
    problem(
        app.post(&path("/acknowledge"), Some(&daoli), &json!({}))
            .await,
        409,
    )
    .await;
    assert_eq!(
        app.post(&path("/assess"), Some(&daoli), &json!({}))
            .await
            .status(),
        200
    );
    problem(
        app.post(
            &path("/close"),
            Some(&grid),
            &json!({"outcome": "not_eligible"}),
        )
        .await,
        403,
    )
    .await;

    // Granting aid registers the person and records the aid in one step.
    let close = json!({"outcome": "aid_granted", "note": "已纳入低保", "aid": aid()});
    let res = app.post(&path("/close"), Some(&daoli), &close).await;
    assert_eq!(res.status(), 200);
    let closed: Value = res.json().await.unwrap();
    assert_eq!(
        (closed["status"].as_str(), closed["outcome"].as_str()),
        (Some("closed"), Some("aid_granted"))
    );
    let person = closed["person_id"]
        .as_str()
        .expect("the bureau sees the person")
        .to_owned();
    let aid_id = closed["government_aid_id"].as_str().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM government_aid_records g JOIN persons p ON p.id = g.person_id \
             WHERE g.id = '{aid_id}' AND p.id = '{person}' AND p.name = '李四' AND p.region_code = '230102001' \
             AND p.phone_masked IS NOT NULL AND g.amount_fen = 68000"
        ))
        .await,
        1
    );
    let registered: Value = app
        .get(&format!("/api/v1/persons/{person}"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(registered["name"], "李四");

    // The reporter sees the outcome and the answer, not the person's record or the aid.
    let mine: Value = app.get(&path(""), Some(&grid)).await.json().await.unwrap();
    assert_eq!(
        (mine["status"].as_str(), mine["outcome"].as_str()),
        (Some("closed"), Some("aid_granted"))
    );
    assert_eq!(mine["outcome_note"], "已纳入低保");
    for hidden in [
        "person_id",
        "government_aid_id",
        "handled_by_organization_id",
    ] {
        assert!(mine.get(hidden).is_none(), "{hidden} shown to the reporter");
    }
    assert!(!mine.to_string().contains(&person));
    let listed: Value = app
        .get("/api/v1/leads", Some(&grid))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&person));

    // Closed is closed; auditors read it, and that is recorded.
    let p = problem(
        app.post(
            &path("/close"),
            Some(&daoli),
            &json!({"outcome": "unreachable"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["from"], "closed");
    assert_eq!(app.get(&path(""), Some(&auditor)).await.status(), 200);
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE action = 'lead.read' AND entity_id = '{id}'")).await,
        1
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'lead.%' AND entity_id = '{id}'")).await,
        5,
        "create, acknowledged, assessing, closed, read"
    );
}

#[tokio::test]
async fn granting_aid_without_an_id_number_asks_for_one_and_a_registered_number_is_reused() {
    let app = spawn_app().await;
    let grid = app.token("grid.worker").await;
    let daoli = app.token("daoli.ca").await;
    let lead = report(&app, &grid, &unregistered(None)).await;
    let close = |extra: Value| {
        let mut b = json!({"outcome": "aid_granted", "aid": aid()});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let path = format!("/api/v1/leads/{}/close", lead["id"].as_str().unwrap());
    let p = problem(app.post(&path, Some(&daoli), &close(json!({}))).await, 422).await;
    assert_eq!(p["errors"][0]["field"], "id_number");
    // The number given belongs to someone already registered in the region: that record is used.
    let existing = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219900307001"), "230102001"),
        )
        .await;
    let res = app
        .post(
            &path,
            Some(&daoli),
            &close(json!({"id_number": resident_id("23010219900307001")})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let closed: Value = res.json().await.unwrap();
    assert_eq!(closed["person_id"], existing["id"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 1);
}

#[tokio::test]
async fn outcomes_carry_their_own_fields_and_a_lead_names_a_person_only_in_its_region() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219900307001"), "230102001"),
        )
        .await;
    let pid = person["id"].as_str().unwrap();
    let about = |region: &str| {
        json!({"person_id": pid, "region_code": region, "person_agreed": true,
                                        "need_categories": ["education"]})
    };
    // Whatever region the reporter gives, the lead goes to the person's own bureau, and the
    // answer is the same: a lead cannot probe where someone lives.
    let elsewhere = report(&app, &edu, &about("230103")).await;
    assert_eq!(elsewhere["reported"]["region_code"], "230103");
    assert!(elsewhere.get("region_code").is_none(), "{elsewhere}");
    let handled: Value = app
        .get(
            &format!("/api/v1/leads/{}", elsewhere["id"].as_str().unwrap()),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(handled["region_code"], "230102001");
    let p = problem(
        app.post("/api/v1/leads", Some(&edu), &json!({"person_id": uuid::Uuid::now_v7(), "region_code": "230102", "person_agreed": true})).await,
        422,
    )
    .await;
    assert_eq!(
        (
            p["errors"][0]["field"].as_str(),
            p["errors"][0]["code"].as_str()
        ),
        (Some("person_id"), Some("not_found"))
    );
    let first = report(&app, &edu, &about("230102")).await;
    assert_eq!(first["reported"]["person_id"], pid);
    let second = report(&app, &edu, &about("230102")).await;
    let second_close = format!("/api/v1/leads/{}/close", second["id"].as_str().unwrap());

    // Fields that do not go with the outcome, and missing ones, are named.
    for (body, field) in [
        (json!({"outcome": "not_eligible", "aid": aid()}), "aid"),
        (json!({"outcome": "duplicate"}), "duplicate_of_id"),
        (json!({"outcome": "aid_granted"}), "aid"),
        (
            json!({"outcome": "unreachable", "duplicate_of_id": first["id"]}),
            "duplicate_of_id",
        ),
        (
            json!({"outcome": "not_eligible", "note": "身份证 230102199003070015"}),
            "note",
        ),
        (
            json!({"outcome": "duplicate", "duplicate_of_id": second["id"]}),
            "duplicate_of_id",
        ),
    ] {
        let p = problem(app.post(&second_close, Some(&daoli), &body).await, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let res = app
        .post(
            &second_close,
            Some(&daoli),
            &json!({"outcome": "duplicate", "duplicate_of_id": first["id"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let closed: Value = res.json().await.unwrap();
    assert_eq!(closed["duplicate_of_id"], first["id"]);
    // The charity's view of its own lead: the outcome, not the other lead.
    let mine: Value = app
        .get(
            &format!("/api/v1/leads/{}", second["id"].as_str().unwrap()),
            Some(&edu),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["outcome"], "duplicate");
    assert!(mine.get("duplicate_of_id").is_none());

    // Bad reports.
    for (body, field) in [
        (
            json!({"region_code": "230102", "person_agreed": true}),
            "person_id",
        ),
        (
            json!({"person_id": pid, "person": {"name": "李四"}, "region_code": "230102", "person_agreed": true}),
            "person_id",
        ),
        (
            json!({"person": {"name": "  "}, "region_code": "230102", "person_agreed": true}),
            "person.name",
        ),
        (
            json!({"person": {"name": "李四", "id_number": "230102199003070016"}, "region_code": "230102", "person_agreed": true}),
            "person.id_number",
        ),
        (
            json!({"person": {"name": "李四"}, "region_code": "999999", "person_agreed": true}),
            "region_code",
        ),
        (
            json!({"person": {"name": "李四"}, "region_code": "2301", "person_agreed": true}),
            "region_code",
        ),
        (
            json!({"person": {"name": "李四"}, "region_code": "230102", "person_agreed": true, "description": "电话13812345678"}),
            "description",
        ),
        (
            json!({"person": {"name": "李四"}, "region_code": "230102", "person_agreed": true, "description": "x".repeat(3000)}),
            "description",
        ),
    ] {
        let p = problem(app.post("/api/v1/leads", Some(&edu), &body).await, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let p = problem(
        app.post("/api/v1/leads", Some(&edu), &json!({"person": {"name": "李\u{0}四"}, "region_code": "230102", "person_agreed": true})).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "person.name");
    let big = json!({"person": {"name": "李四"}, "region_code": "230102", "person_agreed": true, "description": "x".repeat(100_000)});
    problem(app.post("/api/v1/leads", Some(&edu), &big).await, 413).await;
    // A bureau does not report leads to itself.
    problem(
        app.post("/api/v1/leads", Some(&daoli), &about("230102"))
            .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn unacknowledged_leads_are_overdue_after_the_deadline_and_one_closing_wins() {
    let app = spawn_app().await;
    let grid = app.token("grid.worker").await;
    let lead = report(
        &app,
        &grid,
        &unregistered(Some(&resident_id("23010219500101002"))),
    )
    .await;
    let daoli = app.token("daoli.ca").await;
    let overdue: Value = app
        .get("/api/v1/leads?overdue=true", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert!(overdue["items"].as_array().unwrap().is_empty());
    app.clock.advance(chrono::Duration::hours(73));
    let daoli = app.token("daoli.ca").await;
    let overdue: Value = app
        .get("/api/v1/leads?overdue=true", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overdue["items"][0]["id"], lead["id"]);

    // Ten bureaus' clicks at once: one closing, one person, one aid record.
    let path = format!("/api/v1/leads/{}/close", lead["id"].as_str().unwrap());
    let body = json!({"outcome": "aid_granted", "aid": aid()});
    let racers = (0..10).map(|_| {
        let (app, daoli, path, body) = (&app, &daoli, &path, &body);
        async move { app.post(path, Some(daoli), body).await.status().as_u16() }
    });
    let mut statuses = futures_util::future::join_all(racers).await;
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM government_aid_records")
            .await,
        1
    );
}

#[tokio::test]
async fn granting_aid_to_a_declared_relative_is_refused_and_recorded() {
    let app = spawn_app().await;
    let grid = app.token("grid.worker").await;
    let daoli = app.token("daoli.ca").await;
    let relative = resident_id("23010219500101002");
    let res = app
        .post(
            "/api/v1/me/relations",
            Some(&daoli),
            &json!({"id_number": relative, "relation": "parent"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let lead = report(&app, &grid, &unregistered(Some(&relative))).await;
    let path = format!("/api/v1/leads/{}/close", lead["id"].as_str().unwrap());
    let body = json!({"outcome": "aid_granted", "aid": aid()});
    let p = problem(app.post(&path, Some(&daoli), &body).await, 403).await;
    assert_eq!(p["code"], "conflict_of_interest");
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 0);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'conflict_of_interest.refused'"
        )
        .await,
        1
    );
    // Someone else with the region in scope may act.
    let harbin = app.token("harbin.ca").await;
    assert_eq!(app.post(&path, Some(&harbin), &body).await.status(), 200);
}

#[tokio::test]
async fn aid_from_a_lead_goes_only_to_people_of_the_bureaus_region() {
    let app = spawn_app().await;
    let grid = app.token("grid.worker").await;
    let daoli = app.token("daoli.ca").await;
    let harbin = app.token("harbin.ca").await;
    // Someone registered in another district: a lead giving their number is not linked to them.
    let elsewhere_id = resident_id("23010319800202003");
    app.register_person(&harbin, &person_body(&elsewhere_id, "230103001"))
        .await;
    let lead = report(&app, &grid, &unregistered(Some(&elsewhere_id))).await;
    let path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    let seen: Value = app.get(&path, Some(&daoli)).await.json().await.unwrap();
    assert!(seen.get("person_id").is_none(), "{seen}");
    let p = problem(
        app.post(
            &format!("{path}/close"),
            Some(&daoli),
            &json!({"outcome": "aid_granted", "aid": aid()}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "already_registered");

    // A person who moved away after the lead: their new bureau grants aid, not this one.
    let person = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219900307001"), "230102001"),
        )
        .await;
    let pid = person["id"].as_str().unwrap();
    let lead = report(
        &app,
        &grid,
        &json!({"person_id": pid, "region_code": "230102", "person_agreed": true}),
    )
    .await;
    let res = app
        .patch(
            &format!("/api/v1/persons/{pid}"),
            Some(&harbin),
            &json!({"region_code": "230103001", "reason": "迁居"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let close = format!("/api/v1/leads/{}/close", lead["id"].as_str().unwrap());
    problem(
        app.post(
            &close,
            Some(&daoli),
            &json!({"outcome": "aid_granted", "aid": aid()}),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM government_aid_records")
            .await,
        0
    );
}

#[tokio::test]
async fn the_bureau_reveals_a_leads_identifiers_to_reach_the_person_on_the_record() {
    let app = spawn_app().await;
    let grid = app.token("grid.worker").await;
    let daoli = app.token("daoli.ca").await;
    let edu = app.token("charity.edu").await;
    let id_number = resident_id("23010219500101002");
    let lead = report(&app, &grid, &unregistered(Some(&id_number))).await;
    let path = format!("/api/v1/leads/{}/reveal", lead["id"].as_str().unwrap());
    let why = json!({"reason": "电话核实"});
    let shown: Value = app
        .post(&path, Some(&daoli), &why)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (shown["id_number"].as_str(), shown["phone"].as_str()),
        (Some(id_number.as_str()), Some("13912345678"))
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'lead.reveal' AND reason = '电话核实'").await,
        1
    );
    problem(app.post(&path, Some(&grid), &why).await, 403).await;
    problem(app.post(&path, Some(&edu), &why).await, 403).await;
    problem(
        app.post(&path, Some(&daoli), &json!({"reason": " "})).await,
        422,
    )
    .await;
}
