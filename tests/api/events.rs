//! The event feed: what each organisation sees, cursors, payloads without personal data, and no
//! event skipped when transactions commit out of order.

use diesel_async::SimpleAsyncConnection;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, TestApp};
use crate::referrals::{consent_for, person_with_need};

async fn feed(app: &TestApp, token: &str, after: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/events?after={after}"), Some(token))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn types(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_organisation_sees_its_own_events_in_order_without_personal_data() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let edu = app.token("charity.edu").await;
    let auditor = app.token("auditor").await;
    let grid = app.token("grid.worker").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let r: Value = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org}, "urgency": "urgent"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let rid = r["id"].as_str().unwrap();
    assert_eq!(
        app.post(
            &format!("/api/v1/referrals/{rid}/accept"),
            Some(&care),
            &json!({})
        )
        .await
        .status(),
        200
    );

    // The bureau: everything of its region, in the order it happened.
    let all = feed(&app, &daoli, "0").await;
    assert_eq!(
        types(&all),
        [
            "person.created",
            "need.created",
            "consent.given",
            "need.referred",
            "referral.created",
            "referral.accepted"
        ]
    );
    let cursors: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");
    let accepted = &all["items"][5];
    assert_eq!(
        (
            accepted["entity_type"].as_str(),
            accepted["entity_id"].as_str()
        ),
        (Some("referral"), Some(rid))
    );
    assert_eq!(accepted["data"]["status"], "accepted");
    // Codes and ids only: nothing that names or reaches the person.
    let text = all.to_string();
    for secret in ["张三", "230102199003070015", "13812345678", "化疗"] {
        assert!(!text.contains(secret), "{secret} in the feed");
    }

    // The charity: its consent and its referral; another charity: nothing; grassroots: refused.
    assert_eq!(
        types(&feed(&app, &care, "0").await),
        ["consent.given", "referral.created", "referral.accepted"]
    );
    assert!(types(&feed(&app, &edu, "0").await).is_empty());
    assert_eq!(types(&feed(&app, &auditor, "0").await).len(), 6);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'events.read'")
            .await,
        1,
        "an auditor's read of the whole feed is recorded"
    );
    // Only the person's own events name the person.
    for e in all["items"].as_array().unwrap() {
        if e["entity_type"] != "person" {
            assert!(
                !e.to_string().contains(&person),
                "{e} ties a change to the person"
            );
        }
    }
    problem(app.get("/api/v1/events", Some(&grid)).await, 403).await;

    // Continuing from the cursor gives only what is new; nothing new keeps the cursor.
    let next = all["next_cursor"].as_str().unwrap().to_owned();
    let empty = feed(&app, &daoli, &next).await;
    assert!(types(&empty).is_empty());
    assert_eq!(empty["next_cursor"], next.as_str());
    assert_eq!(
        app.post(
            &format!("/api/v1/referrals/{rid}/start"),
            Some(&care),
            &json!({})
        )
        .await
        .status(),
        200
    );
    let later = feed(&app, &daoli, &next).await;
    assert_eq!(types(&later), ["referral.in_progress"]);
    let p = problem(app.get("/api/v1/events?after=-1", Some(&daoli)).await, 400).await;
    assert!(p.to_string().contains("after"), "{p}");
}

#[tokio::test]
async fn a_transaction_that_commits_late_is_not_skipped() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    let insert = |n: &str| {
        format!(
            "INSERT INTO outbox_events (id, event_type, entity_type, entity_id, payload, occurred_at) \
             VALUES (gen_random_uuid(), 'test.{n}', 'test', gen_random_uuid(), '{{}}', now())"
        )
    };
    // The first writer begins first and commits last.
    let mut first = app.db().await;
    first
        .batch_execute(&format!("BEGIN; {}", insert("first")))
        .await
        .unwrap();
    let mut second = app.db().await;
    second
        .batch_execute(&format!("BEGIN; {}; COMMIT", insert("second")))
        .await
        .unwrap();
    let page = feed(&app, &auditor, "0").await;
    assert_eq!(types(&page), ["test.second"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    first.batch_execute("COMMIT").await.unwrap();
    // A poller continuing from its cursor still gets the late one.
    let page = feed(&app, &auditor, &cursor).await;
    assert_eq!(types(&page), ["test.first"]);
    // And the feed from the start is in commit order.
    assert_eq!(
        types(&feed(&app, &auditor, "0").await),
        ["test.second", "test.first"]
    );
    // Events never change once numbered.
    assert!(app
        .exec("UPDATE outbox_events SET event_type = 'x'")
        .await
        .is_err());
    assert!(app.exec("DELETE FROM outbox_events").await.is_err());
}

#[tokio::test]
async fn events_older_than_the_retention_are_purged_and_recent_ones_cannot_be() {
    let app = spawn_app().await;
    let insert = |n: &str, age: &str| {
        format!(
            "INSERT INTO outbox_events (id, event_type, entity_type, entity_id, payload, occurred_at) \
             VALUES (gen_random_uuid(), 'test.{n}', 'test', gen_random_uuid(), '{{}}', now() - interval '{age}')"
        )
    };
    app.exec(&insert("old", "200 days")).await.unwrap();
    app.exec(&insert("recent", "10 days")).await.unwrap();
    let ctx = app.service_context();
    aidbridge::service::events::relay(&ctx).await.unwrap();
    // Relative to the server's clock, which the test leaves at the real time.
    assert_eq!(aidbridge::service::events::purge(&ctx).await.unwrap(), 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbox_events WHERE event_type = 'test.old'")
            .await,
        0
    );
    assert!(app
        .exec("DELETE FROM outbox_events WHERE event_type = 'test.recent'")
        .await
        .is_err());
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbox_events").await,
        1
    );
}
