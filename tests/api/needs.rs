//! Needs: recording, filtering, region scope and the status machine under concurrency.

use serde_json::{json, Value};

use crate::helpers::{fields, person_body, problem, spawn_app, TestApp, ADULT_ID};

async fn need(app: &TestApp, token: &str, person: &Value, category: &str, urgency: &str) -> Value {
    let res = app
        .post(
            "/api/v1/needs",
            Some(token),
            &json!({"person_id": person["id"], "category": category, "description": "需要帮助", "amount_requested_fen": 500000, "urgency": urgency, "source": "screening"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn needs_are_recorded_filtered_and_scoped() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001"))
        .await;
    let medical = need(&app, &daoli, &person, "medical", "emergency").await;
    assert_eq!(medical["status"], "open");
    assert_eq!(medical["region_code"], "230102001");
    need(&app, &daoli, &person, "education", "normal").await;

    let harbin = app.token("harbin.ca").await;
    let all: Value = app
        .get("/api/v1/needs", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let urgent: Value = app
        .get(
            "/api/v1/needs?urgency=emergency&category=medical&status=open",
            Some(&harbin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(urgent["items"].as_array().unwrap().len(), 1);
    assert_eq!(urgent["items"][0]["id"], medical["id"]);
    let none: Value = app
        .get("/api/v1/needs?region=230103", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
    let paged: Value = app
        .get("/api/v1/needs?limit=1", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    let cursor = paged["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(
            &format!("/api/v1/needs?limit=1&cursor={cursor}"),
            Some(&harbin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(rest["items"][0]["id"], paged["items"][0]["id"]);

    let qiqihar = app.qiqihar_token().await;
    let theirs: Value = app
        .get("/api/v1/needs", Some(&qiqihar))
        .await
        .json()
        .await
        .unwrap();
    assert!(theirs["items"].as_array().unwrap().is_empty());
    problem(
        app.get(
            &format!("/api/v1/needs/{}", medical["id"].as_str().unwrap()),
            Some(&qiqihar),
        )
        .await,
        404,
    )
    .await;
    let res = app
        .post("/api/v1/needs", Some(&qiqihar), &json!({"person_id": person["id"], "category": "medical", "description": "x", "urgency": "normal", "source": "screening"}))
        .await;
    problem(res, 404).await;
    let grid = app.token("grid.worker").await;
    problem(app.get("/api/v1/needs", Some(&grid)).await, 403).await;
    let auditor = app.token("auditor").await;
    assert_eq!(
        app.get(
            &format!("/api/v1/needs/{}", medical["id"].as_str().unwrap()),
            Some(&auditor)
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn need_fields_are_validated() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let body = json!({"person_id": person["id"], "category": "medical", "description": "", "amount_requested_fen": -5, "urgency": "normal", "source": "screening"});
    let p = problem(app.post("/api/v1/needs", Some(&daoli), &body).await, 422).await;
    assert_eq!(fields(&p), vec!["amount_requested_fen", "description"]);
    let mut body = body.clone();
    body["description"] = json!("x");
    body["amount_requested_fen"] = json!(100);
    body["urgency"] = json!("whenever");
    assert_eq!(
        fields(&problem(app.post("/api/v1/needs", Some(&daoli), &body).await, 422).await),
        vec!["urgency"]
    );
    body["urgency"] = json!("urgent");
    body["person_id"] = json!(uuid::Uuid::new_v4());
    problem(app.post("/api/v1/needs", Some(&daoli), &body).await, 404).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 0);
}

#[tokio::test]
async fn the_status_machine_refuses_illegal_moves_naming_both_states() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let n = need(&app, &daoli, &person, "living", "urgent").await;
    let path = format!("/api/v1/needs/{}", n["id"].as_str().unwrap());
    let p = problem(
        app.patch(&path, Some(&daoli), &json!({"status": "met"}))
            .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "illegal_transition");
    assert_eq!(
        (p["from"].as_str(), p["to"].as_str()),
        (Some("open"), Some("met"))
    );
    assert!(
        p["detail"].as_str().unwrap().contains("open")
            && p["detail"].as_str().unwrap().contains("met")
    );
    for step in ["referred", "met"] {
        let res = app
            .patch(
                &path,
                Some(&daoli),
                &json!({"status": step, "note": "step"}),
            )
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["status"], step);
    }
    let p = problem(
        app.patch(&path, Some(&daoli), &json!({"status": "open"}))
            .await,
        409,
    )
    .await;
    assert_eq!(p["from"], "met");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM needs WHERE id = '{}' AND status = 'met'",
            n["id"].as_str().unwrap()
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'need.status'")
            .await,
        2
    );
    let auditor = app.token("auditor").await;
    problem(
        app.patch(&path, Some(&auditor), &json!({"status": "closed"}))
            .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn racing_status_changes_leave_one_winner() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102"))
        .await;
    let n = need(&app, &daoli, &person, "housing", "normal").await;
    let path = format!("/api/v1/needs/{}", n["id"].as_str().unwrap());
    let moves = [
        "referred", "closed", "referred", "closed", "referred", "closed",
    ];
    let bodies: Vec<Value> = moves.iter().map(|s| json!({"status": s})).collect();
    let results =
        futures_util::future::join_all(bodies.iter().map(|b| app.patch(&path, Some(&daoli), b)))
            .await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    let conflicts = results.iter().filter(|r| r.status() == 409).count();
    assert_eq!(ok + conflicts, moves.len());
    let events = app
        .count("SELECT count(*) AS n FROM audit_events WHERE action = 'need.status'")
        .await;
    assert_eq!(events as usize, ok, "one audit event per successful move");
    // No lost update: the recorded moves chain from `open`, each starting where the previous
    // one ended, and the need is where the last one left it.
    #[derive(diesel::QueryableByName)]
    struct Move {
        #[diesel(sql_type = diesel::sql_types::Text)]
        from: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        to: String,
    }
    use diesel_async::RunQueryDsl;
    let mut conn = app.db().await;
    let history: Vec<Move> = diesel::sql_query(
        "SELECT details->>'from' AS from, details->>'to' AS to FROM audit_events
         WHERE action = 'need.status' ORDER BY seq",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut state = "open".to_string();
    for m in &history {
        assert_eq!(
            m.from, state,
            "a move started from a state that had already changed"
        );
        state = m.to.clone();
    }
    assert!((1..=2).contains(&ok), "{ok} moves succeeded");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM needs WHERE id = '{}' AND status = '{state}'",
            n["id"].as_str().unwrap()
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn free_text_refuses_id_numbers_and_phones() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(
            &daoli,
            &crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001"),
        )
        .await;
    let body = serde_json::json!({"person_id": p["id"], "category": "medical",
        "description": "患者身份证 230102199003070015，电话 13812345678",
        "urgency": "normal", "source": "screening"});
    let res = app.post("/api/v1/needs", Some(&daoli), &body).await;
    let problem = crate::helpers::problem(res, 422).await;
    assert_eq!(crate::helpers::fields(&problem), vec!["description"]);
    assert_eq!(problem["errors"][0]["code"], "contains_identifier");
    assert_eq!(app.count("SELECT count(*) AS n FROM needs").await, 0);
    let path = format!("/api/v1/persons/{}", p["id"].as_str().unwrap());
    let res = app
        .patch(
            &path,
            Some(&daoli),
            &serde_json::json!({"name": "李四", "reason": "家属电话 139 1234 5678"}),
        )
        .await;
    let problem = crate::helpers::problem(res, 422).await;
    assert_eq!(crate::helpers::fields(&problem), vec!["reason"]);
    let res = app
        .post(
            &format!("{path}/reveal"),
            Some(&daoli),
            &serde_json::json!({"purpose": "核对 230102199003070015"}),
        )
        .await;
    assert_eq!(
        crate::helpers::problem(res, 422).await["errors"][0]["field"],
        "purpose"
    );
}

#[tokio::test]
async fn needs_follow_their_person_to_a_new_region() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let harbin = app.token("harbin.ca").await;
    let p = app
        .register_person(
            &daoli,
            &crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001"),
        )
        .await;
    let need = need(&app, &daoli, &p, "living", "normal").await;
    let need_path = format!("/api/v1/needs/{}", need["id"].as_str().unwrap());
    // The city bureau moves the person to another district.
    let res = app
        .patch(
            &format!("/api/v1/persons/{}", p["id"].as_str().unwrap()),
            Some(&harbin),
            &json!({"region_code": "230103001001"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The old district no longer reaches the need; the new region's staff do.
    problem(app.get(&need_path, Some(&daoli)).await, 404).await;
    let listed: Value = app
        .get(
            &format!("/api/v1/needs?person_id={}", p["id"].as_str().unwrap()),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["items"].as_array().unwrap().is_empty());
    let moved: Value = app
        .get(&need_path, Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["region_code"], "230103001001");
}

#[tokio::test]
async fn whether_an_id_exists_is_not_told_to_callers_without_access() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(
            &daoli,
            &crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001"),
        )
        .await;
    let need = need(&app, &daoli, &p, "living", "normal").await;
    let real_person = format!("/api/v1/persons/{}", p["id"].as_str().unwrap());
    let made_up = format!("/api/v1/persons/{}", uuid::Uuid::new_v4());
    let charity = app.token("charity.care").await;
    let grid = app.token("grid.worker").await;
    for path in [&real_person, &made_up] {
        // A charity that names no purpose: the same 422 for both.
        problem(app.get(path, Some(&charity)).await, 422).await;
        problem(
            app.get(&format!("{path}/government-aid"), Some(&charity))
                .await,
            422,
        )
        .await;
        problem(app.get(path, Some(&grid)).await, 403).await;
    }
    for path in [
        format!("/api/v1/needs/{}", need["id"].as_str().unwrap()),
        format!("/api/v1/needs/{}", uuid::Uuid::new_v4()),
    ] {
        problem(app.get(&path, Some(&grid)).await, 403).await;
        problem(app.get(&path, Some(&charity)).await, 403).await;
    }
}
