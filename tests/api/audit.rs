//! The audit trail: written with the change (and only then), append-only, hash-chained.

use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, CHARITY_USCC};

fn charity() -> Value {
    json!({"kind": "charity", "name": "审计测试基金会", "uscc": CHARITY_USCC, "region_code": "2301"})
}

#[tokio::test]
async fn a_change_writes_one_audit_event_with_who_where_and_which_request() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let before = app.count("SELECT count(*) AS n FROM audit_events").await;
    let res = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&admin)
        .header("x-request-id", "req-audit-1")
        .json(&charity())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let org: Value = res.json().await.unwrap();
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events").await,
        before + 1
    );
    let claims = app.keys.verify(&admin, chrono::Utc::now()).unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'organization.create' AND entity_type = 'organization'
             AND entity_id = '{}' AND actor_id = '{}' AND actor_organization_id = '{}' AND actor_kind = 'user'
             AND ip = '127.0.0.1' AND request_id = 'req-audit-1'",
            org["id"].as_str().unwrap(),
            claims.sub,
            claims.org
        ))
        .await,
        1
    );

    let auditor = app.token("auditor").await;
    let page: Value = app
        .get(
            &format!(
                "/api/v1/audit-events?entity_id={}",
                org["id"].as_str().unwrap()
            ),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["request_id"], "req-audit-1");
    assert_eq!(page["items"][0]["details"]["kind"], "charity");
}

#[tokio::test]
async fn failed_requests_leave_no_audit_event() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    assert_eq!(
        app.post("/api/v1/organizations", Some(&admin), &charity())
            .await
            .status(),
        201
    );
    let before = app.count("SELECT count(*) AS n FROM audit_events").await;
    // Rejected by validation, by the unique constraint inside the transaction, and by role.
    let mut bad = charity();
    bad["region_code"] = json!("999");
    problem(
        app.post("/api/v1/organizations", Some(&admin), &bad).await,
        422,
    )
    .await;
    problem(
        app.post("/api/v1/organizations", Some(&admin), &charity())
            .await,
        409,
    )
    .await;
    let ca = app.token("harbin.ca").await;
    problem(
        app.post("/api/v1/organizations", Some(&ca), &charity())
            .await,
        403,
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events").await,
        before
    );
}

#[tokio::test]
async fn the_database_refuses_to_update_delete_or_truncate_audit_events() {
    let app = spawn_app().await;
    for sql in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let err = app.exec(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert!(app.count("SELECT count(*) AS n FROM audit_events").await > 0);
}

async fn verify(app: &crate::helpers::TestApp, token: &str) -> Value {
    let res = app.get("/api/v1/audit-events/verify", Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn verify_finds_an_altered_event_and_a_removed_one() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], true, "{report}");
    let total = app.count("SELECT count(*) AS n FROM audit_events").await;
    assert_eq!(report["checked"], total);

    // Someone with superuser rights bypasses the trigger and rewrites event 5.
    app.exec(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         UPDATE audit_events SET details = '{\"username\": \"forged\"}' WHERE seq = 5;
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;",
    )
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], false);
    assert_eq!(report["first_broken"]["seq"], 5);
    assert_eq!(report["first_broken"]["problem"], "hash_mismatch");
    assert_eq!(report["checked"], 5);
}

#[tokio::test]
async fn verify_finds_a_deleted_event() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    app.exec(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         DELETE FROM audit_events WHERE seq = 3;
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;",
    )
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["first_broken"]["seq"], 4);
    assert_eq!(report["first_broken"]["problem"], "prev_hash_mismatch");
}

#[tokio::test]
async fn concurrent_changes_keep_one_linear_chain() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let codes = ["53230000MJ000123XE", "91350100M000100Y43"];
    let mut bodies = Vec::new();
    for i in 0..12 {
        let mut b = json!({"kind": "other", "name": format!("并发组织{i}"), "region_code": "2301"});
        if i < codes.len() {
            b["kind"] = json!("enterprise");
            b["uscc"] = json!(codes[i]);
        }
        bodies.push(b);
    }
    let results = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| app.post("/api/v1/organizations", Some(&admin), b)),
    )
    .await;
    assert!(results.iter().all(|r| r.status() == 201));
    let auditor = app.token("auditor").await;
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        app.count("SELECT count(DISTINCT prev_hash) AS n FROM audit_events")
            .await,
        app.count("SELECT count(*) AS n FROM audit_events").await,
        "no two events may share a predecessor"
    );
}

#[tokio::test]
async fn only_auditors_read_the_audit_trail() {
    let app = spawn_app().await;
    for user in ["admin", "province.ca", "federation", "grid.worker"] {
        let token = app.token(user).await;
        problem(app.get("/api/v1/audit-events", Some(&token)).await, 403).await;
        problem(
            app.get("/api/v1/audit-events/verify", Some(&token)).await,
            403,
        )
        .await;
    }
    let auditor = app.token("auditor").await;
    let page: Value = app
        .get(
            "/api/v1/audit-events?limit=3&entity_type=user",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|e| e["entity_type"] == "user"));
    assert!(
        items[0]["seq"].as_i64() > items[1]["seq"].as_i64(),
        "newest first"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get(
            &format!("/api/v1/audit-events?limit=3&entity_type=user&cursor={cursor}"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(next["items"][0]["seq"].as_i64() < items[2]["seq"].as_i64());
    let later: Value = app
        .get(
            "/api/v1/audit-events?from=2150-01-01T00:00:00Z",
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(later["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    // Not trusted: the header is the client's word and is ignored.
    let app = crate::helpers::spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let body = crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001");
    let res = app
        .client
        .post(app.url("/api/v1/persons"))
        .bearer_auth(&daoli)
        .header("x-forwarded-for", "203.0.113.7")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.create' AND ip = '127.0.0.1'")
            .await,
        1
    );
    // Behind a trusted proxy: the nearest untrusted hop, not what the client wrote before it.
    let app = crate::helpers::spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]
    })
    .await;
    let daoli = app.token("daoli.ca").await;
    let res = app
        .client
        .post(app.url("/api/v1/persons"))
        .bearer_auth(&daoli)
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.7, 127.0.0.2")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.create' AND ip = '203.0.113.7'")
            .await,
        1
    );
}
