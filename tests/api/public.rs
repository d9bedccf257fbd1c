//! Public endpoints: no token, cacheable with ETag/304, open to every origin, and never a trace
//! of a person.

use serde_json::{json, Value};

use crate::helpers::{consent_to, person_body, spawn_app, ADULT_ID, ADULT_PHONE};
use crate::projects::{project_body, published_project};

#[tokio::test]
async fn public_disclosure_is_open_cacheable_and_free_of_personal_data() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let edu = app.token("charity.edu").await;
    let body = person_body(ADULT_ID, "230102001");
    let person = app.register_person(&daoli, &body).await;
    let person_id = person["id"].as_str().unwrap().to_owned();
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .consent(
            &daoli,
            &person_id,
            &consent_to(&edu_org, &["identity", "contact"]),
        )
        .await;
    assert_eq!(res.status(), 201);
    let project = published_project(&app, &edu, &project_body("公开助医")).await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let fund: Value = app
        .post(
            "/api/v1/funds",
            Some(&edu),
            &json!({"name": "哈尔滨市助学慈善基金会·公开基金", "donor": "张某某", "purpose": "助医", "agreement_ref": "A-9"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/api/v1/funds/{}/entries", fund["id"].as_str().unwrap()),
            Some(&edu),
            &json!({"kind": "donation", "amount_fen": 900000, "counterparty": "张某某", "occurred_on": "2026-03-01"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            "/api/v1/aid-records",
            Some(&edu),
            &json!({"person_id": person_id, "project_id": pid, "category": "medical", "form": "cash",
                    "value_fen": 300000, "aid_on": "2026-06-01", "fund_id": fund["id"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            &format!("/api/v1/projects/{pid}/disclosures"),
            Some(&edu),
            &json!({"kind": "progress", "period_start": "2026-01-01", "period_end": "2026-06-30",
                    "text": "上半年资助 1 人。", "figures": {"beneficiaries": 1, "funds_used_fen": 300000}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let draft: Value = app
        .post("/api/v1/projects", Some(&edu), &project_body("草稿"))
        .await
        .json()
        .await
        .unwrap();

    let mut bodies = Vec::new();
    for path in [
        "/api/v1/public/projects".to_owned(),
        "/api/v1/public/projects?region=230102&category=medical".to_owned(),
        format!("/api/v1/public/projects/{pid}"),
        format!("/api/v1/public/organizations/{edu_org}"),
        "/api/v1/public/stats".to_owned(),
    ] {
        let res = app
            .client
            .get(app.url(&path))
            .header("origin", "https://news.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["cache-control"], "public, max-age=60", "{path}");
        assert_eq!(
            h["access-control-allow-origin"], "https://news.example",
            "{path}"
        );
        let etag = h["etag"].to_str().unwrap().to_owned();
        let text = res.text().await.unwrap();
        // The same answer again: 304 without a body.
        let res = app
            .client
            .get(app.url(&path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304, "{path}");
        assert_eq!(res.headers()["etag"], etag.as_str());
        assert!(res.text().await.unwrap().is_empty());
        bodies.push((path, text));
    }
    let detail: Value = serde_json::from_str(&bodies[2].1).unwrap();
    assert_eq!(detail["beneficiaries"], 1);
    assert_eq!(detail["funds_used_fen"], 300000);
    assert_eq!(detail["disclosures"][0]["figures"]["beneficiaries"], 1);
    let org: Value = serde_json::from_str(&bodies[3].1).unwrap();
    assert_eq!(org["funds"][0]["balance_fen"], 600000);
    assert!(org["funds"][0].get("donor").is_none());
    // One person helped: too few to publish (no figure may point at a person).
    let stats: Value = serde_json::from_str(&bodies[4].1).unwrap();
    assert!(stats["people_helped"].is_null());
    assert_eq!(stats["by_category"], json!([]));
    let res = app.get("/api/v1/public/stats?region=230102001", None).await;
    assert_eq!(res.status(), 400);

    // Not one trace of the person (nor of the donor) in any public answer.
    let name = body["name"].as_str().unwrap();
    for (path, text) in &bodies {
        for secret in [name, ADULT_ID, ADULT_PHONE, &person_id, "张某某"] {
            assert!(!text.contains(secret), "{path} shows {secret}: {text}");
        }
    }
    // Drafts are not public; changes change the ETag.
    let res = app
        .get(
            &format!("/api/v1/public/projects/{}", draft["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(res.status(), 404);
    let before = app
        .get(&format!("/api/v1/public/projects/{pid}"), None)
        .await
        .headers()["etag"]
        .clone();
    let res = app
        .patch(
            &format!("/api/v1/projects/{pid}"),
            Some(&edu),
            &json!({"capacity": 10}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let after = app
        .get(&format!("/api/v1/public/projects/{pid}"), None)
        .await
        .headers()["etag"]
        .clone();
    assert_ne!(before, after);
}
