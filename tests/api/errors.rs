//! Every rejection, actix's own included, comes out as problem+json naming what was wrong.

use serde_json::{json, Value};

use crate::helpers::{fields, problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let res = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(r#"{"kind": "charity", "name": "#)
        .send()
        .await
        .unwrap();
    let p = problem(res, 400).await;
    assert_eq!(p["code"], "malformed_json");
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let body = json!({"kind": "charity", "name": "x", "uscc": "53230000MJ000123XE", "region_code": "23", "public_fundraising": "yes"});
    let p = problem(
        app.post("/api/v1/organizations", Some(&admin), &body).await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["public_fundraising"]);
    let p = problem(
        app.post(
            "/api/v1/organizations",
            Some(&admin),
            &json!({"kind": "charity", "name": "x", "region_code": "23", "colour": 1}),
        )
        .await,
        422,
    )
    .await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{p}"
    );
}

#[tokio::test]
async fn the_wrong_content_type_is_a_415_problem() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let res = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("kind=charity")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 415).await["code"], "unsupported_media_type");
}

#[tokio::test]
async fn a_bad_uuid_in_the_path_names_the_parameter() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let p = problem(
        app.get("/api/v1/organizations/not-a-uuid", Some(&admin))
            .await,
        400,
    )
    .await;
    assert_eq!(p["code"], "invalid_path_parameter");
    assert_eq!(fields(&p), vec!["id"]);
    let org = app.org_id("黑龙江省慈善总会").await;
    let p = problem(
        app.patch(
            &format!("/api/v1/organizations/{org}/users/42"),
            Some(&admin),
            &json!({}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["user_id"]);
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let p = problem(
        app.get("/api/v1/organizations?limit=lots", Some(&admin))
            .await,
        400,
    )
    .await;
    assert_eq!(p["code"], "invalid_query");
    assert_eq!(fields(&p), vec!["limit"]);
    let p = problem(
        app.get("/api/v1/organizations?limit=0", Some(&admin)).await,
        400,
    )
    .await;
    assert_eq!(p["code"], "invalid_query");
    assert_eq!(fields(&p), vec!["limit"]);
    let p = problem(
        app.get("/api/v1/organizations?cursor=abc", Some(&admin))
            .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["cursor"]);
    let p = problem(
        app.get("/api/v1/organizations?kind=bank", Some(&admin))
            .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["kind"]);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = spawn_app().await;
    let p = problem(app.get("/api/v1/nothing-here", None).await, 404).await;
    assert_eq!(p["code"], "route_not_found");
    let res = app
        .client
        .delete(app.url("/api/v1/organizations"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, POST");
    assert_eq!(problem(res, 405).await["code"], "method_not_allowed");
    let res = app.client.put(app.url("/healthz")).send().await.unwrap();
    problem(res, 405).await;
    // A served method at an unserved spelling of the path is not "method not allowed".
    assert_eq!(
        problem(app.get("/api/v1/organizations/", None).await, 404).await["code"],
        "route_not_found"
    );
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = spawn_app_with(|c| c.max_body_bytes = 1024).await;
    let admin = app.token("admin").await;
    let body = json!({"kind": "charity", "name": "x".repeat(2000), "region_code": "23"});
    let p = problem(
        app.post("/api/v1/organizations", Some(&admin), &body).await,
        413,
    )
    .await;
    assert_eq!(p["code"], "payload_too_large");
    // Also without a Content-Length (chunked).
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..20).map(|_| Ok("x".repeat(100))).collect();
    let res = app
        .client
        .post(app.url("/api/v1/organizations"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    problem(res, 413).await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "municipal-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "municipal-4711");
    let res = app.get("/api/v1/nothing", None).await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
}

#[tokio::test]
async fn the_role_is_checked_before_the_body_and_all_field_failures_come_at_once() {
    let app = spawn_app().await;
    let invalid_org = json!({"kind": "charity", "name": "", "uscc": "bad", "region_code": "99"});
    let harbin = app.token("harbin.ca").await;
    // A caller without the role learns nothing about the rules.
    let p = problem(
        app.post("/api/v1/organizations", Some(&harbin), &invalid_org)
            .await,
        403,
    )
    .await;
    assert!(fields(&p).is_empty());
    let grid = app.token("grid.worker").await;
    let invalid_person = json!({"name": "x".repeat(101), "id_number": "230102199003070016", "region_code": "2301", "household": {"size": 0}});
    problem(
        app.post("/api/v1/persons", Some(&grid), &invalid_person)
            .await,
        403,
    )
    .await;
    // An entitled caller gets the declarative and the domain failures in one answer.
    let admin = app.token("admin").await;
    let p = problem(
        app.post("/api/v1/organizations", Some(&admin), &invalid_org)
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["name", "region_code", "uscc"]);
    let p = problem(
        app.post("/api/v1/persons", Some(&harbin), &invalid_person)
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["household.size", "id_number", "name"]);
}

#[tokio::test]
async fn messages_are_chinese_by_default_and_english_on_request() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    // A client that states no language: Chinese, for the case workers.
    let plain = reqwest::Client::new();
    let bad = serde_json::json!({"name": "", "id_number": "230102199003070016",
                                 "region_code": "2302"});
    let send = |lang: Option<&'static str>| {
        let mut req = plain
            .post(app.url("/api/v1/persons"))
            .bearer_auth(&daoli)
            .json(&bad);
        if let Some(l) = lang {
            req = req.header("accept-language", l);
        }
        req.send()
    };
    let res = send(None).await.unwrap();
    assert_eq!(res.headers()["content-language"], "zh-CN");
    let zh = problem(res, 422).await;
    assert_eq!(zh["title"], "字段无效");
    assert_eq!(zh["code"], "validation_failed");
    assert_eq!(fields(&zh), vec!["id_number", "name"]);
    let messages: Vec<&str> = zh["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        vec!["校验码（最后一位）错误", "长度须在 1 到 100 之间"]
    );
    assert_eq!(zh["detail"], "2 个字段无效");

    let res = send(Some("en-GB,en;q=0.9,zh;q=0.5")).await.unwrap();
    assert_eq!(res.headers()["content-language"], "en");
    let en = problem(res, 422).await;
    assert_eq!(en["title"], "Unprocessable Entity");
    assert_eq!(fields(&en), fields(&zh), "fields and codes do not change");
    assert!(en["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("check digit"));

    // Errors raised before any handler runs, and the router's own, are translated too.
    let res = plain.get(app.url("/api/v1/me")).send().await.unwrap();
    let p = problem(res, 401).await;
    assert_eq!(p["detail"], "请提供访问令牌：Authorization: Bearer <token>");
    let res = plain
        .delete(app.url("/api/v1/persons"))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("allow").is_some());
    let p = problem(res, 405).await;
    assert_eq!(p["title"], "方法不允许");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("此路径不允许 DELETE"),
        "{p}"
    );
    // A region outside the caller's: the values stay, the words change.
    let res = plain
        .get(app.url("/api/v1/persons?region=2302"))
        .bearer_auth(&daoli)
        .send()
        .await
        .unwrap();
    let p = problem(res, 403).await;
    assert_eq!(p["detail"], "区域 2302 超出您的辖区 230102");
}

#[tokio::test]
async fn nul_characters_far_dates_and_oversized_names_are_client_errors_never_500() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let admin = app.token("admin").await;
    let auditor = app.token("auditor").await;
    // A NUL in any JSON string: 422 naming the field, nothing written.
    let mut body = crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001");
    body["household"]["key"] = json!("HLJ\u{0}1");
    let p = problem(app.post("/api/v1/persons", Some(&daoli), &body).await, 422).await;
    assert_eq!(fields(&p), vec!["household.key"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 0);
    // Years the database cannot hold.
    let mut body = crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001");
    body["low_income"]["valid_from"] = json!("1000-01-01");
    let p = problem(app.post("/api/v1/persons", Some(&daoli), &body).await, 422).await;
    assert!(
        fields(&p).contains(&"low_income.valid_from".to_owned()),
        "{p}"
    );
    let p = problem(
        app.get(
            "/api/v1/audit-events?from=%2B200000-01-01T00:00:00Z",
            Some(&auditor),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["from"]);
    // A user name of 10 kB, or with a NUL: a plain OAuth invalid_request.
    for name in ["x".repeat(10_000), "ad\u{0}min".to_owned()] {
        let res = app.try_token(&name, "whatever").await;
        assert_eq!(res.status(), 400);
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["error"], "invalid_request");
    }
    // An organisation name of 100 kB is a 422 naming it.
    let mut org = json!({"kind": "other", "name": "n".repeat(100_000), "region_code": "23"});
    let p = problem(
        app.post("/api/v1/organizations", Some(&admin), &org).await,
        413,
    )
    .await;
    assert_eq!(p["code"], "payload_too_large");
    org["name"] = json!("n".repeat(300));
    let p = problem(
        app.post("/api/v1/organizations", Some(&admin), &org).await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["name"]);
}

#[tokio::test]
async fn metrics_keep_one_label_for_unmatched_paths_and_can_require_a_token() {
    let app = spawn_app_with(|c| c.metrics_token = Some("metrics-secret-123".into())).await;
    for i in 0..20 {
        app.get(&format!("/no/such/path/{i}"), None).await;
    }
    problem(app.get("/metrics", None).await, 401).await;
    let res = app.get("/metrics", Some("metrics-secret-123")).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("/no/such/path"),
        "unmatched paths became labels"
    );
    assert!(text.contains("UNMATCHED"));
}

#[tokio::test]
async fn blank_names_are_named_fields_not_database_rule_breaks() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let admin = app.token("admin").await;
    let mut body = crate::helpers::person_body(crate::helpers::ADULT_ID, "230102001001");
    body["name"] = json!("   ");
    let p = problem(app.post("/api/v1/persons", Some(&daoli), &body).await, 422).await;
    assert_eq!(
        (p["code"].as_str(), fields(&p)),
        (Some("validation_failed"), vec!["name".to_owned()])
    );
    let org = json!({"kind": "other", "name": " \t ", "region_code": "23"});
    let p = problem(
        app.post("/api/v1/organizations", Some(&admin), &org).await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["name"]);
}

#[tokio::test]
async fn sessions_the_database_ends_are_replaced_and_never_answered_with_a_500() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    assert_eq!(app.get("/api/v1/persons", Some(&daoli)).await.status(), 200);
    // The database ends every session of the server's pool (a failover, an administrator).
    app.exec(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        app.db_name
    ))
    .await
    .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = app.get("/api/v1/persons", Some(&daoli)).await;
        let status = res.status().as_u16();
        if status == 503 {
            assert!(res.headers().get("retry-after").is_some());
        }
        statuses.push(status);
    }
    assert!(!statuses.contains(&500), "{statuses:?}");
    // And the pool heals: broken connections are replaced.
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
}
