//! Time comes from the server's one clock, and "today" is the date in Asia/Shanghai: tests move
//! the clock instead of sleeping.

use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;

use crate::helpers::{consent_to, person_body, problem, resident_id, spawn_app};

#[tokio::test]
async fn a_consent_ends_when_the_clock_passes_its_expiry() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let p = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219800101123"), "230102001001"),
        )
        .await;
    let person = p["id"].as_str().unwrap();
    let mut body = consent_to(&care_org, &["identity"]);
    body["expires_at"] = Value::from((app.clock.now() + Duration::days(30)).to_rfc3339());
    assert_eq!(app.consent(&daoli, person, &body).await.status(), 201);
    let path = format!("/api/v1/persons/{person}?purpose=referral");
    assert_eq!(app.get(&path, Some(&care)).await.status(), 200);

    app.clock.advance(Duration::days(31));
    // Tokens age with the same clock.
    problem(app.get(&path, Some(&care)).await, 401).await;
    let care = app.token("charity.care").await;
    let daoli = app.token("daoli.ca").await;
    problem(app.get(&path, Some(&care)).await, 404).await;
    let consents: Value = app
        .get(&format!("/api/v1/persons/{person}/consents"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(consents[0]["status"], "expired");
}

#[tokio::test]
async fn ages_turn_at_midnight_in_shanghai_not_utc() {
    let app = spawn_app().await;
    // Born 2012-06-01: fourteen from 2026-06-01 00:00 in Shanghai, which is 2026-05-31 16:00 UTC.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 5, 31, 15, 30, 0).unwrap());
    let daoli = app.token("daoli.ca").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let p = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010220120601123"), "230102001001"),
        )
        .await;
    let person = p["id"].as_str().unwrap();
    // 23:30 on 31 May in Shanghai: still thirteen, a guardian must consent.
    let body = consent_to(&care_org, &["identity"]);
    let p = problem(app.consent(&daoli, person, &body).await, 422).await;
    assert_eq!(p["errors"][0]["code"], "guardian_required");
    // 00:30 on 1 June in Shanghai (still 31 May in UTC): fourteen, the person consents.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 5, 31, 16, 30, 0).unwrap());
    let daoli = app.token("daoli.ca").await;
    assert_eq!(app.consent(&daoli, person, &body).await.status(), 201);
}
