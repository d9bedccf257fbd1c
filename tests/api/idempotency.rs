//! Idempotent POSTs: a retried request with the same `Idempotency-Key` gets the first answer and
//! acts once, also when the two race; another request under the same key is refused; keys are
//! per caller, kept encrypted, and forgotten after 24 hours.

use serde_json::{json, Value};

use crate::helpers::{person_body, problem, resident_id, spawn_app, TestApp};

async fn post_with_key(
    app: &TestApp,
    token: &str,
    key: &str,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn person(app: &TestApp, token: &str) -> String {
    app.register_person(
        token,
        &person_body(&resident_id("23010219900307001"), "230102001"),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_retried_post_acts_once_and_answers_the_same() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let pid = person(&app, &daoli).await;
    let need = json!({"person_id": pid, "category": "medical", "description": "化疗", "urgency": "urgent", "source": "screening"});
    let first = post_with_key(&app, &daoli, "need-1", "/api/v1/needs", &need).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let etag = first.headers()["etag"].clone();
    let body = first.text().await.unwrap();
    let again = post_with_key(&app, &daoli, "need-1", "/api/v1/needs", &need).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        (
            again.headers()["location"].clone(),
            again.headers()["etag"].clone()
        ),
        (location, etag)
    );
    assert_eq!(again.text().await.unwrap(), body);
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 1);

    // The same key with another request is refused; another key acts.
    let mut other = need.clone();
    other["description"] = json!("康复");
    let p = problem(
        post_with_key(&app, &daoli, "need-1", "/api/v1/needs", &other).await,
        422,
    )
    .await;
    assert_eq!(p["code"], "idempotency_key_reused");
    assert_eq!(
        post_with_key(&app, &daoli, "need-2", "/api/v1/needs", &other)
            .await
            .status(),
        201
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 2);

    // A refusal is an answer too: the retry gets it without acting.
    let bad = json!({"person_id": pid, "category": "medical", "description": "", "urgency": "urgent", "source": "screening"});
    let p1 = problem(
        post_with_key(&app, &daoli, "need-3", "/api/v1/needs", &bad).await,
        422,
    )
    .await;
    let p2 = problem(
        post_with_key(&app, &daoli, "need-3", "/api/v1/needs", &bad).await,
        422,
    )
    .await;
    assert_eq!(p1, p2);

    // Keys are per caller: another user's "need-1" is its own.
    let harbin = app.token("harbin.ca").await;
    assert_eq!(
        post_with_key(&app, &harbin, "need-1", "/api/v1/needs", &other)
            .await
            .status(),
        201
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 3);

    // Kept encrypted; bad keys named.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM idempotency_keys WHERE response LIKE '%化疗%' OR response LIKE '%person_id%'").await,
        0
    );
    for key in ["", &"k".repeat(256), "键"] {
        let res = app
            .client
            .post(app.url("/api/v1/needs"))
            .bearer_auth(&daoli)
            .header("idempotency-key", key.as_bytes())
            .json(&need)
            .send()
            .await
            .unwrap();
        let p = problem(res, 400).await;
        assert_eq!(p["code"], "invalid_idempotency_key");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 3);
}

#[tokio::test]
async fn racing_duplicates_act_once_and_keys_expire_after_a_day() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let pid = person(&app, &daoli).await;
    let need = json!({"person_id": pid, "category": "medical", "description": "化疗", "urgency": "urgent", "source": "screening"});
    let racers = (0..8).map(|_| {
        let (app, daoli, need) = (&app, &daoli, &need);
        async move {
            let res = post_with_key(app, daoli, "race", "/api/v1/needs", need).await;
            (res.status().as_u16(), res.text().await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(racers).await;
    assert!(
        answers.iter().all(|(s, b)| *s == 201 && *b == answers[0].1),
        "{answers:?}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 1);

    // A day later the key is forgotten: the same request acts again.
    app.clock.advance(chrono::Duration::hours(25));
    let ctx = app.service_context();
    assert_eq!(
        aidbridge::service::idempotency::sweep(&ctx).await.unwrap(),
        1
    );
    let daoli = app.token("daoli.ca").await;
    let res = post_with_key(&app, &daoli, "race", "/api/v1/needs", &need).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 2);
    // An expired key not yet swept is taken over as well.
    app.clock.advance(chrono::Duration::hours(25));
    let daoli = app.token("daoli.ca").await;
    assert!(post_with_key(&app, &daoli, "race", "/api/v1/needs", &need)
        .await
        .headers()
        .get("idempotent-replayed")
        .is_none());
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 3);
}

#[tokio::test]
async fn reads_are_never_replayed_and_secrets_are_not_kept() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let pid = person(&app, &daoli).await;
    let why = json!({"purpose": "核实身份以发放救助"});
    let path = format!("/api/v1/persons/{pid}/reveal");
    for _ in 0..2 {
        let res = post_with_key(&app, &daoli, "reveal-1", &path, &why).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("idempotent-replayed").is_none());
    }
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM audit_events WHERE action = 'person.reveal' AND entity_id = '{pid}'")).await,
        2,
        "each disclosure decided and recorded afresh"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM idempotency_keys")
            .await,
        0
    );

    let hook = json!({"url": "https://portal.example.org/hooks"});
    let first: Value = post_with_key(&app, &daoli, "hook-1", "/api/v1/webhooks", &hook)
        .await
        .json()
        .await
        .unwrap();
    assert!(first["secret"].as_str().is_some());
    let again = post_with_key(&app, &daoli, "hook-1", "/api/v1/webhooks", &hook).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert!(again.get("secret").is_none(), "a secret is shown once");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM webhook_subscriptions")
            .await,
        1
    );
}
