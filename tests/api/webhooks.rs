//! Webhooks: a subscriber receives the events it may see, signed, in order, retried with
//! back-off until delivered, dead-lettered after the last attempt, and redelivered on request.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::helpers::{person_body, problem, resident_id, spawn_app};
use crate::referrals::{consent_for, person_with_need};

#[derive(Clone, Default)]
pub struct Inbox {
    /// (signature header, body) of each request answered 200.
    pub received: Arc<Mutex<Vec<(String, String)>>>,
    /// Requests to refuse with 500 before accepting.
    failures_left: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
}

async fn hook(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    inbox.attempts.fetch_add(1, Ordering::SeqCst);
    let left = inbox.failures_left.load(Ordering::SeqCst);
    if left > 0 {
        inbox.failures_left.store(left - 1, Ordering::SeqCst);
        return HttpResponse::InternalServerError().finish();
    }
    let sig = req
        .headers()
        .get("aidbridge-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    inbox
        .received
        .lock()
        .unwrap()
        .push((sig, String::from_utf8(body.to_vec()).unwrap()));
    HttpResponse::Ok().finish()
}

/// A receiver on a local port that refuses the first `fail` requests.
pub fn receiver(fail: usize) -> (String, Inbox) {
    let inbox = Inbox::default();
    inbox.failures_left.store(fail, Ordering::SeqCst);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(inbox.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(hook))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), inbox)
}

#[tokio::test]
async fn a_subscriber_gets_its_events_signed_in_order_until_delivered() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let edu = app.token("charity.edu").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (url, inbox) = receiver(2);

    let res = app
        .post(
            "/api/v1/webhooks",
            Some(&care),
            &json!({"url": url, "event_types": ["referral.*"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let hook: Value = res.json().await.unwrap();
    let id = hook["id"].as_str().unwrap().to_owned();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let shown: Value = app
        .get(&format!("/api/v1/webhooks/{id}"), Some(&care))
        .await
        .json()
        .await
        .unwrap();
    assert!(shown.get("secret").is_none());
    problem(
        app.get(&format!("/api/v1/webhooks/{id}"), Some(&edu)).await,
        404,
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM webhook_subscriptions WHERE secret_encrypted LIKE '%{}%'",
            &secret[6..]
        ))
        .await,
        0
    );

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
    let res = app
        .post(
            &format!("/api/v1/referrals/{rid}/accept"),
            Some(&care),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let ctx = app.service_context();
    let send = || async {
        aidbridge::service::events::relay(&ctx).await.unwrap();
        aidbridge::service::webhooks::send_due(&ctx).await.unwrap()
    };
    // The receiver fails twice: the first event waits for its retries, the second behind it.
    assert_eq!(send().await, 1);
    assert_eq!(send().await, 0, "not due yet");
    app.clock.advance(chrono::Duration::seconds(40));
    assert_eq!(send().await, 1);
    assert!(inbox.received.lock().unwrap().is_empty());
    app.clock.advance(chrono::Duration::seconds(80));
    assert_eq!(send().await, 2);
    let received = inbox.received.lock().unwrap().clone();
    let types: Vec<String> = received
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["referral.created", "referral.accepted"]);
    for (sig, body) in &received {
        // A receiver's check: recompute the HMAC over "t.body" with the secret.
        let t: i64 = sig
            .split(',')
            .next()
            .unwrap()
            .trim_start_matches("t=")
            .parse()
            .unwrap();
        let at = chrono::DateTime::from_timestamp(t, 0).unwrap();
        assert_eq!(
            sig,
            &aidbridge::domain::webhook::signature(&secret, at, body)
        );
        assert!(!body.contains("张三") && !body.contains(&person));
    }

    // The log shows the attempts; a redelivery sends the event again.
    let log: Value = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&care))
        .await
        .json()
        .await
        .unwrap();
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let first = items
        .iter()
        .find(|d| d["event_type"] == "referral.created")
        .unwrap();
    assert_eq!(
        (
            first["status"].as_str(),
            first["attempts"].as_i64(),
            first["last_status_code"].as_i64()
        ),
        (Some("delivered"), Some(3), Some(200))
    );
    let again = app
        .post(
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/redeliver",
                first["id"].as_str().unwrap()
            ),
            Some(&care),
            &json!({}),
        )
        .await;
    assert_eq!(again.status(), 200);
    // Queued again, it cannot be queued twice; a delivery that does not exist is not found.
    let redeliver = |delivery: String| {
        let (app, care, id) = (&app, care.clone(), id.clone());
        async move {
            app.post(
                &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver"),
                Some(&care),
                &json!({}),
            )
            .await
        }
    };
    let p = problem(
        redeliver(first["id"].as_str().unwrap().to_owned()).await,
        409,
    )
    .await;
    assert_eq!(p["code"], "already_pending");
    problem(redeliver(uuid::Uuid::new_v4().to_string()).await, 404).await;
    assert_eq!(send().await, 1);
    assert_eq!(inbox.received.lock().unwrap().len(), 3);

    // Ended: nothing more goes out.
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{id}"), Some(&care))
            .await
            .status(),
        204
    );
    problem(
        app.delete(&format!("/api/v1/webhooks/{id}"), Some(&care))
            .await,
        409,
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/referrals/{rid}/start"),
            Some(&care),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(send().await, 0);
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_dead_lettered_and_subscriptions_are_checked() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let grid = app.token("grid.worker").await;
    let (url, inbox) = receiver(usize::MAX);
    for (body, field) in [
        (json!({"url": "http://portal.example.org/hook"}), "url"),
        (json!({"url": "ftp://127.0.0.1/hook"}), "url"),
        (
            json!({"url": url, "event_types": ["Referral"]}),
            "event_types[0]",
        ),
    ] {
        let p = problem(app.post("/api/v1/webhooks", Some(&daoli), &body).await, 422).await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    problem(
        app.post("/api/v1/webhooks", Some(&grid), &json!({"url": url}))
            .await,
        403,
    )
    .await;
    let hook: Value = app
        .post(
            "/api/v1/webhooks",
            Some(&daoli),
            &json!({"url": url, "event_types": ["person.*"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = hook["id"].as_str().unwrap();
    app.register_person(
        &daoli,
        &crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001"),
    )
    .await;
    let ctx = app.service_context();
    aidbridge::service::events::relay(&ctx).await.unwrap();
    for _ in 0..aidbridge::domain::webhook::MAX_ATTEMPTS {
        assert_eq!(
            aidbridge::service::webhooks::send_due(&ctx).await.unwrap(),
            1
        );
        app.clock.advance(chrono::Duration::hours(2));
    }
    assert_eq!(
        aidbridge::service::webhooks::send_due(&ctx).await.unwrap(),
        0
    );
    assert_eq!(inbox.attempts.load(Ordering::SeqCst), 8);
    let daoli = app.token("daoli.ca").await;
    let dead: Value = app
        .get(
            &format!("/api/v1/webhooks/{id}/deliveries?status=dead"),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead["items"][0]["attempts"], 8);
    assert_eq!(dead["items"][0]["last_status_code"], 500);
}

#[tokio::test]
async fn ended_deliveries_are_kept_as_long_as_the_events_and_pending_ones_until_they_end() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let hook: Value = app
        .post(
            "/api/v1/webhooks",
            Some(&daoli),
            &json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let id = hook["id"].as_str().expect("id");
    for (position, status, age) in [
        (1, "delivered", "200 days"),
        (2, "dead", "200 days"),
        (3, "pending", "200 days"),
        (4, "delivered", "10 days"),
    ] {
        app.exec(&format!(
            "INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_position, event_type,
                 body, status, next_attempt_at, created_at)
             VALUES (gen_random_uuid(), '{id}', gen_random_uuid(), {position}, 'person.created', '{{}}',
                 '{status}', now(), now() - interval '{age}')"
        ))
        .await
        .expect("a delivery");
    }
    // Relative to the server's clock, which the test leaves at the real time (180 days kept).
    let ctx = app.service_context();
    assert_eq!(
        aidbridge::service::webhooks::purge(&ctx)
            .await
            .expect("purge"),
        2
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = '{id}'
             AND event_position IN (3, 4)"
        ))
        .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_deliveries")
            .await,
        2
    );
}

#[tokio::test]
async fn an_organisation_holds_at_most_twenty_subscriptions_also_when_they_race() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let body = json!({"url": "http://127.0.0.1:9/hook"});
    for _ in 0..18 {
        assert_eq!(
            app.post("/api/v1/webhooks", Some(&daoli), &body)
                .await
                .status(),
            201
        );
    }
    // Five at once for the last two places: two subscribed, three refused.
    let answers = futures_util::future::join_all(
        (0..5).map(|_| app.post("/api/v1/webhooks", Some(&daoli), &body)),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 409, 409, 409]);
    let p = problem(app.post("/api/v1/webhooks", Some(&daoli), &body).await, 409).await;
    assert_eq!(p["code"], "subscription_limit");
    assert_eq!(p["limit"], 20);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_subscriptions WHERE active")
            .await,
        20
    );
    // Another organisation is not affected; one deleted makes room.
    let care = app.token("charity.care").await;
    assert_eq!(
        app.post("/api/v1/webhooks", Some(&care), &body)
            .await
            .status(),
        201
    );
    let list: Value = app
        .get("/api/v1/webhooks", Some(&daoli))
        .await
        .json()
        .await
        .expect("json");
    let first = list[0]["id"].as_str().expect("an id");
    assert_eq!(
        app.delete(&format!("/api/v1/webhooks/{first}"), Some(&daoli))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.post("/api/v1/webhooks", Some(&daoli), &body)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_subscription_serves_no_more_than_its_creator_may_read_now() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let auditor = app.token("auditor").await;
    let harbin = app.token("harbin.ca").await;
    let (url, _inbox) = receiver(0);
    let mut ids = Vec::new();
    for token in [&daoli, &auditor] {
        let hook: Value = app
            .post(
                "/api/v1/webhooks",
                Some(token),
                &json!({"url": url, "event_types": ["person.*"]}),
            )
            .await
            .json()
            .await
            .expect("json");
        ids.push(hook["id"].as_str().expect("id").to_owned());
    }
    let (bureau, supervision) = (&ids[0], &ids[1]);
    let ctx = app.service_context();
    let send = || async {
        aidbridge::service::events::relay(&ctx)
            .await
            .expect("relay");
        aidbridge::service::webhooks::send_due(&ctx)
            .await
            .expect("send")
    };
    let queued = |id: &str| {
        format!("SELECT count(*) AS n FROM webhook_deliveries WHERE subscription_id = '{id}'")
    };
    let pushes = "SELECT count(*) AS n FROM audit_events WHERE action = 'events.pushed'";

    // The bureau's account is disabled: its subscription queues nothing meanwhile; the
    // auditor's gets the event, and the push is recorded as a supervision read.
    app.exec("UPDATE users SET enabled = false WHERE username = 'daoli.ca'")
        .await
        .expect("disable");
    app.register_person(
        &harbin,
        &person_body(&resident_id("23010219900307001"), "230102001"),
    )
    .await;
    send().await;
    assert_eq!(app.count(&queued(bureau)).await, 0);
    assert_eq!(app.count(&queued(supervision)).await, 1);
    assert_eq!(app.count(pushes).await, 1);

    // Enabled again: it resumes where it stopped.
    app.exec("UPDATE users SET enabled = true WHERE username = 'daoli.ca'")
        .await
        .expect("enable");
    send().await;
    assert_eq!(app.count(&queued(bureau)).await, 1);

    // The auditor becomes an administrator (who does not read the feed): its subscription is
    // served no more; the bureau's, moved to another district, follows its new region.
    app.exec("UPDATE users SET roles = '{admin}' WHERE username = 'auditor'")
        .await
        .expect("role");
    app.exec("UPDATE users SET region_code = '230103' WHERE username = 'daoli.ca'")
        .await
        .expect("region");
    app.register_person(
        &harbin,
        &person_body(&resident_id("23010219900307002"), "230102001"),
    )
    .await;
    app.register_person(
        &harbin,
        &person_body(&resident_id("23010319900307001"), "230103001"),
    )
    .await;
    send().await;
    assert_eq!(app.count(&queued(supervision)).await, 1);
    assert_eq!(app.count(pushes).await, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id
             WHERE d.subscription_id = '{bureau}' AND e.region_code LIKE '230103%'"
        ))
        .await,
        1
    );
    assert_eq!(app.count(&queued(bureau)).await, 2);
}
