//! Several instances on one database: each background job's work is done exactly once when two
//! instances run it at the same moment (expiry, webhook sending, audit sealing, event relay).
//! Each instance is a second server on the same database with its own pool; the jobs are
//! driven through each instance's use-case context, both at once.

use serde_json::{json, Value};

use crate::helpers::{spawn_server, test_config, TestApp};
use crate::referrals::{consent_for, person_with_need};

/// A second server on `app`'s database (left running; the first test app drops the database).
async fn second_instance(app: &TestApp) -> TestApp {
    let other = spawn_server(
        test_config(&app.db_url),
        app.db_name.clone(),
        app.db_url.clone(),
    )
    .await;
    other
}

#[tokio::test]
async fn two_instances_do_each_jobs_work_once() {
    let app = crate::helpers::spawn_app().await;
    let b = second_instance(&app).await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    // Five emergency referrals that nobody answers, through either instance.
    let mut ids = Vec::new();
    for i in 0..5 {
        let (person, need) = person_with_need(&app, &format!("2301021990030700{i}")).await;
        consent_for(&app, &person, &care_org, json!(["referral"])).await;
        let via = if i % 2 == 0 { &app } else { &b };
        let token = via.token("daoli.ca").await;
        let r: Value = via
            .post(
                "/api/v1/referrals",
                Some(&token),
                &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org}, "urgency": "emergency"}),
            )
            .await
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    // A webhook for the bureau's people.
    let (url, inbox) = crate::webhooks::receiver(0);
    let daoli = app.token("daoli.ca").await;
    let res = app
        .post(
            "/api/v1/webhooks",
            Some(&daoli),
            &json!({"url": url, "event_types": ["referral.expired"]}),
        )
        .await;
    assert_eq!(res.status(), 201);

    let (one, two) = (app.service_context(), app.service_context());
    app.clock.advance(chrono::Duration::hours(5));
    b.clock.advance(chrono::Duration::hours(5));
    let (x, y) = tokio::join!(
        aidbridge::service::referrals::expire_overdue(&one),
        aidbridge::service::referrals::expire_overdue(&two)
    );
    assert_eq!(
        x.unwrap() + y.unwrap(),
        5,
        "each referral expired by one instance"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM referral_history WHERE to_status = 'expired'")
            .await,
        5
    );
    let (x, y) = tokio::join!(
        aidbridge::service::events::relay(&one),
        aidbridge::service::events::relay(&two)
    );
    x.unwrap();
    y.unwrap();
    assert_eq!(
        app.count("SELECT count(*) - count(DISTINCT position) AS n FROM outbox_events")
            .await,
        0,
        "every event numbered once"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM outbox_events WHERE position IS NULL")
            .await,
        0
    );
    let (x, y) = tokio::join!(
        aidbridge::service::webhooks::send_due(&one),
        aidbridge::service::webhooks::send_due(&two)
    );
    assert_eq!(x.unwrap() + y.unwrap(), 5);
    let received = inbox.received.lock().unwrap().clone();
    let mut entities: Vec<String> = received
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["entity_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    entities.sort();
    ids.sort();
    assert_eq!(entities, ids, "each expiry delivered once");
    let (x, y) = tokio::join!(
        aidbridge::service::ledger::seal(&one),
        aidbridge::service::ledger::seal(&two)
    );
    x.unwrap();
    y.unwrap();
    crate::audit::assert_sealed_once(&app).await;
    std::mem::forget(b);
}
