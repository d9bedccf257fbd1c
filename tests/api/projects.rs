//! Projects: life cycle, versions, edit rights and who sees drafts.

use serde_json::{json, Value};

use crate::helpers::{fields, problem, spawn_app, TestApp};

pub fn project_body(name: &str) -> Value {
    json!({
        "name": name,
        "categories": ["medical"],
        "aid_form": "material",
        "eligibility": {"region_prefixes": ["2301"], "tiers": ["subsistence_allowance"]},
        "per_person_cap_fen": 2000000,
        "capacity": 3,
        "budget_fen": 10000000,
        "starts_on": "2026-01-01",
        "ends_on": "2099-12-31",
        "procedures": "经转介或申请，三个工作日内答复。",
        "standards": "每人最高 2 万元。",
        "contact": "0451-84000000"
    })
}

/// Creates and publishes a project as `token`'s charity; returns it.
pub async fn published_project(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post("/api/v1/projects", Some(token), body).await;
    assert_eq!(res.status(), 201, "create project");
    let p: Value = res.json().await.unwrap();
    let res = app
        .post(
            &format!("/api/v1/projects/{}/publish", p["id"].as_str().unwrap()),
            Some(token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200, "publish project");
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_project_goes_from_draft_to_published_to_closed_with_its_versions() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let res = app
        .post("/api/v1/projects", Some(&edu), &project_body("助医项目"))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let p: Value = res.json().await.unwrap();
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["status"], "draft");
    assert_eq!(p["places_left"], 3);
    assert_eq!(p["eligibility"]["region_prefixes"], json!(["2301"]));

    // A draft: its charity and its federation see it; another charity and a bureau do not.
    let care = app.token("charity.care").await;
    let federation = app.token("federation").await;
    let harbin = app.token("harbin.ca").await;
    let path = format!("/api/v1/projects/{id}");
    assert_eq!(app.get(&path, Some(&federation)).await.status(), 200);
    assert_eq!(app.get(&path, Some(&care)).await.status(), 404);
    assert_eq!(app.get(&path, Some(&harbin)).await.status(), 404);
    let members: Value = app
        .get("/api/v1/projects?scope=members", Some(&federation))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["items"].as_array().unwrap().len(), 1);

    // Drafts change without history.
    let res = app
        .patch(&path, Some(&edu), &json!({"name": "大病助医项目"}))
        .await;
    assert_eq!(res.status(), 200);
    let versions: Value = app
        .get(&format!("{path}/versions"), Some(&edu))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions, json!([]));

    // Only the owner edits or publishes.
    let res = app
        .patch(&path, Some(&federation), &json!({"capacity": 9}))
        .await;
    problem(res, 403).await;
    let res = app
        .post(&format!("{path}/publish"), Some(&harbin), &json!({}))
        .await;
    problem(res, 403).await;

    let res = app
        .post(&format!("{path}/publish"), Some(&edu), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let published: Value = res.json().await.unwrap();
    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_string());
    // Now public to every signed-in caller, bureaus of the region in their default list.
    assert_eq!(app.get(&path, Some(&care)).await.status(), 200);
    let listed: Value = app
        .get("/api/v1/projects", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let qiqihar = app.qiqihar_token().await;
    let elsewhere: Value = app
        .get("/api/v1/projects", Some(&qiqihar))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(elsewhere["items"], json!([]));

    // A published project's changes are versioned, with the reason.
    let res = app
        .patch(
            &path,
            Some(&edu),
            &json!({"capacity": 5, "eligibility": {"min_age": 18}, "reason": "追加名额"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["places_left"], 5);
    assert_eq!(changed["eligibility"]["min_age"], 18);
    assert_eq!(
        changed["eligibility"]["tiers"],
        json!(["subsistence_allowance"])
    );
    let versions: Value = app
        .get(&format!("{path}/versions"), Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["project"]["capacity"], 3);
    assert_eq!(versions[1]["project"]["capacity"], 5);
    assert_eq!(versions[1]["reason"], "追加名额");

    // Publishing twice is an illegal move; a stale If-Match writes nothing.
    let res = app
        .post(&format!("{path}/publish"), Some(&edu), &json!({}))
        .await;
    let body = problem(res, 409).await;
    assert_eq!(body["code"], "illegal_transition");
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&edu)
        .header("If-Match", "\"1\"")
        .json(&json!({"capacity": 7}))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;

    let res = app
        .post(&format!("{path}/close"), Some(&edu), &json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app.patch(&path, Some(&edu), &json!({"capacity": 9})).await;
    assert_eq!(problem(res, 409).await["code"], "project_closed");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM project_versions WHERE project_id = '{id}'"
        ))
        .await,
        3
    );
    // History is append-only in the database itself.
    assert!(app
        .exec(&format!(
            "UPDATE project_versions SET reason = 'x' WHERE project_id = '{id}'"
        ))
        .await
        .is_err());
}

#[tokio::test]
async fn project_fields_are_checked_and_named() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let mut body = project_body("x");
    body["eligibility"]["region_prefixes"] = json!(["2301", "11", "abc"]);
    body["eligibility"]["min_age"] = json!(60);
    body["eligibility"]["max_age"] = json!(18);
    body["ends_on"] = json!("2025-01-01");
    body["procedures"] = json!("联系人身份证 230102199003070015");
    let res = app.post("/api/v1/projects", Some(&edu), &body).await;
    let p = problem(res, 422).await;
    assert_eq!(
        fields(&p),
        [
            "eligibility.region_prefixes[1]",
            "eligibility.region_prefixes[2]",
            "procedures"
        ]
    );
    // Cross-field rules once the fields themselves are right.
    let mut body = project_body("x");
    body["eligibility"]["min_age"] = json!(60);
    body["eligibility"]["max_age"] = json!(18);
    body["ends_on"] = json!("2025-01-01");
    let p = problem(app.post("/api/v1/projects", Some(&edu), &body).await, 422).await;
    assert_eq!(fields(&p), ["ends_on", "max_age"]);

    // Bureaus do not run projects; publishing needs procedures and standards.
    let harbin = app.token("harbin.ca").await;
    problem(
        app.post("/api/v1/projects", Some(&harbin), &project_body("x"))
            .await,
        403,
    )
    .await;
    let mut bare = project_body("无说明");
    bare["procedures"] = json!("");
    let p: Value = app
        .post("/api/v1/projects", Some(&edu), &bare)
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/projects/{}/publish", p["id"].as_str().unwrap()),
            Some(&edu),
            &json!({}),
        )
        .await;
    assert_eq!(fields(&problem(res, 422).await), ["procedures"]);
}
