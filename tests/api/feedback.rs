//! Feedback reports: all or nothing, every bad record named, as JSON and as CSV.

use serde_json::{json, Value};

use crate::aid::consented_person;
use crate::helpers::{fields, person_body, problem, resident_id, spawn_app, TestApp, ADULT_ID};
use crate::projects::{project_body, published_project};

async fn nothing_written(app: &TestApp, pid: &str) {
    assert_eq!(app.count("SELECT count(*) AS n FROM aid_records").await, 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM feedback_reports")
            .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT places_left::bigint AS n FROM projects WHERE id = '{pid}'"
        ))
        .await,
        3
    );
}

async fn post_csv(app: &TestApp, token: &str, query: &str, csv: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/feedback-reports?{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_report_is_accepted_whole_or_rejected_with_every_bad_record_named() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let project = published_project(&app, &edu, &project_body("季度反馈")).await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let a = consented_person(&app, ADULT_ID).await;
    let b = consented_person(&app, &resident_id("23010219850101002")).await;
    let daoli = app.token("daoli.ca").await;
    let stranger = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219800202003"), "230102"),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rec = |person: &str, value: i64, on: &str| {
        json!({"person_id": person, "project_id": pid, "category": "medical", "form": "cash",
               "value_fen": value, "aid_on": on})
    };
    let bad = json!({"period_start": "2026-04-01", "period_end": "2026-06-30", "records": [
        rec(&a, 100_000, "2026-04-10"),
        rec(&stranger, 100_000, "2026-04-11"),
        rec(&b, 2_500_000, "2026-04-12"),
        rec(&b, 100_000, "2026-07-01"),
        {"person_id": a, "project_id": pid, "category": "medical", "form": "service", "aid_on": "2026-05-01"},
    ]});
    let res = app.post("/api/v1/feedback-reports", Some(&edu), &bad).await;
    let p = problem(res, 422).await;
    assert_eq!(
        fields(&p),
        ["records[3].aid_on", "records[4].service_hours"]
    );
    nothing_written(&app, &pid).await;
    // Rules that need the database are found for every record too, not only the first.
    let bad = json!({"period_start": "2026-04-01", "period_end": "2026-06-30", "records": [
        rec(&a, 100_000, "2026-04-10"),
        rec(&stranger, 100_000, "2026-04-11"),
        rec(&b, 2_500_000, "2026-04-12"),
    ]});
    let p = problem(
        app.post("/api/v1/feedback-reports", Some(&edu), &bad).await,
        422,
    )
    .await;
    let codes: Vec<(&str, &str)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("records[1]", "not_found"),
            ("records[2]", "per_person_cap_exceeded")
        ]
    );
    nothing_written(&app, &pid).await;

    // A good report: every record in, places taken once per person.
    let good = json!({"period_start": "2026-04-01", "period_end": "2026-06-30", "records": [
        rec(&a, 100_000, "2026-04-10"), rec(&a, 50_000, "2026-05-10"), rec(&b, 70_000, "2026-06-10"),
    ]});
    let res = app
        .post("/api/v1/feedback-reports", Some(&edu), &good)
        .await;
    assert_eq!(res.status(), 201);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["record_count"], 3);
    assert_eq!(report["total_value_fen"], 220_000);
    assert_eq!(report["records"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.count(&format!(
            "SELECT places_left::bigint AS n FROM projects WHERE id = '{pid}'"
        ))
        .await,
        1
    );

    // The same as CSV: a bad file is refused whole, with the line's cells named.
    let header = "person_id,project_id,category,form,value_fen,service_hours,service_type,aid_on,period_end,note,fund_id";
    let bad_csv = format!(
        "{header}\n{a},{pid},medical,cash,1000,,,2026-07-01,,,\n{b},{pid},teleport,cash,abc,,,2026-08-01,,,\n{b},{pid},medical,cash,1000,,,,,,\n"
    );
    let period = "period_start=2026-07-01&period_end=2026-09-30";
    let p = problem(post_csv(&app, &edu, period, &bad_csv).await, 422).await;
    assert_eq!(
        fields(&p),
        [
            "records[1].category",
            "records[1].value_fen",
            "records[2].aid_on"
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM feedback_reports")
            .await,
        1
    );
    let good_csv = format!(
        "{header}\n{a},{pid},medical,cash,1000,,,2026-07-01,,七月补助,\n{b},{pid},medical,in_kind,2000,,,2026-08-01,,,\n"
    );
    let res = post_csv(&app, &edu, period, &good_csv).await;
    assert_eq!(res.status(), 201);
    let csv_report: Value = res.json().await.unwrap();
    assert_eq!(csv_report["format"], "csv");
    assert_eq!(csv_report["records"][0]["note"], "七月补助");
    problem(post_csv(&app, &edu, "", &good_csv).await, 422).await;
    // A NUL in a note is refused by name, never a 500.
    let nul = format!("{header}\n{a},{pid},medical,cash,1000,,,2026-07-01,,bad\u{0}note,\n");
    let p = problem(post_csv(&app, &edu, period, &nul).await, 422).await;
    assert_eq!(fields(&p), ["records[0].note"]);

    // Readers: the charity, the city bureau of its registration; not the district's.
    let harbin = app.token("harbin.ca").await;
    let list: Value = app
        .get("/api/v1/feedback-reports", Some(&harbin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let one: Value = app
        .get(
            &format!(
                "/api/v1/feedback-reports/{}",
                report["id"].as_str().unwrap()
            ),
            Some(&harbin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["records"].as_array().unwrap().len(), 3);
    let res = app
        .get(
            &format!(
                "/api/v1/feedback-reports/{}",
                report["id"].as_str().unwrap()
            ),
            Some(&daoli),
        )
        .await;
    problem(res, 404).await;
}
