//! The document against the server: every operation is called by every kind of caller with good
//! and bad input, and every status the server answers must be one the document lists for that
//! operation (and none may be a 500). Generated clients rely on that list.

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::helpers::{consent_to, person_body, spawn_app, TestApp, ADULT_ID};

/// Real ids for the path parameters, so calls reach past "not found".
pub(crate) struct Fixtures {
    pub(crate) person: String,
    pub(crate) need: String,
    pub(crate) consent: String,
    pub(crate) organization: String,
    pub(crate) user: String,
    pub(crate) client: String,
    pub(crate) project: String,
    pub(crate) published_project: String,
    pub(crate) fund: String,
    /// A person with a follow-up consent for the education charity, not yet paired.
    pub(crate) unpaired: String,
    pub(crate) volunteer: String,
    pub(crate) pairing: String,
    pub(crate) pairing_to_end: String,
    /// Pending referrals to the care centre: one to accept, one to decline, one to cancel.
    pub(crate) referrals: [String; 4],
    /// A pending referral addressed to the federation, for the forward example.
    pub(crate) to_federation: String,
    pub(crate) care: String,
    /// An open need for the referral example (the need example closes the other).
    pub(crate) open_need: String,
    /// A submitted lead from the grid worker.
    pub(crate) lead: String,
}

pub(crate) async fn fixtures(app: &TestApp) -> Fixtures {
    let daoli = app.token("daoli.ca").await;
    let admin = app.token("admin").await;
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let care = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let consent: Value = app
        .consent(&daoli, &person, &consent_to(&care, &["identity"]))
        .await
        .json()
        .await
        .unwrap();
    let need: Value = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": person, "category": "medical", "description": "x",
                    "urgency": "normal", "source": "screening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let harbin = app.org_id("哈尔滨市民政局").await;
    let users: Value = app
        .get(
            &format!("/api/v1/organizations/{harbin}/users"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let client: Value = app
        .post(
            &format!("/api/v1/organizations/{harbin}/clients"),
            Some(&admin),
            &json!({"name": "contract test", "roles": ["civil_affairs"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let edu = app.token("charity.edu").await;
    let project: Value = app
        .post(
            "/api/v1/projects",
            Some(&edu),
            &crate::projects::project_body("contract"),
        )
        .await
        .json()
        .await
        .unwrap();
    let published = crate::projects::published_project(
        app,
        &edu,
        &crate::projects::project_body("contract published"),
    )
    .await;
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .consent(&daoli, &person, &consent_to(&edu_org, &["identity"]))
        .await;
    assert_eq!(res.status(), 201);
    let fund: Value = app
        .post(
            "/api/v1/funds",
            Some(&edu),
            &json!({"name": "哈尔滨市助学慈善基金会·合同测试基金", "donor": "d", "purpose": "p", "agreement_ref": "a"}),
        )
        .await
        .json()
        .await
        .unwrap();
    // A volunteer of the education charity and three people who consented to its follow-up.
    let edu_org_id = app.org_id("哈尔滨市助学慈善基金会").await;
    let volunteer: Value = app
        .post(
            &format!("/api/v1/organizations/{edu_org_id}/users"),
            Some(&admin),
            &json!({"username": "vol.contract", "display_name": "志愿者", "password": crate::helpers::DEMO_PASSWORD, "roles": ["grassroots"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let volunteer = volunteer["id"].as_str().unwrap().to_owned();
    let mut followed = vec![person.clone()];
    for first17 in ["23010219850101002", "23010219800202003"] {
        let p = app
            .register_person(
                &daoli,
                &person_body(&crate::helpers::resident_id(first17), "230102001"),
            )
            .await;
        followed.push(p["id"].as_str().unwrap().to_owned());
    }
    let mut pairings = Vec::new();
    for (i, p) in followed.iter().enumerate() {
        let mut c = consent_to(&edu_org_id, &["identity"]);
        c["purposes"] = json!(["follow_up"]);
        assert_eq!(app.consent(&daoli, p, &c).await.status(), 201);
        if i != 1 {
            let res = app
                .post(
                    "/api/v1/pairings",
                    Some(&edu),
                    &json!({"person_id": p, "volunteer_id": volunteer, "started_on": "2026-01-01"}),
                )
                .await;
            assert_eq!(res.status(), 201);
            pairings.push(
                res.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    // A second referral consent: the withdrawal example takes the first one away.
    let res = app
        .consent(&daoli, &person, &consent_to(&care, &["identity"]))
        .await;
    assert_eq!(res.status(), 201);
    let mut referrals = Vec::new();
    let mut open_need = String::new();
    for i in 0..5 {
        let need: Value = app
            .post(
                "/api/v1/needs",
                Some(&daoli),
                &json!({"person_id": person, "category": "medical", "description": "x",
                        "urgency": "normal", "source": "screening"}),
            )
            .await
            .json()
            .await
            .unwrap();
        if i == 4 {
            open_need = need["id"].as_str().unwrap().to_owned();
            break;
        }
        let res = app
            .post(
                "/api/v1/referrals",
                Some(&daoli),
                &json!({"person_id": person, "need_ids": [need["id"]], "target": {"organization_id": care}, "urgency": "normal"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        referrals.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let federation_org = app.org_id("黑龙江省慈善总会").await;
    let res = app
        .consent(&daoli, &person, &consent_to(&federation_org, &["identity"]))
        .await;
    assert_eq!(res.status(), 201);
    let fed_need: Value = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": person, "category": "medical", "description": "x",
                    "urgency": "normal", "source": "screening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [fed_need["id"]], "target": {"organization_id": federation_org}, "urgency": "normal"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let to_federation = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The fourth is accepted and started, for the outcome example.
    let care_token = app.token("charity.care").await;
    for step in ["accept", "start"] {
        let res = app
            .post(
                &format!("/api/v1/referrals/{}/{step}", referrals[3]),
                Some(&care_token),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), 200, "{step}");
    }
    let grid = app.token("grid.worker").await;
    let lead: Value = app
        .post(
            "/api/v1/leads",
            Some(&grid),
            &json!({"person": {"name": "李四"}, "region_code": "230102001", "person_agreed": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    Fixtures {
        lead: lead["id"].as_str().unwrap().to_owned(),
        to_federation,
        referrals: [
            referrals[0].clone(),
            referrals[1].clone(),
            referrals[2].clone(),
            referrals[3].clone(),
        ],
        care: care.clone(),
        open_need,
        unpaired: followed[1].clone(),
        volunteer,
        pairing: pairings[0].clone(),
        pairing_to_end: pairings[1].clone(),
        project: project["id"].as_str().unwrap().to_owned(),
        published_project: published["id"].as_str().unwrap().to_owned(),
        fund: fund["id"].as_str().unwrap().to_owned(),
        person,
        need: need["id"].as_str().unwrap().to_owned(),
        consent: consent["id"].as_str().unwrap().to_owned(),
        organization: harbin,
        user: users[0]["id"].as_str().unwrap().to_owned(),
        client: client["id"].as_str().unwrap().to_owned(),
    }
}

/// The path with its parameters filled: real ids, a random id, or a malformed one.
pub(crate) fn fill(path: &str, f: &Fixtures, variant: &str) -> String {
    let id = match variant {
        "random" => uuid::Uuid::new_v4().to_string(),
        "malformed" => "not-a-uuid".to_owned(),
        _ if path.starts_with("/api/v1/persons/") => f.person.clone(),
        _ if path.starts_with("/api/v1/needs/") => f.need.clone(),
        _ if path.starts_with("/api/v1/consents/") => f.consent.clone(),
        _ if path.starts_with("/api/v1/projects/") && path.ends_with("/disclosures") => {
            f.published_project.clone()
        }
        _ if path.starts_with("/api/v1/projects/") => f.project.clone(),
        _ if path.starts_with("/api/v1/funds/") => f.fund.clone(),
        _ if path.ends_with("/decline") => f.referrals[1].clone(),
        _ if path.ends_with("/complete") => f.referrals[3].clone(),
        _ if path.ends_with("/forward") => f.to_federation.clone(),
        _ if path.ends_with("/cancel") => f.referrals[2].clone(),
        _ if path.starts_with("/api/v1/referrals/") => f.referrals[0].clone(),
        _ if path.starts_with("/api/v1/leads/") => f.lead.clone(),
        _ if path.ends_with("/end") && path.starts_with("/api/v1/pairings/") => {
            f.pairing_to_end.clone()
        }
        _ if path.starts_with("/api/v1/pairings/") => f.pairing.clone(),
        _ => f.organization.clone(),
    };
    let (user, client) = match variant {
        "real" => (f.user.clone(), f.client.clone()),
        _ => (id.clone(), id.clone()),
    };
    path.replace("{id}", &id)
        .replace("{user_id}", &user)
        .replace("{client_id}", &client)
}

/// The messages of a problem that have no Chinese in them (asked for in Chinese).
fn english_messages(p: &Value) -> Vec<String> {
    let chinese = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let mut texts = vec![p["detail"].as_str().unwrap_or("").to_owned()];
    texts.extend(
        p["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["message"].as_str().unwrap_or("").to_owned()),
    );
    texts.into_iter().filter(|t| !chinese(t)).collect()
}

/// A body the operation accepts (for the callers allowed to), so the walk also sees success.
fn valid_body(path: &str, method: &str, f: &Fixtures) -> Option<Value> {
    Some(match (method, path) {
        ("POST", "/api/v1/needs") => json!({"person_id": f.person, "category": "living",
            "description": "contract walk", "urgency": "normal", "source": "screening"}),
        ("POST", "/api/v1/persons/{id}/government-aid") => json!({"programme": "temporary_aid",
            "amount_fen": 1000, "period_start": "2026-01-01", "period_end": "2026-01-31",
            "source_system": "contract", "certifying_region": "230102"}),
        ("PATCH", "/api/v1/needs/{id}") => json!({"status": "closed"}),
        ("PATCH", "/api/v1/persons/{id}") => json!({"name": "王五"}),
        ("POST", "/api/v1/projects") => crate::projects::project_body("contract walk"),
        ("PATCH", "/api/v1/projects/{id}") => json!({"capacity": 4}),
        _ => return None,
    })
}

#[tokio::test]
async fn every_status_the_server_answers_is_in_the_document() {
    let app = spawn_app().await;
    let f = fixtures(&app).await;
    let spec = aidbridge::openapi::spec();
    let spec: Value = serde_json::to_value(&spec).unwrap();
    let mut tokens = vec![None];
    for user in [
        "admin",
        "daoli.ca",
        "province.ca",
        "charity.care",
        "charity.edu",
        "grid.worker",
        "auditor",
    ] {
        tokens.push(Some(app.token(user).await));
    }
    let oversized = format!("{{\"x\":\"{}\"}}", "a".repeat(70 * 1024));
    let mut undocumented = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut untranslated = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented: BTreeSet<String> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let json_body = op
                .pointer("/requestBody/content/application~1json")
                .is_some();
            let has_limit = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "limit"));
            let bodies: Vec<(&str, String)> = if json_body {
                let mut valid = Vec::new();
                if let Some(body) = valid_body(path, method.as_str(), &f) {
                    valid.push(("application/json", body.to_string()));
                }
                valid
                    .into_iter()
                    .chain([
                        ("application/json", "{}".to_owned()),
                        ("application/json", "{\"unknown_field\":1}".to_owned()),
                        ("application/json", "{".to_owned()),
                        ("text/plain", "{}".to_owned()),
                        ("application/json", oversized.clone()),
                    ])
                    .collect()
            } else if path == "/api/v1/auth/token" {
                vec![
                    (
                        "application/x-www-form-urlencoded",
                        "grant_type=password".into(),
                    ),
                    (
                        "application/x-www-form-urlencoded",
                        "grant_type=magic".into(),
                    ),
                    (
                        "application/x-www-form-urlencoded",
                        "grant_type=client_credentials&client_id=x&client_secret=y".into(),
                    ),
                    ("application/x-www-form-urlencoded", oversized.clone()),
                ]
            } else {
                vec![("", String::new())]
            };
            let queries: &[&str] = if has_limit {
                &["", "?limit=0", "?limit=2&cursor=zz", "?region=abc"]
            } else {
                &[""]
            };
            for variant in ["real", "random", "malformed"] {
                if variant != "real" && !path.contains('{') {
                    continue;
                }
                let url = fill(path, &f, variant);
                for query in queries {
                    for token in &tokens {
                        for (content_type, body) in &bodies {
                            let mut req = app
                                .client
                                .request(method.clone(), app.url(&format!("{url}{query}")));
                            if let Some(t) = token {
                                req = req.bearer_auth(t);
                            }
                            if method == Method::PATCH && query.is_empty() && variant == "real" {
                                // A stale version: 412 must be documented where If-Match is.
                                req = req.header("if-match", "\"999999\"");
                            }
                            if !content_type.is_empty() {
                                req = req.header("content-type", *content_type).body(body.clone());
                            }
                            let res = req.header("accept-language", "zh-CN").send().await.unwrap();
                            let status = res.status().as_u16().to_string();
                            let is_problem = res
                                .headers()
                                .get("content-type")
                                .is_some_and(|v| v == "application/problem+json");
                            if is_problem {
                                let p: Value = res.json().await.unwrap();
                                untranslated.extend(english_messages(&p));
                            }
                            seen.insert(status.clone());
                            if status == "500" || !documented.contains(&status) {
                                undocumented.insert(format!("{method} {path} -> {status}"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "answered but not documented: {undocumented:#?}"
    );
    assert!(
        untranslated.is_empty(),
        "problem messages with no Chinese: {untranslated:#?}"
    );
    // The walk reached far enough to mean something.
    for status in [
        "200", "201", "400", "401", "403", "404", "409", "412", "413", "415", "422",
    ] {
        assert!(seen.contains(status), "never saw {status}: {seen:?}");
    }
}

/// Who may send each example, and which existing records its ids refer to.
fn example_caller(path: &str) -> &'static str {
    if path.starts_with("/api/v1/organizations") {
        "admin"
    } else if path == "/api/v1/pairings/{id}/visits" {
        "vol.contract"
    } else if path == "/api/v1/referrals/{id}/forward" {
        "federation"
    } else if path == "/api/v1/referrals/{id}/accept"
        || path == "/api/v1/referrals/{id}/decline"
        || path == "/api/v1/referrals/{id}/complete"
    {
        "charity.care"
    } else if path.starts_with("/api/v1/projects")
        || path.starts_with("/api/v1/pairings")
        || path.starts_with("/api/v1/funds")
        || path.starts_with("/api/v1/aid-records")
        || path.starts_with("/api/v1/disclosures")
        || path.starts_with("/api/v1/feedback-reports")
        || path == "/api/v1/leads"
    {
        "charity.edu"
    } else {
        "daoli.ca"
    }
}

#[tokio::test]
async fn every_request_example_in_the_document_is_accepted() {
    let app = spawn_app().await;
    let f = fixtures(&app).await;
    let spec: Value = serde_json::to_value(aidbridge::openapi::spec()).unwrap();
    let schemas = &spec["components"]["schemas"];
    let mut refused = Vec::new();
    let mut tried = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema_ref) = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let name = schema_ref.rsplit('/').next().unwrap();
            let mut example = schemas[name]["example"].clone();
            assert!(
                example.is_object(),
                "{method} {path}: {name} has no example for Swagger UI to offer"
            );
            // Ids in examples are placeholders: point them at records of this test.
            if example.get("person_id").is_some() {
                example["person_id"] = json!(f.person);
            }
            if example.get("project_id").is_some() {
                example["project_id"] = json!(f.published_project);
            }
            if path == "/api/v1/referrals/{id}/forward" {
                example["organization_id"] = json!(f.care);
            }
            if path == "/api/v1/referrals" {
                example["need_ids"] = json!([f.open_need]);
                example["target"] = json!({"organization_id": f.care});
            }
            if path == "/api/v1/pairings" {
                example["person_id"] = json!(f.unpaired);
                example["volunteer_id"] = json!(f.volunteer);
            }
            if let Some(records) = example.get_mut("records").and_then(Value::as_array_mut) {
                for r in records {
                    r["person_id"] = json!(f.person);
                    r["project_id"] = json!(f.published_project);
                }
            }
            let url = fill(path, &f, "real");
            let token = app.token(example_caller(path)).await;
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(method.clone(), app.url(&url))
                .bearer_auth(&token)
                .json(&example)
                .send()
                .await
                .unwrap();
            tried += 1;
            if !res.status().is_success() {
                let status = res.status();
                refused.push(format!(
                    "{method} {path} -> {status}: {}",
                    res.text().await.unwrap()
                ));
            }
        }
    }
    assert!(tried >= 14, "only {tried} examples");
    assert!(
        refused.is_empty(),
        "examples the server refuses: {refused:#?}"
    );
}
