//! Statistics checked against the data the test created, as JSON and as CSV parsed back.

use serde_json::{json, Value};

use crate::helpers::{consent_to, person_body, problem, resident_id, spawn_app, TestApp, ADULT_ID};
use crate::projects::{project_body, published_project};

async fn government_aid(app: &TestApp, token: &str, person: &str, programme: &str, amount: i64) {
    let res = app
        .post(
            &format!("/api/v1/persons/{person}/government-aid"),
            Some(token),
            &json!({"programme": programme, "amount_fen": amount, "period_start": "2026-06-01",
                    "period_end": "2026-06-30", "source_system": "低保系统", "certifying_region": "230102"}),
        )
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn statistics_add_up_to_what_was_recorded_in_json_and_csv() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let harbin = app.token("harbin.ca").await;
    let edu = app.token("charity.edu").await;
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let mut ids = Vec::new();
    for (n, (first17, region)) in [
        ("", "230102001"),
        ("23010219850101002", "230102001"),
        ("23010219800202003", "230102002"),
        ("23010319700303004", "230103001"),
    ]
    .into_iter()
    .enumerate()
    {
        let number = if n == 0 {
            ADULT_ID.to_owned()
        } else {
            resident_id(first17)
        };
        let token = if region.starts_with("230102") {
            &daoli
        } else {
            &harbin
        };
        let p = app
            .register_person(token, &person_body(&number, region))
            .await;
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    // A: government medical aid and charity medical aid (a duplicate flag); B and D: government
    // aid only; C: nothing.
    government_aid(&app, &daoli, &ids[0], "medical_aid", 300_000).await;
    government_aid(&app, &daoli, &ids[1], "subsistence_allowance", 80_000).await;
    government_aid(&app, &harbin, &ids[3], "temporary_aid", 50_000).await;
    let res = app
        .consent(&daoli, &ids[0], &consent_to(&edu_org, &["identity"]))
        .await;
    assert_eq!(res.status(), 201);
    let project = published_project(&app, &edu, &project_body("统计")).await;
    let res = app
        .post(
            "/api/v1/aid-records",
            Some(&edu),
            &json!({"person_id": ids[0], "project_id": project["id"], "category": "medical", "form": "cash",
                    "value_fen": 200_000, "aid_on": "2026-06-15"}),
        )
        .await;
    assert_eq!(res.status(), 201);

    let period = "from=2026-01-01&to=2026-12-31";
    let coverage: Value = app
        .get(&format!("/api/v1/stats/coverage?{period}"), Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(coverage["region"], "2301");
    assert_eq!(
        coverage["rows"],
        json!([
            {"region": "230102", "persons": 3, "in_hardship": 3, "government_aided": 2, "charity_aided": 1,
             "government_only": 1, "unaided": 1, "duplicate_flags": 1},
            {"region": "230103", "persons": 1, "in_hardship": 1, "government_aided": 1, "charity_aided": 0,
             "government_only": 1, "unaided": 0, "duplicate_flags": 0},
        ])
    );
    let aid: Value = app
        .get(
            &format!("/api/v1/stats/aid?region=230102&{period}"),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    let rows: Vec<(String, String, String, i64, i64)> = aid["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region"].as_str().unwrap().to_owned(),
                r["source"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
                r["people"].as_i64().unwrap(),
                r["value_fen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "230102001".into(),
                "charity".into(),
                "medical".into(),
                1,
                200_000
            ),
            (
                "230102001".into(),
                "government".into(),
                "medical_aid".into(),
                1,
                300_000
            ),
            (
                "230102001".into(),
                "government".into(),
                "subsistence_allowance".into(),
                1,
                80_000
            ),
        ]
    );

    // The same report as CSV, parsed back.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/stats/coverage?{period}")))
        .bearer_auth(&harbin)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "region");
    assert_eq!(header[5], "government_only");
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], ["230102", "3", "3", "2", "1", "1", "1", "1"]);

    // Scope: a district bureau within its district, auditors anywhere, charities not at all.
    problem(
        app.get(
            &format!("/api/v1/stats/aid?region=2302&{period}"),
            Some(&daoli),
        )
        .await,
        403,
    )
    .await;
    problem(app.get("/api/v1/stats/aid", Some(&edu)).await, 403).await;
    let auditor = app.token("auditor").await;
    let all: Value = app
        .get(&format!("/api/v1/stats/coverage?{period}"), Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["rows"][0]["region"], "23");
    assert_eq!(all["rows"][0]["persons"], 4);
    problem(
        app.get(
            "/api/v1/stats/aid?from=2026-12-31&to=2026-01-01",
            Some(&harbin),
        )
        .await,
        400,
    )
    .await;
}
