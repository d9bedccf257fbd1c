//! Funds and aid records: the ledger's balance under racing expenditures, and one aid record
//! moving the project's places and budget and the fund's balance in one transaction.

use serde_json::{json, Value};

use crate::helpers::{
    consent_to, fields, person_body, problem, resident_id, spawn_app, TestApp, ADULT_ID,
};
use crate::projects::{project_body, published_project};

const FUND_NAME: &str = "哈尔滨市助学慈善基金会·春蕾助学专项基金";

async fn fund_with(app: &TestApp, token: &str, donation: i64) -> String {
    let res = app
        .post(
            "/api/v1/funds",
            Some(token),
            &json!({"name": FUND_NAME, "donor": "某某实业有限公司", "purpose": "助学助医", "agreement_ref": "HZJ-2026-017"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &format!("/api/v1/funds/{id}/entries"),
            Some(token),
            &json!({"kind": "donation", "amount_fen": donation, "counterparty": "某某实业有限公司", "occurred_on": "2026-03-01"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    id
}

async fn ledger_sum(app: &TestApp, fund: &str) -> i64 {
    app.count(&format!(
        "SELECT coalesce(sum(delta_fen), 0)::bigint AS n FROM fund_entries WHERE fund_id = '{fund}'"
    ))
    .await
}

#[tokio::test]
async fn a_fund_ledger_never_goes_negative_even_when_expenditures_race() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    // The name must carry the charity's full name.
    let res = app
        .post(
            "/api/v1/funds",
            Some(&edu),
            &json!({"name": "春蕾基金", "donor": "某公司", "purpose": "助学", "agreement_ref": "A-1"}),
        )
        .await;
    assert_eq!(fields(&problem(res, 422).await), ["name"]);

    let fund = fund_with(&app, &edu, 10_000).await;
    let entries = format!("/api/v1/funds/{fund}/entries");
    let grant = json!({"kind": "grant", "amount_fen": 1_000, "counterparty": "某小学", "occurred_on": "2026-04-01"});
    let racers = (0..20).map(|_| {
        let (app, edu, entries, grant) = (&app, &edu, &entries, &grant);
        async move { app.post(entries, Some(edu), grant).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        10,
        "{statuses:?}"
    );
    let f: Value = app
        .get(&format!("/api/v1/funds/{fund}"), Some(&edu))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(f["balance_fen"], 0);
    assert_eq!(ledger_sum(&app, &fund).await, 0);

    let res = app.post(&entries, Some(&edu), &grant).await;
    let p = problem(res, 409).await;
    assert_eq!(p["code"], "insufficient_balance");

    // A reversal undoes one entry, once; aid goes through aid records.
    let page: Value = app.get(&entries, Some(&edu)).await.json().await.unwrap();
    let last = page["items"].as_array().unwrap().last().unwrap()["id"].clone();
    let reversal = json!({"kind": "reversal", "amount_fen": 1_000, "reverses_id": last, "note": "重复记账", "occurred_on": "2026-04-02"});
    let res = app.post(&entries, Some(&edu), &reversal).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["balance_fen"], 1_000);
    assert_eq!(
        problem(app.post(&entries, Some(&edu), &reversal).await, 409).await["code"],
        "already_reversed"
    );
    let aid = json!({"kind": "aid", "amount_fen": 10, "occurred_on": "2026-04-02"});
    assert_eq!(
        fields(&problem(app.post(&entries, Some(&edu), &aid).await, 422).await),
        ["kind"]
    );

    // Another charity may neither write nor read the ledger; entries are never rewritten.
    let care = app.token("charity.care").await;
    problem(app.post(&entries, Some(&care), &grant).await, 403).await;
    problem(app.get(&entries, Some(&care)).await, 403).await;
    assert!(app
        .exec(&format!(
            "UPDATE fund_entries SET amount_fen = 1 WHERE fund_id = '{fund}'"
        ))
        .await
        .is_err());
    assert!(app
        .exec(&format!(
            "DELETE FROM fund_entries WHERE fund_id = '{fund}'"
        ))
        .await
        .is_err());
    assert_eq!(ledger_sum(&app, &fund).await, 1_000);
}

/// A person of Daoli with a consent naming the education charity; returns (person id, token).
pub async fn consented_person(app: &TestApp, id_number: &str) -> String {
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(&daoli, &person_body(id_number, "230102001"))
        .await;
    let id = person["id"].as_str().unwrap().to_owned();
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .consent(&daoli, &id, &{
            let mut c = consent_to(&edu_org, &["identity", "aid_history"]);
            c["purposes"] = json!(["referral", "follow_up"]);
            c
        })
        .await;
    assert_eq!(res.status(), 201);
    id
}

#[tokio::test]
async fn an_aid_record_moves_places_budget_and_fund_together() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let person = consented_person(&app, ADULT_ID).await;
    let project = published_project(&app, &edu, &project_body("助医")).await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let fund = fund_with(&app, &edu, 3_000_000).await;
    // Government medical aid in the same month: the record will be flagged.
    let daoli = app.token("daoli.ca").await;
    let res = app
        .post(
            &format!("/api/v1/persons/{person}/government-aid"),
            Some(&daoli),
            &json!({"programme": "medical_aid", "amount_fen": 300000, "period_start": "2026-06-01",
                    "period_end": "2026-06-30", "source_system": "医疗救助一站式", "certifying_region": "230102"}),
        )
        .await;
    assert_eq!(res.status(), 201);

    let body = json!({"person_id": person, "project_id": pid, "category": "medical", "form": "cash",
                      "value_fen": 1_500_000, "aid_on": "2026-06-10", "fund_id": fund, "note": "化疗费用"});
    let res = app.post("/api/v1/aid-records", Some(&edu), &body).await;
    assert_eq!(res.status(), 201);
    let record: Value = res.json().await.unwrap();
    // Flagged, but the flag names another source's aid: supervision sees it, the charity not.
    assert_eq!(record["duplicate_of"], json!([]));
    assert_eq!(
        app.count("SELECT count(*) AS n FROM aid_duplicate_flags")
            .await,
        1
    );
    assert!(record["fund_entry_id"].is_string());
    let p: Value = app
        .get(&format!("/api/v1/projects/{pid}"), Some(&edu))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (p["places_left"].clone(), p["spent_fen"].clone()),
        (json!(2), json!(1_500_000))
    );
    let f: Value = app
        .get(&format!("/api/v1/funds/{fund}"), Some(&edu))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(f["balance_fen"], 1_500_000);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'aid.record'")
            .await,
        1
    );

    // An aid entry belongs to its record: it is not reversed alone.
    let reversal = json!({"kind": "reversal", "amount_fen": 1_500_000, "reverses_id": record["fund_entry_id"], "occurred_on": "2026-06-11"});
    let res = app
        .post(
            &format!("/api/v1/funds/{fund}/entries"),
            Some(&edu),
            &reversal,
        )
        .await;
    assert_eq!(fields(&problem(res, 422).await), ["reverses_id"]);
    // Aid is recorded once given, not ahead.
    let ahead = json!({"person_id": person, "project_id": pid, "category": "medical", "form": "cash",
                       "value_fen": 1_000, "aid_on": "2099-01-01"});
    let res = app.post("/api/v1/aid-records", Some(&edu), &ahead).await;
    assert_eq!(fields(&problem(res, 422).await), ["aid_on"]);
    // Over the per-person cap (20,000 yuan): refused, and nothing moved.
    let more = json!({"person_id": person, "project_id": pid, "category": "medical", "form": "cash",
                      "value_fen": 600_000, "aid_on": "2026-06-20", "fund_id": fund});
    let p = problem(
        app.post("/api/v1/aid-records", Some(&edu), &more).await,
        409,
    )
    .await;
    assert_eq!(p["code"], "per_person_cap_exceeded");
    // More than the fund holds: refused, and the project's budget is untouched too.
    let small = json!({"person_id": person, "project_id": pid, "category": "medical", "form": "cash",
                       "value_fen": 400_000, "aid_on": "2026-06-20", "fund_id": fund});
    app.exec(&format!(
        "INSERT INTO fund_entries (id, fund_id, kind, amount_fen, delta_fen, occurred_on, recorded_by, recorded_at)
         VALUES (gen_random_uuid(), '{fund}', 'grant', 1200000, -1200000, '2026-06-15', gen_random_uuid(), now())"
    ))
    .await
    .unwrap();
    let p = problem(
        app.post("/api/v1/aid-records", Some(&edu), &small).await,
        409,
    )
    .await;
    assert_eq!(p["code"], "insufficient_balance");
    assert_eq!(
        app.count(&format!(
            "SELECT spent_fen AS n FROM projects WHERE id = '{pid}'"
        ))
        .await,
        1_500_000
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM aid_records").await, 1);

    // Service aid in a project that gives material aid only is refused, naming the form.
    let service = json!({"person_id": person, "project_id": pid, "category": "medical", "form": "service",
                         "service_hours": 1.5, "service_type": "psychological", "aid_on": "2026-07-01"});
    let res = app.post("/api/v1/aid-records", Some(&edu), &service).await;
    // The project gives material aid only.
    assert_eq!(fields(&problem(res, 422).await), ["form"]);
    let list: Value = app
        .get(&format!("/api/v1/aid-records?project_id={pid}"), Some(&edu))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The bureau of the person's region lists it too; another charity does not see it.
    let listed: Value = app
        .get("/api/v1/aid-records", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["id"], record["id"]);
    assert_eq!(
        listed["items"][0]["duplicate_of"][0]["source"],
        "government"
    );
    assert_eq!(
        listed["items"][0]["duplicate_of"][0]["programme"],
        "medical_aid"
    );
    let own: Value = app
        .get("/api/v1/aid-records", Some(&edu))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["items"][0]["duplicate_of"], json!([]));
    let care = app.token("charity.care").await;
    let theirs: Value = app
        .get("/api/v1/aid-records", Some(&care))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]));

    // Supervision lists the duplicate-aid flag; charities do not see that list.
    let flags: Value = app
        .get("/api/v1/supervision/duplicate-aid", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(flags["items"].as_array().unwrap().len(), 1);
    assert_eq!(flags["items"][0]["aid_record_id"], record["id"]);
    assert_eq!(flags["items"][0]["source"], "government");
    assert_eq!(flags["items"][0]["category"], "medical");
    problem(
        app.get("/api/v1/supervision/duplicate-aid", Some(&care))
            .await,
        403,
    )
    .await;
}

#[tokio::test]
async fn aid_needs_a_consent_naming_the_charity_and_the_last_place_goes_once() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let mut body = project_body("一个名额");
    body["capacity"] = json!(1);
    let project = published_project(&app, &edu, &body).await;
    let pid = project["id"].as_str().unwrap();
    // No consent: the person is not found for this charity, and nothing is written.
    let daoli = app.token("daoli.ca").await;
    let stranger = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219850101002"), "230102"),
        )
        .await;
    let res = app
        .post(
            "/api/v1/aid-records",
            Some(&edu),
            &json!({"person_id": stranger["id"], "project_id": pid, "category": "medical", "form": "cash",
                    "value_fen": 1000, "aid_on": "2026-06-01"}),
        )
        .await;
    problem(res, 404).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM aid_records").await, 0);

    let a = consented_person(&app, ADULT_ID).await;
    let b = consented_person(&app, &resident_id("23010219800202003")).await;
    let record = |person: String| {
        let (app, edu) = (&app, &edu);
        let body = json!({"person_id": person, "project_id": pid, "category": "medical", "form": "in_kind",
                          "value_fen": 1000, "aid_on": "2026-06-01"});
        async move { app.post("/api/v1/aid-records", Some(edu), &body).await }
    };
    let (ra, rb) = tokio::join!(record(a), record(b));
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    let loser = if ra.status() == 409 { ra } else { rb };
    assert_eq!(problem(loser, 409).await["code"], "no_places_left");
    assert_eq!(
        app.count(&format!(
            "SELECT places_left::bigint AS n FROM projects WHERE id = '{pid}'"
        ))
        .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM aid_records").await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM project_beneficiaries")
            .await,
        1
    );
}

#[tokio::test]
async fn the_aid_history_is_one_timeline_and_a_charity_sees_it_only_under_aid_history_consent() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let daoli = app.token("daoli.ca").await;
    let person = consented_person(&app, ADULT_ID).await;
    let res = app
        .post(
            &format!("/api/v1/persons/{person}/government-aid"),
            Some(&daoli),
            &json!({"programme": "subsistence_allowance", "amount_fen": 80000, "period_start": "2026-05-01",
                    "period_end": "2026-05-31", "source_system": "低保系统", "certifying_region": "230102"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let project = published_project(&app, &edu, &project_body("助医")).await;
    let res = app
        .post(
            "/api/v1/aid-records",
            Some(&edu),
            &json!({"person_id": person, "project_id": project["id"], "category": "medical",
                    "form": "cash", "value_fen": 100000, "aid_on": "2026-06-01"}),
        )
        .await;
    assert_eq!(res.status(), 201);

    let path = format!("/api/v1/persons/{person}/aid-history");
    let staff: Value = app.get(&path, Some(&daoli)).await.json().await.unwrap();
    let sources: Vec<(&str, &str)> = staff
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["source"].as_str().unwrap(), e["date"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sources,
        [("charity", "2026-06-01"), ("government", "2026-05-01")]
    );
    assert_eq!(staff[1]["programme"], "subsistence_allowance");

    // The consenting charity, for the consented purpose: the same timeline, recorded.
    let res = app
        .get(&format!("{path}?purpose=follow_up"), Some(&edu))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), staff);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'person.aid_history.disclose'"
        )
        .await,
        1
    );
    problem(app.get(&path, Some(&edu)).await, 422).await;
    problem(
        app.get(&format!("{path}?purpose=matching"), Some(&edu))
            .await,
        404,
    )
    .await;
    let care = app.token("charity.care").await;
    problem(
        app.get(&format!("{path}?purpose=follow_up"), Some(&care))
            .await,
        404,
    )
    .await;
    // A consent without the aid_history category does not show it.
    let other = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219850101002"), "230102"),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .consent(
            &daoli,
            &other,
            &follow_up(consent_to(&edu_org, &["identity"])),
        )
        .await;
    assert_eq!(res.status(), 201);
    problem(
        app.get(
            &format!("/api/v1/persons/{other}/aid-history?purpose=follow_up"),
            Some(&edu),
        )
        .await,
        404,
    )
    .await;
}

/// A consent for follow-up visits (reads for `referral` need an open referral).
fn follow_up(mut c: Value) -> Value {
    c["purposes"] = json!(["follow_up"]);
    c
}
