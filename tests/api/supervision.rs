//! Supervision of the workflow: the overdue list, referral and lead statistics (JSON and CSV)
//! and the referral list's filters, against the data the test creates.

use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, TestApp};
use crate::referrals::{consent_for, person_with_need};

async fn refer(app: &TestApp, token: &str, body: Value) -> String {
    let res = app.post("/api/v1/referrals", Some(token), &body).await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn ok(app: &TestApp, token: &str, path: &str, body: Value) {
    let res = app.post(path, Some(token), &body).await;
    assert_eq!(res.status(), 200, "{path}");
}

fn kinds(list: &Value) -> Vec<(String, String)> {
    let mut v: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["entity_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn ids(page: &Value) -> Vec<String> {
    let mut v: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn overdue_lists_and_referral_statistics_follow_the_data() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let grid = app.token("grid.worker").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let start = app.clock.now();
    let day = start
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let period = format!(
        "from={}&to={}",
        day - chrono::Days::new(1),
        day + chrono::Days::new(60)
    );

    let mut people = Vec::new();
    for first17 in [
        "23010219900307001",
        "23010219850101002",
        "23010219800202003",
        "23010219700505004",
    ] {
        people.push(person_with_need(&app, first17).await);
    }
    for (p, _) in &people[..3] {
        consent_for(&app, p, &care_org, json!(["referral"])).await;
    }
    let body = |i: usize, urgency: &str| {
        json!({"person_id": people[i].0, "need_ids": [people[i].1],
               "target": {"organization_id": care_org}, "urgency": urgency})
    };
    let r1 = refer(&app, &daoli, body(0, "normal")).await;
    let r2 = refer(&app, &daoli, body(1, "urgent")).await;
    let r3 = refer(&app, &daoli, body(2, "emergency")).await;
    let mut b4 = body(3, "emergency");
    b4["emergency_justification"] = json!("高烧昏迷，独居");
    let r4 = refer(&app, &daoli, b4).await;
    let lead = |name: &str| json!({"person": {"name": name}, "region_code": "230102001", "person_agreed": true});
    let l1: Value = app
        .post("/api/v1/leads", Some(&grid), &lead("李四"))
        .await
        .json()
        .await
        .unwrap();
    let l2: Value = app
        .post("/api/v1/leads", Some(&grid), &lead("王五"))
        .await
        .json()
        .await
        .unwrap();
    let l1 = l1["id"].as_str().unwrap().to_owned();
    let l2 = l2["id"].as_str().unwrap().to_owned();

    // Answers two hours on; a lead closed after three.
    app.clock.advance(chrono::Duration::hours(2));
    let care = app.token("charity.care").await;
    ok(
        &app,
        &care,
        &format!("/api/v1/referrals/{r1}/accept"),
        json!({}),
    )
    .await;
    ok(
        &app,
        &care,
        &format!("/api/v1/referrals/{r2}/decline"),
        json!({"reason": "no_capacity"}),
    )
    .await;
    app.clock.advance(chrono::Duration::hours(1));
    let daoli = app.token("daoli.ca").await;
    ok(
        &app,
        &daoli,
        &format!("/api/v1/leads/{l2}/acknowledge"),
        json!({}),
    )
    .await;
    ok(
        &app,
        &daoli,
        &format!("/api/v1/leads/{l2}/close"),
        json!({"outcome": "not_eligible"}),
    )
    .await;

    // Five hours on: the emergency referral nobody answered, and the one without consent.
    app.clock.advance(chrono::Duration::hours(2));
    let daoli = app.token("daoli.ca").await;
    let list: Value = app
        .get("/api/v1/supervision/overdue", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    let mut expected = vec![
        ("emergency_consent".to_owned(), r4.clone()),
        ("response".to_owned(), r3.clone()),
        ("response".to_owned(), r4.clone()),
    ];
    expected.sort();
    assert_eq!(kinds(&list), expected);
    let consent_item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "emergency_consent")
        .unwrap();
    let hours = consent_item["overdue_hours"].as_f64().unwrap();
    assert!(
        (hours + 67.0).abs() < 0.05,
        "cancelled 72 h after the referral: {hours}"
    );
    let response_item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "response" && i["entity_id"] == r3.as_str())
        .unwrap();
    assert!((response_item["overdue_hours"].as_f64().unwrap() - 1.0).abs() < 0.05);
    assert_eq!(
        response_item["responsible_organization_id"],
        care_org.as_str()
    );

    let report: Value = app
        .get(&format!("/api/v1/stats/referrals?{period}"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["region"], "230102");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    let row = &rows[0];
    assert_eq!(row["region"], "230102001");
    for (field, value) in [
        ("referrals", json!(4)),
        ("pending", json!(2)),
        ("accepted", json!(1)),
        ("declined", json!(1)),
        ("acceptance_rate", json!(0.5)),
        ("emergency_basis", json!(1)),
        ("median_response_hours", json!(2.0)),
        ("median_completion_hours", Value::Null),
        ("decline_no_capacity", json!(1)),
        ("leads", json!(2)),
        ("leads_open", json!(1)),
        ("leads_not_eligible", json!(1)),
        ("leads_aid_granted", json!(0)),
    ] {
        assert_eq!(row[field], value, "{field}: {row}");
    }
    // The same rows as CSV.
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/stats/referrals?{period}")))
        .bearer_auth(&daoli)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let record = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| record[headers.iter().position(|h| h == name).unwrap()].to_owned();
    assert_eq!(
        (
            cell("region"),
            cell("referrals"),
            cell("acceptance_rate"),
            cell("median_completion_hours")
        ),
        ("230102001".into(), "4".into(), "0.5".into(), String::new())
    );

    // A month on: the outcome of the accepted referral is late, and the lead was never
    // acknowledged.
    app.clock.advance(chrono::Duration::days(31));
    let daoli = app.token("daoli.ca").await;
    let list: Value = app
        .get("/api/v1/supervision/overdue", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    let mut expected = vec![
        ("emergency_consent".to_owned(), r4.clone()),
        ("feedback".to_owned(), r1.clone()),
        ("lead_acknowledgement".to_owned(), l1.clone()),
        ("response".to_owned(), r3.clone()),
        ("response".to_owned(), r4.clone()),
    ];
    expected.sort();
    assert_eq!(kinds(&list), expected);
    assert_eq!(list["truncated"], false);
    let first: Value = app
        .get("/api/v1/supervision/overdue?limit=1", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            first["items"].as_array().unwrap().len(),
            first["truncated"].clone()
        ),
        (1, json!(true))
    );

    // Once the sweeper has expired the unanswered ones they stay on the list while their needs
    // wait, until the bureau refers again.
    let ctx = app.service_context();
    assert_eq!(
        aidbridge::service::referrals::expire_overdue(&ctx)
            .await
            .unwrap(),
        2
    );
    let list: Value = app
        .get("/api/v1/supervision/overdue", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    // The expired emergency referral no longer waits for consent.
    expected.retain(|(kind, _)| kind != "emergency_consent");
    assert_eq!(kinds(&list), expected);
    let again = json!({"person_id": people[2].0, "need_ids": [people[2].1], "target": {"organization_id": care_org},
                       "urgency": "emergency", "previous_referral_id": r3});
    let r5 = refer(&app, &daoli, again).await;
    let list: Value = app
        .get("/api/v1/supervision/overdue", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert!(!kinds(&list).contains(&("response".to_owned(), r3.clone())));
    assert!(!kinds(&list).iter().any(|(_, id)| *id == r5));

    // The referral list's filters.
    let list = |q: &str| {
        let (app, daoli) = (&app, &daoli);
        let q = q.to_owned();
        async move {
            let res = app
                .get(&format!("/api/v1/referrals?{q}"), Some(daoli))
                .await;
            assert_eq!(res.status(), 200, "{q}");
            ids(&res.json::<Value>().await.unwrap())
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        list("overdue=true").await,
        vec![r1.clone()],
        "past a deadline now (the expired ones have ended)"
    );
    assert_eq!(
        list("urgency=emergency").await,
        sorted(vec![r3.clone(), r4.clone(), r5.clone()])
    );
    assert_eq!(list("region=230102001").await.len(), 5);
    assert_eq!(
        list("status=expired").await,
        sorted(vec![r3.clone(), r4.clone()])
    );
    assert!(list("region=230103").await.is_empty());
    assert_eq!(list("status=declined").await, vec![r2.clone()]);
    let care = app.token("charity.care").await;
    problem(
        app.get(
            "/api/v1/referrals?direction=received&region=2301",
            Some(&care),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(
        app.get(
            "/api/v1/referrals?direction=received&overdue=true",
            Some(&care)
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Who may look: auditors anywhere (recorded); charities not at all.
    let auditor = app.token("auditor").await;
    let all: Value = app
        .get("/api/v1/supervision/overdue", Some(&auditor))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        3,
        "feedback r1, lead l1, response r4"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'supervision.overdue'")
            .await,
        1,
        "the auditor's read"
    );
    problem(
        app.get("/api/v1/supervision/overdue", Some(&care)).await,
        403,
    )
    .await;
    problem(app.get("/api/v1/stats/referrals", Some(&care)).await, 403).await;
    problem(
        app.get("/api/v1/supervision/overdue?region=2302", Some(&daoli))
            .await,
        403,
    )
    .await;
}
