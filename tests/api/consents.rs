//! Consent: coverage per category and recipient, minors' guardians, withdrawal, expiry.

use serde_json::{json, Value};

use crate::helpers::{
    consent_to, fields, person_body, problem, resident_id, spawn_app, TestApp, ADULT_ID,
    ADULT_PHONE,
};

async fn registered(app: &TestApp) -> (String, String) {
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    (daoli, p["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_charity_sees_exactly_the_consented_categories() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let path = format!("/api/v1/persons/{person}");
    let charity = app.token("charity.edu").await;
    problem(
        app.get(&format!("{path}?purpose=follow_up"), Some(&charity))
            .await,
        404,
    )
    .await;

    let res = app
        .consent(&daoli, &person, &follow_up(consent_to(&edu, &["identity"])))
        .await;
    assert_eq!(res.status(), 201);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["status"], "given");
    let seen: Value = app
        .get(&format!("{path}?purpose=follow_up"), Some(&charity))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["name"], "张三");
    assert_eq!(seen["id_number"], "**************0015");
    assert_eq!(seen["categories"], json!(["identity"]));
    for absent in ["phone", "household", "low_income", "external_id"] {
        assert!(
            seen.get(absent).is_none(),
            "{absent} must not be shared: {seen}"
        );
    }
    // Health and disability circumstances need their own categories.
    assert_eq!(seen["special_circumstances"], json!(["income_loss"]));

    let res = app
        .consent(
            &daoli,
            &person,
            &follow_up(consent_to(&edu, &["contact", "income", "health"])),
        )
        .await;
    assert_eq!(res.status(), 201);
    let seen: Value = app
        .get(&format!("{path}?purpose=follow_up"), Some(&charity))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["phone"], ADULT_PHONE,
        "contact consent shares the number itself"
    );
    assert_eq!(seen["low_income"]["tier"], "subsistence_allowance");
    assert_eq!(seen["household"]["income_per_capita_fen"], 45000);
    assert!(
        seen["household"].get("key").is_none_or(Value::is_null),
        "household key needs `household`"
    );
    assert_eq!(
        seen["special_circumstances"],
        json!(["income_loss", "major_illness"])
    );
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE action = 'person.disclose' AND entity_id = '{person}'"))
            .await,
        2,
        "every disclosure to a charity is recorded"
    );
    // Government aid only under `aid_history`.
    problem(
        app.get(
            &format!("{path}/government-aid?purpose=follow_up"),
            Some(&charity),
        )
        .await,
        404,
    )
    .await;
    // Another charity sees nothing; a charity cannot reveal.
    let other = app.token("charity.care").await;
    problem(
        app.get(&format!("{path}?purpose=follow_up"), Some(&other))
            .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("{path}/reveal"),
            Some(&charity),
            &json!({"purpose": "contact family"}),
        )
        .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn a_region_wide_consent_shows_charities_there_a_summary_only() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    app.post(
        "/api/v1/needs",
        Some(&daoli),
        &json!({"person_id": person, "category": "education", "description": "tuition", "urgency": "normal", "source": "application"}),
    )
    .await;
    let body = json!({
        "recipient": {"region_code": "230100"},
        "purposes": ["matching"],
        "method": "electronic",
        "notice_version": "hlj-2024.1",
        "notice_sha256": crate::helpers::NOTICE_SHA256,
        "evidence_ref": "e-sign-77",
        "given_by": "subject",
    });
    let res = app.consent(&daoli, &person, &body).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.json::<Value>().await.unwrap()["recipient"]["region_code"],
        "2301"
    );
    let care = app.token("charity.care").await;
    let seen: Value = app
        .get(
            &format!("/api/v1/persons/{person}?purpose=matching"),
            Some(&care),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["open_need_categories"], json!(["education"]));
    assert_eq!(seen["age_band"], "35-59");
    assert_eq!(seen["categories"], json!([]));
    for absent in [
        "name",
        "id_number",
        "phone",
        "birth_date",
        "special_circumstances",
    ] {
        assert!(
            seen.get(absent).is_none(),
            "{absent} leaked in a summary: {seen}"
        );
    }
    // The provincial federation is not a charity *in* Harbin.
    let federation = app.token("federation").await;
    problem(
        app.get(
            &format!("/api/v1/persons/{person}?purpose=matching"),
            Some(&federation),
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn consents_are_validated() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let bureau = app.org_id("哈尔滨市民政局").await;
    let mut both = consent_to(&edu, &["identity"]);
    both["recipient"]["region_code"] = json!("2301");
    assert_eq!(
        fields(&problem(app.consent(&daoli, &person, &both).await, 422).await),
        vec!["recipient"]
    );
    let mut bad = consent_to(&edu, &[]);
    bad["notice_sha256"] = json!("abc");
    bad["purposes"] = json!([]);
    bad["expires_at"] = json!("2000-01-01T00:00:00Z");
    assert_eq!(
        fields(&problem(app.consent(&daoli, &person, &bad).await, 422).await),
        vec!["data_categories", "expires_at", "notice_sha256", "purposes"]
    );
    let p = problem(
        app.consent(&daoli, &person, &consent_to(&bureau, &["identity"]))
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["recipient.organization_id"]);
    let mut unknown = consent_to(&edu, &["identity"]);
    unknown["data_categories"] = json!(["religion"]);
    assert_eq!(
        fields(&problem(app.consent(&daoli, &person, &unknown).await, 422).await),
        vec!["data_categories[0]"]
    );
    let qiqihar = app.qiqihar_token().await;
    problem(
        app.consent(&qiqihar, &person, &consent_to(&edu, &["identity"]))
            .await,
        404,
    )
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM consents").await, 0);
}

#[tokio::test]
async fn a_minor_needs_an_adult_guardians_consent() {
    let app = spawn_app().await;
    // Ages in this test are those on a fixed day, whatever day it runs.
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 29, 4, 0, 0).unwrap());
    let daoli = app.token("daoli.ca").await;
    let child = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010220150601002"), "230102"),
        )
        .await;
    let person = child["id"].as_str().unwrap();
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let by_child = consent_to(&edu, &["identity"]);
    let p = problem(app.consent(&daoli, person, &by_child).await, 422).await;
    assert_eq!(fields(&p), vec!["given_by"]);
    assert!(p["detail"].as_str().unwrap().contains("under 14"));
    let mut no_guardian = by_child.clone();
    no_guardian["given_by"] = json!("guardian");
    assert_eq!(
        fields(&problem(app.consent(&daoli, person, &no_guardian).await, 422).await),
        vec!["guardian"]
    );
    let mut minor_guardian = no_guardian.clone();
    minor_guardian["guardian"] =
        json!({"name": "张兄", "relation": "哥哥", "id_number": resident_id("23010220100101001")});
    assert_eq!(
        fields(&problem(app.consent(&daoli, person, &minor_guardian).await, 422).await),
        vec!["guardian.id_number"]
    );
    let mut bad_id = no_guardian.clone();
    bad_id["guardian"] =
        json!({"name": "张父", "relation": "父亲", "id_number": "230102199003070016"});
    assert_eq!(
        fields(&problem(app.consent(&daoli, person, &bad_id).await, 422).await),
        vec!["guardian.id_number"]
    );
    let mut ok = no_guardian.clone();
    ok["guardian"] = json!({"name": "张父", "relation": "父亲", "id_number": ADULT_ID});
    let res = app.consent(&daoli, person, &ok).await;
    assert_eq!(res.status(), 201);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["guardian"]["id_number"], "**************0015");
    assert_eq!(c["given_by"], "guardian");
    // An adult's consent comes from the subject.
    let (_, adult) = registered_second(&app, &daoli).await;
    assert_eq!(
        app.consent(&daoli, &adult, &consent_to(&edu, &["identity"]))
            .await
            .status(),
        201
    );
}

async fn registered_second(app: &TestApp, token: &str) -> (String, String) {
    let p = app
        .register_person(
            token,
            &person_body(&resident_id("23010219800101002"), "230102"),
        )
        .await;
    (token.to_owned(), p["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn withdrawal_takes_effect_at_once_and_only_once() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let c: Value = app
        .consent(&daoli, &person, &consent_to(&edu, &["identity", "contact"]))
        .await
        .json()
        .await
        .unwrap();
    let charity = app.token("charity.edu").await;
    assert_eq!(
        app.get(
            &format!("/api/v1/persons/{person}?purpose=referral"),
            Some(&charity)
        )
        .await
        .status(),
        200
    );

    let path = format!("/api/v1/consents/{}/withdraw", c["id"].as_str().unwrap());
    let other = app.token("charity.edu").await;
    problem(app.post(&path, Some(&other), &json!({})).await, 403).await;
    let res = app
        .post(&path, Some(&daoli), &json!({"reason": "电话撤回"}))
        .await;
    assert_eq!(res.status(), 200);
    let w: Value = res.json().await.unwrap();
    assert_eq!(w["consent"]["status"], "withdrawn");
    assert_eq!(w["consent"]["withdrawal_reason"], "电话撤回");
    assert_eq!(w["effects"]["recipient_access_ended"], true);
    assert_eq!(w["effects"]["referrals_cancelled"], json!([]));
    problem(
        app.get(
            &format!("/api/v1/persons/{person}?purpose=referral"),
            Some(&charity),
        )
        .await,
        404,
    )
    .await;
    let again = problem(app.post(&path, Some(&daoli), &json!({})).await, 409).await;
    assert_eq!(again["code"], "already_withdrawn");
    // The record stays, with its history.
    let list: Value = app
        .get(&format!("/api/v1/persons/{person}/consents"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], "withdrawn");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'consent.withdraw'")
            .await,
        1
    );
}

#[tokio::test]
async fn racing_withdrawals_withdraw_once() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let c: Value = app
        .consent(&daoli, &person, &consent_to(&edu, &["identity"]))
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/consents/{}/withdraw", c["id"].as_str().unwrap());
    let empty = json!({});
    let results =
        futures_util::future::join_all((0..4).map(|_| app.post(&path, Some(&daoli), &empty))).await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    let conflict = results.iter().filter(|r| r.status() == 409).count();
    assert_eq!((ok, conflict), (1, 3));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'consent.withdraw'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_second_consent_keeps_access_when_one_is_withdrawn_and_expiry_ends_it() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let first: Value = app
        .consent(&daoli, &person, &consent_to(&edu, &["identity"]))
        .await
        .json()
        .await
        .unwrap();
    let mut expired = consent_to(&edu, &["contact"]);
    expired["given_at"] = json!("2024-01-01T00:00:00Z");
    expired["expires_at"] = json!("2025-01-01T00:00:00Z");
    let e: Value = app
        .consent(&daoli, &person, &expired)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(e["status"], "expired");
    let charity = app.token("charity.edu").await;
    let seen: Value = app
        .get(
            &format!("/api/v1/persons/{person}?purpose=referral"),
            Some(&charity),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        seen.get("phone").is_none(),
        "an expired consent shares nothing"
    );
    app.consent(&daoli, &person, &consent_to(&edu, &["identity"]))
        .await;
    let w: Value = app
        .post(
            &format!(
                "/api/v1/consents/{}/withdraw",
                first["id"].as_str().unwrap()
            ),
            Some(&daoli),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(w["effects"]["recipient_access_ended"], false);
    assert_eq!(
        app.get(
            &format!("/api/v1/persons/{person}?purpose=referral"),
            Some(&charity)
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn consent_edge_cases_region_categories_future_consents_and_withdrawal_effects() {
    let app = spawn_app().await;
    let (daoli, person) = registered(&app).await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let region_wide = json!({
        "recipient": {"region_code": "2301"},
        "purposes": ["referral"],
        "data_categories": ["identity"],
        "method": "written",
        "notice_version": "hlj-2024.1",
        "notice_sha256": crate::helpers::NOTICE_SHA256,
        "evidence_ref": "scan-1",
        "given_by": "subject",
    });
    // A region-wide consent never grants categories: refused rather than stored and ignored.
    let p = problem(app.consent(&daoli, &person, &region_wide).await, 422).await;
    assert_eq!(fields(&p), vec!["data_categories"]);

    // Given three minutes ahead (clock skew allowance): recorded, but not yet in force.
    let mut ahead = consent_to(&care_org, &["identity"]);
    ahead["given_at"] = json!((app.clock.now() + chrono::Duration::minutes(3)).to_rfc3339());
    let c: Value = app
        .consent(&daoli, &person, &ahead)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "pending");
    let read = format!("/api/v1/persons/{person}?purpose=referral");
    let care = app.token("charity.care").await;
    problem(app.get(&read, Some(&care)).await, 404).await;
    app.clock.advance(chrono::Duration::minutes(4));
    let care = app.token("charity.care").await;
    let daoli = app.token("daoli.ca").await;
    assert_eq!(app.get(&read, Some(&care)).await.status(), 200);

    // With a region-wide consent also in force, withdrawing the organisation's own consent
    // leaves the charity its summary: access has not ended.
    let mut class = region_wide.clone();
    class["data_categories"] = json!([]);
    let class: Value = app
        .consent(&daoli, &person, &class)
        .await
        .json()
        .await
        .unwrap();
    let withdraw = |id: String| {
        let (app, daoli) = (&app, &daoli);
        async move {
            app.post(
                &format!("/api/v1/consents/{id}/withdraw"),
                Some(daoli),
                &json!({}),
            )
            .await
        }
    };
    let w: Value = withdraw(c["id"].as_str().unwrap().to_owned())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(w["effects"]["recipient_access_ended"], false, "{w}");
    let summary: Value = app.get(&read, Some(&care)).await.json().await.unwrap();
    assert!(summary.get("name").is_none(), "{summary}");
    let w: Value = withdraw(class["id"].as_str().unwrap().to_owned())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(w["effects"]["recipient_access_ended"], true, "{w}");
    problem(app.get(&read, Some(&care)).await, 404).await;
}

#[tokio::test]
async fn the_age_rule_is_reached_only_with_a_real_recipient_and_its_refusals_are_recorded() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(
            &daoli,
            &crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001"),
        )
        .await;
    let person = p["id"].as_str().unwrap();
    // Probing the birth date with made-up recipients learns nothing about it.
    for given_at in ["1995-01-01T00:00:00Z", "2020-01-01T00:00:00Z"] {
        let mut body = consent_to(&uuid::Uuid::new_v4().to_string(), &["identity"]);
        body["given_at"] = json!(given_at);
        let p = problem(app.consent(&daoli, person, &body).await, 422).await;
        assert_eq!(p["errors"][0]["code"], "not_a_charity", "{given_at}");
    }
    // With a real recipient, a consent dated while the person was a child is refused, and the
    // refusal is on record.
    let care = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let mut body = consent_to(&care, &["identity"]);
    body["given_at"] = json!("1995-01-01T00:00:00Z");
    let p = problem(app.consent(&daoli, person, &body).await, 422).await;
    assert_eq!(p["errors"][0]["code"], "guardian_required");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'consent.refused'")
            .await,
        1
    );
}

/// A consent for follow-up visits (reads for `referral` need an open referral).
fn follow_up(mut c: Value) -> Value {
    c["purposes"] = json!(["follow_up"]);
    c
}
