//! Disclosure: statements are immutable, corrections link both ways, and deadlines are due or
//! late by the 2026 rules on a fixed clock (31 May included).

use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, TestApp};
use crate::projects::{project_body, published_project};

fn at(app: &TestApp, when: &str) {
    app.clock
        .set(when.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
}

async fn due(app: &TestApp, token: &str, as_of: &str) -> Vec<(String, String, i64)> {
    let list: Value = app
        .get(
            &format!("/api/v1/disclosures/due?as_of={as_of}"),
            Some(token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["as_of"], as_of);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["project_name"].as_str().unwrap().to_owned(),
                format!(
                    "{}:{}",
                    i["obligation"].as_str().unwrap(),
                    i["due_on"].as_str().unwrap()
                ),
                i["days_late"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn statements_are_immutable_corrections_link_and_deadlines_are_kept() {
    let app = spawn_app().await;
    at(&app, "2026-01-15T02:00:00Z");
    // A year-long project of a charity without public-fundraising qualification (Daoli)…
    let care = app.token("charity.care").await;
    let mut long = project_body("全年关爱");
    long["starts_on"] = json!("2026-01-01");
    long["ends_on"] = json!("2026-12-31");
    let long = published_project(&app, &care, &long).await;
    let long_id = long["id"].as_str().unwrap().to_owned();
    // …and a three-month project of a qualified charity (Harbin).
    let edu = app.token("charity.edu").await;
    let mut short = project_body("春季助学");
    short["starts_on"] = json!("2026-02-01");
    short["ends_on"] = json!("2026-04-30");
    published_project(&app, &edu, &short).await;

    // Tokens live 15 minutes: sign in again after each move of the clock.
    at(&app, "2026-03-20T02:00:00Z");
    let (care, edu) = (
        app.token("charity.care").await,
        app.token("charity.edu").await,
    );
    let path = format!("/api/v1/projects/{long_id}/disclosures");
    let progress = json!({"kind": "progress", "period_start": "2026-01-01", "period_end": "2026-03-19",
                          "text": "已服务 8 户。", "figures": {"beneficiaries": 8, "service_hours": 40}});
    let res = app.post(&path, Some(&care), &progress).await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["figures"]["service_hours"], 40.0);
    // Another charity's draft is not found (its existence is not told).
    let draft: Value = app
        .post("/api/v1/projects", Some(&edu), &project_body("草稿"))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/projects/{}/disclosures", draft["id"].as_str().unwrap()),
            Some(&care),
            &json!({"kind": "progress", "period_start": "2026-01-01", "period_end": "2026-03-19", "text": "x"}),
        )
        .await;
    problem(res, 404).await;
    // Only the owner publishes; a correction names what it corrects and says why.
    problem(app.post(&path, Some(&edu), &progress).await, 403).await;
    let bare = json!({"kind": "correction", "period_start": "2026-01-01", "period_end": "2026-03-19", "text": "更正"});
    problem(app.post(&path, Some(&care), &bare).await, 422).await;
    at(&app, "2026-06-01T02:00:00Z");
    let (care, edu) = (
        app.token("charity.care").await,
        app.token("charity.edu").await,
    );
    let correction = json!({"kind": "correction", "period_start": "2026-01-01", "period_end": "2026-03-19",
                            "text": "已服务 9 户。", "figures": {"beneficiaries": 9},
                            "corrects_id": first["id"], "correction_note": "漏计 1 户"});
    let res = app.post(&path, Some(&care), &correction).await;
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    let listed: Value = app.get(&path, Some(&edu)).await.json().await.unwrap();
    assert_eq!(listed[0]["corrected_by"], json!([second["id"]]));
    assert_eq!(listed[1]["corrects_id"], first["id"]);
    assert_eq!(listed[1]["correction_note"], "漏计 1 户");
    // Published statements are immutable in the database itself.
    assert!(app
        .exec("UPDATE disclosures SET body = 'rewritten'")
        .await
        .is_err());
    assert!(app.exec("DELETE FROM disclosures").await.is_err());

    // Every three months while it runs: due 2026-06-20, five days late on the 25th (the
    // correction does not count as a new statement).
    let harbin = app.token("harbin.ca").await;
    assert_eq!(
        due(&app, &harbin, "2026-06-25").await,
        [("全年关爱".to_owned(), "periodic:2026-06-20".to_owned(), 5)]
    );
    // The prior year's projects by 31 May (the charity without the qualification only), and the
    // close-out within three months of the end.
    assert_eq!(
        due(&app, &harbin, "2027-05-31").await,
        [
            ("全年关爱".to_owned(), "close_out:2027-03-31".to_owned(), 61),
            ("全年关爱".to_owned(), "annual:2027-05-31".to_owned(), 0),
        ]
    );
    let june1 = due(&app, &harbin, "2027-06-01").await;
    assert!(june1.contains(&("全年关爱".to_owned(), "annual:2027-05-31".to_owned(), 1)));
    // Who sees what: the Daoli bureau its charity, a charity its own.
    assert_eq!(
        due(&app, &app.token("daoli.ca").await, "2027-06-01")
            .await
            .len(),
        2
    );
    assert_eq!(due(&app, &edu, "2027-06-01").await, []);
    assert_eq!(due(&app, &care, "2027-06-01").await.len(), 2);
    let res = app
        .get("/api/v1/disclosures/due?as_of=2026-13-01", Some(&harbin))
        .await;
    problem(res, 400).await;
}
