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
async fn the_database_refuses_to_rewrite_events_seals_or_checkpoints() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    verify(&app, &auditor).await; // seals and a checkpoint exist
    for sql in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "UPDATE audit_seals SET mac = prev_mac",
        "DELETE FROM audit_seals",
        "TRUNCATE audit_seals",
        "UPDATE audit_checkpoints SET position = position + 1",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
    ] {
        let err = app.exec(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // The seals' reference keeps events from being truncated too.
    assert!(app.exec("TRUNCATE audit_events").await.is_err());
    assert!(app.count("SELECT count(*) AS n FROM audit_events").await > 0);
}

async fn verify(app: &crate::helpers::TestApp, token: &str) -> Value {
    let res = app.get("/api/v1/audit-events/verify", Some(token)).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn verify_finds_an_event_rewritten_behind_the_trigger() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    let report = seal_runs(&app, &auditor, 3).await;
    assert_eq!(report["intact"], true, "{report}");
    let total = app.count("SELECT count(*) AS n FROM audit_events").await;
    assert_eq!(report["checked"], total);
    assert_eq!(report["unsealed"], 0);
    let first_run = app
        .count("SELECT cardinality(seqs)::bigint AS n FROM audit_seals WHERE position = 1")
        .await;
    let second_run = app
        .count("SELECT cardinality(seqs)::bigint AS n FROM audit_seals WHERE position = 2")
        .await;
    assert!(first_run > 0 && second_run > 0);

    // Someone with superuser rights bypasses the trigger and rewrites the last event of the
    // second seal; without the sealing key no MAC can be made to match it again.
    app.exec(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         UPDATE audit_events SET details = '{\"username\": \"forged\"}'
          WHERE seq = (SELECT seq FROM audit_seals WHERE position = 2);
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;",
    )
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], false);
    assert_eq!(report["first_broken"]["position"], 2, "{report}");
    assert_eq!(report["first_broken"]["problem"], "mac_mismatch");
    let rewritten = app
        .count("SELECT seq AS n FROM audit_seals WHERE position = 2")
        .await;
    let covers = report["first_broken"]["covers"].as_array().unwrap();
    assert_eq!(covers.len() as i64, second_run);
    assert!(covers.contains(&json!(rewritten)), "{report}");
    assert_eq!(
        report["checked"], first_run,
        "only the intact first seal counts"
    );
}

/// Makes `runs` seals, each over two new events (and what came before), a checkpoint after
/// each (the clock moves past the checkpoint interval); the last report.
async fn seal_runs(app: &crate::helpers::TestApp, auditor: &str, runs: usize) -> Value {
    let mut report = Value::Null;
    for _ in 0..runs {
        app.exec(
            "INSERT INTO audit_events (id, occurred_at, actor_kind, action, entity_type, details)
             SELECT gen_random_uuid(), now(), 'system', 'test.run', 'person', '{}'
             FROM generate_series(1, 2)",
        )
        .await
        .unwrap();
        app.clock.advance(chrono::Duration::seconds(11));
        report = verify(app, auditor).await;
    }
    report
}

#[tokio::test]
async fn verify_finds_a_removed_seal_and_newest_events_cut_off_behind_a_checkpoint() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    let report = seal_runs(&app, &auditor, 5).await;
    assert_eq!(report["intact"], true, "{report}");
    let head = report["checkpoint"]["position"].as_i64().unwrap();
    assert_eq!(head, 5, "{report}");
    // The newest seal and its events go, leaving a chain that is intact in itself: only the
    // signed checkpoint shows the history was cut back.
    app.exec(&format!(
        "ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_no_update_or_delete;
         ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         CREATE TEMP TABLE gone AS SELECT m.seq FROM audit_seals s, unnest(coalesce(s.seqs, ARRAY[s.seq])) AS m(seq)
          WHERE s.position = {head};
         DELETE FROM audit_seals WHERE position = {head};
         DELETE FROM audit_events WHERE seq IN (SELECT seq FROM gone);
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;
         ALTER TABLE audit_seals ENABLE TRIGGER audit_seals_no_update_or_delete;"
    ))
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_broken"]["problem"], "truncated");
    // A seal removed from the middle breaks the links after it.
    app.exec(
        "ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_no_update_or_delete;
         ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         CREATE TEMP TABLE gone3 AS SELECT m.seq FROM audit_seals s, unnest(coalesce(s.seqs, ARRAY[s.seq])) AS m(seq)
          WHERE s.position = 3;
         DELETE FROM audit_seals WHERE position = 3;
         DELETE FROM audit_events WHERE seq IN (SELECT seq FROM gone3);
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;
         ALTER TABLE audit_seals ENABLE TRIGGER audit_seals_no_update_or_delete;",
    )
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["first_broken"]["position"], 4, "{report}");
    assert_eq!(report["first_broken"]["problem"], "position_gap");
}

#[tokio::test]
async fn concurrent_changes_are_sealed_into_one_linear_chain() {
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
    assert_eq!(report["unsealed"], 0);
    assert_eq!(
        app.count("SELECT count(DISTINCT prev_mac) AS n FROM audit_seals")
            .await,
        app.count("SELECT count(*) AS n FROM audit_seals").await,
        "no two seals sharing a predecessor"
    );
    assert_sealed_once(&app).await;
}

#[tokio::test]
async fn an_event_whose_transaction_commits_late_is_sealed_late_and_the_chain_holds() {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    // A transaction appends an event and stays open while other work is appended and sealed.
    let mut slow = app.db().await;
    slow.batch_execute("BEGIN").await.unwrap();
    diesel::sql_query(
        "INSERT INTO audit_events (id, occurred_at, actor_kind, action, entity_type, details)
         VALUES (gen_random_uuid(), now(), 'system', 'slow.commit', 'person', '{}')",
    )
    .execute(&mut slow)
    .await
    .unwrap();
    let admin = app.token("admin").await;
    let org = app.org_id("哈尔滨市民政局").await;
    app.patch(
        &format!("/api/v1/organizations/{org}"),
        Some(&admin),
        &json!({"name": "哈尔滨市民政局（改）"}),
    )
    .await;
    let before = verify(&app, &auditor).await;
    assert_eq!(before["intact"], true, "{before}");
    slow.batch_execute("COMMIT").await.unwrap();
    let after = verify(&app, &auditor).await;
    assert_eq!(after["intact"], true, "{after}");
    assert_eq!(after["unsealed"], 0);
    assert_eq!(
        after["checked"].as_i64().unwrap(),
        before["checked"].as_i64().unwrap() + 1
    );
    // The late event has a lower seq than the one after it, yet the later position.
    assert_eq!(
        app.count(
            "WITH sealed AS (SELECT s.position, e.action FROM audit_seals s, unnest(coalesce(s.seqs, ARRAY[s.seq])) AS m(seq)
                             JOIN audit_events e ON e.seq = m.seq)
             SELECT count(*) AS n FROM sealed
             WHERE action = 'slow.commit'
               AND position > (SELECT position FROM sealed
                               WHERE action = 'organization.update')"
        )
        .await,
        1
    );
    drop(slow);
}

#[tokio::test]
async fn checkpoints_are_signed_with_the_published_key() {
    use base64::Engine;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    verify(&app, &auditor).await;
    let body: Value = app
        .get("/api/v1/audit-events/checkpoints", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = b64
        .decode(body["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&key).unwrap();
    let c = &body["items"][0];
    let signed_at: chrono::DateTime<chrono::Utc> =
        c["signed_at"].as_str().unwrap().parse().unwrap();
    let message = format!(
        "aidbridge audit checkpoint v1\n{}\n{}\n{}",
        c["position"],
        c["head_mac"].as_str().unwrap(),
        signed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    let sig =
        Signature::from_slice(&b64.decode(c["signature"].as_str().unwrap()).unwrap()).unwrap();
    assert!(key.verify(message.as_bytes(), &sig).is_ok());
    let charity = app.token("charity.edu").await;
    crate::helpers::problem(
        app.get("/api/v1/audit-events/checkpoints", Some(&charity))
            .await,
        403,
    )
    .await;
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
    // An unreadable hop ends the walk at the nearest trusted one: what the client wrote further
    // left cannot stand in for its address.
    let other = crate::helpers::person_body(
        &crate::helpers::resident_id("23010219800101123"),
        "230102001001",
    );
    let res = app
        .client
        .post(app.url("/api/v1/persons"))
        .bearer_auth(&daoli)
        .header("x-forwarded-for", "198.51.100.9, not-an-address, 127.0.0.2")
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.create' AND ip = '127.0.0.2'")
            .await,
        1
    );
}

#[tokio::test]
async fn several_sealers_at_once_seal_each_event_exactly_once() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    for i in 0..5 {
        app.post(
            "/api/v1/organizations",
            Some(&admin),
            &json!({"kind": "other", "name": format!("封存{i}"), "region_code": "23"}),
        )
        .await;
    }
    // Four instances' sealers wake at the same moment.
    let contexts: Vec<_> = (0..4).map(|_| app.service_context()).collect();
    let sealed =
        futures_util::future::join_all(contexts.iter().map(aidbridge::service::ledger::seal)).await;
    let total: usize = sealed.into_iter().map(Result::unwrap).sum();
    assert_eq!(
        total as i64,
        app.count("SELECT count(*) AS n FROM audit_events").await
    );
    assert_sealed_once(&app).await;
    let auditor = app.token("auditor").await;
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], true, "{report}");
}

#[tokio::test]
async fn concurrent_audited_reads_each_leave_their_record_committed_before_the_answer() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(
            &daoli,
            &crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001"),
        )
        .await;
    let path = format!("/api/v1/persons/{}", p["id"].as_str().unwrap());
    let auditor = app.token("auditor").await;
    let reads =
        futures_util::future::join_all((0..40).map(|_| app.get(&path, Some(&auditor)))).await;
    assert!(reads.iter().all(|r| r.status() == 200));
    // Every answer was preceded by its own committed record (the writer commits them in groups).
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.read'")
            .await,
        40
    );
    let report = verify(&app, &auditor).await;
    assert_eq!(report["intact"], true, "{report}");
}

/// Every event is covered by exactly one seal.
pub async fn assert_sealed_once(app: &crate::helpers::TestApp) {
    assert_eq!(
        app.count(
            "SELECT count(*) - count(DISTINCT m.seq) AS n
             FROM audit_seals s, unnest(coalesce(s.seqs, ARRAY[s.seq])) AS m(seq)"
        )
        .await,
        0,
        "no event sealed twice"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events e WHERE NOT EXISTS (
               SELECT 1 FROM audit_seals s, unnest(coalesce(s.seqs, ARRAY[s.seq])) AS m(seq)
               WHERE m.seq = e.seq)"
        )
        .await,
        0,
        "every event sealed"
    );
}

#[tokio::test]
async fn seals_of_one_event_written_before_runs_still_verify_between_runs() {
    use aidbridge::db::audit;
    use aidbridge::domain::ledger::{canonical, seal_mac, EventContent};
    use base64::Engine;
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    seal_runs(&app, &auditor, 1).await;
    // An event sealed the way the previous version did: a seal of its own, no `seqs`.
    app.exec(
        "INSERT INTO audit_events (id, occurred_at, actor_kind, action, entity_type, details)
         VALUES (gen_random_uuid(), now(), 'system', 'test.legacy', 'person', '{\"a\": [1]}')",
    )
    .await
    .unwrap();
    let mut conn = app.db().await;
    let seq = app
        .count("SELECT seq AS n FROM audit_events WHERE action = 'test.legacy'")
        .await;
    let e = audit::events(&mut conn, &[seq]).await.unwrap().remove(0);
    let last = audit::last_seal(&mut conn).await.unwrap().unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(crate::helpers::AUDIT_KEY)
        .unwrap();
    let text = canonical(&EventContent {
        id: e.id,
        occurred_at: e.occurred_at,
        actor_kind: &e.actor_kind,
        actor_id: e.actor_id,
        actor_organization_id: e.actor_organization_id,
        action: &e.action,
        entity_type: &e.entity_type,
        entity_id: e.entity_id,
        ip: e.ip.as_deref(),
        request_id: e.request_id.as_deref(),
        reason: e.reason.as_deref(),
        details: &e.details,
    });
    let mac = seal_mac(&key, last.position + 1, &last.mac, &text);
    app.exec(&format!(
        "INSERT INTO audit_seals (position, seq, prev_mac, mac, sealed_at)
         VALUES ({}, {seq}, '{}', '{mac}', now())",
        last.position + 1,
        last.mac
    ))
    .await
    .unwrap();
    let report = seal_runs(&app, &auditor, 1).await;
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(
        report["checked"],
        app.count("SELECT count(*) AS n FROM audit_events").await
    );
    assert_eq!(report["checkpoint"]["position"], 3, "run, single seal, run");

    // The list of events a run covers is sealed too: an event dropped from it is found.
    app.exec(
        "ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_no_update_or_delete;
         UPDATE audit_seals SET seqs = seqs[2:] WHERE position = 3;
         ALTER TABLE audit_seals ENABLE TRIGGER audit_seals_no_update_or_delete;",
    )
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["first_broken"]["position"], 3, "{report}");
    assert_eq!(report["first_broken"]["problem"], "mac_mismatch");
    // And a rewritten event under a single seal is named.
    app.exec(&format!(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete;
         UPDATE audit_events SET details = '{{}}' WHERE seq = {seq};
         ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete;"
    ))
    .await
    .unwrap();
    let report = verify(&app, &auditor).await;
    assert_eq!(report["first_broken"]["position"], 2, "{report}");
    assert_eq!(report["first_broken"]["problem"], "mac_mismatch");
    assert_eq!(report["first_broken"]["seq"], seq);
    assert_eq!(report["first_broken"]["covers"], json!([seq]));
}

#[tokio::test]
async fn one_event_the_database_refuses_does_not_fail_the_events_committed_with_it() {
    use aidbridge::service::audit::{anonymous, record, Recorder};
    use aidbridge::service::RequestMeta;
    let app = spawn_app().await;
    let base = app.service_context();
    let ctx = aidbridge::service::Context {
        recorder: Some(Recorder::start(base.pool.clone())),
        ..base
    };
    let meta = RequestMeta {
        ip: None,
        request_id: None,
    };
    // Twenty records at once share the writer's groups; PostgreSQL refuses the one with a NUL.
    let outcomes = futures_util::future::join_all((0..20).map(|i| {
        let action = if i == 7 { "test.\0group" } else { "test.group" };
        record(
            &ctx,
            anonymous(&ctx, "system", &meta, action, "person", None),
        )
    }))
    .await;
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o.is_ok(), i != 7, "record {i}: {o:?}");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'test.group'")
            .await,
        19
    );
}
