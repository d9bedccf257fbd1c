//! Optimistic concurrency: records answer with an ETag (their version); a PATCH with a stale
//! If-Match is refused with 412 and writes nothing, and of two racing writers one wins.

use serde_json::{json, Value};

use crate::helpers::{person_body, problem, spawn_app, TestApp, ADULT_ID};

async fn patch_if(
    app: &TestApp,
    path: &str,
    token: &str,
    if_match: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .header("if-match", if_match)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn etag(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let path = format!("/api/v1/persons/{}", p["id"].as_str().unwrap());
    let read = app.get(&path, Some(&daoli)).await;
    assert_eq!(etag(&read), "\"1\"");

    // Worker A changes the record with the version it read.
    let res = patch_if(&app, &path, &daoli, "\"1\"", &json!({"name": "李四"})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(etag(&res), "\"2\"");
    // Worker B still holds version 1: refused, told the current version, nothing written.
    let events_before = app
        .count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.update'")
        .await;
    let res = patch_if(&app, &path, &daoli, "\"1\"", &json!({"name": "王五"})).await;
    let p = problem(res, 412).await;
    assert_eq!(p["code"], "precondition_failed");
    assert_eq!(p["current_etag"], "\"2\"");
    let now: Value = app.get(&path, Some(&daoli)).await.json().await.unwrap();
    assert_eq!(now["name"], "李四");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.update'")
            .await,
        events_before
    );
    // Weak or foreign tags never match; `*` always does; no If-Match is last-write-wins.
    problem(
        patch_if(&app, &path, &daoli, "W/\"2\"", &json!({"name": "王五"})).await,
        412,
    )
    .await;
    let res = patch_if(&app, &path, &daoli, "*", &json!({"name": "王五"})).await;
    assert_eq!((res.status().as_u16(), etag(&res)), (200, "\"3\"".into()));
    let res = app
        .patch(&path, Some(&daoli), &json!({"name": "赵六"}))
        .await;
    assert_eq!((res.status().as_u16(), etag(&res)), (200, "\"4\"".into()));
}

#[tokio::test]
async fn of_two_writers_holding_the_same_version_exactly_one_wins() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let path = format!("/api/v1/persons/{}", p["id"].as_str().unwrap());
    let writers = (0..8).map(|i| {
        let body = json!({"name": format!("写入者{i}")});
        let (app, path, daoli) = (&app, &path, &daoli);
        async move {
            patch_if(app, path, daoli, "\"1\"", &body)
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(writers).await;
    statuses.sort();
    assert_eq!(statuses, vec![200, 412, 412, 412, 412, 412, 412, 412]);
    let now = app.get(&path, Some(&daoli)).await;
    assert_eq!(etag(&now), "\"2\"");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.update'")
            .await,
        1
    );
}

#[tokio::test]
async fn needs_and_organisations_carry_versions_too() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let admin = app.token("admin").await;
    let p = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let res = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": p["id"], "category": "medical", "description": "x",
                    "urgency": "normal", "source": "screening"}),
        )
        .await;
    assert_eq!(etag(&res), "\"1\"");
    let need: Value = res.json().await.unwrap();
    let path = format!("/api/v1/needs/{}", need["id"].as_str().unwrap());
    let res = patch_if(&app, &path, &daoli, "\"1\"", &json!({"status": "referred"})).await;
    assert_eq!((res.status().as_u16(), etag(&res)), (200, "\"2\"".into()));
    problem(
        patch_if(&app, &path, &daoli, "\"1\"", &json!({"status": "met"})).await,
        412,
    )
    .await;

    let org = app.org_id("哈尔滨市助学慈善基金会").await;
    let path = format!("/api/v1/organizations/{org}");
    let tag = etag(&app.get(&path, Some(&admin)).await);
    let res = patch_if(
        &app,
        &path,
        &admin,
        &tag,
        &json!({"name": "哈尔滨市助学基金会"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    problem(
        patch_if(&app, &path, &admin, &tag, &json!({"name": "又一个名字"})).await,
        412,
    )
    .await;
}
