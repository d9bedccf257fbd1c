//! Matching a need to projects on a small fixed data set: results, reasons, near misses, and a
//! person who fits nothing.

use serde_json::{json, Value};

use crate::helpers::{person_body, problem, resident_id, spawn_app, ADULT_ID};
use crate::projects::{project_body, published_project};

#[tokio::test]
async fn a_need_finds_the_projects_that_fit_with_their_reasons() {
    let app = spawn_app().await;
    let edu = app.token("charity.edu").await;
    let care = app.token("charity.care").await;
    let daoli = app.token("daoli.ca").await;
    let project = |name: &str, prefixes: Value, categories: Value, tiers: Value| {
        let mut b = project_body(name);
        b["eligibility"] = json!({"region_prefixes": prefixes, "tiers": tiers});
        b["categories"] = categories;
        b
    };
    // Daoli district, medical, any tier: fits.
    let district = published_project(
        &app,
        &care,
        &project("道里助医", json!(["230102"]), json!(["medical"]), json!([])),
    )
    .await;
    // The whole city, medical, for the subsistence tier and major illness: fits better.
    let mut targeted = project(
        "哈尔滨大病救助",
        json!(["2301"]),
        json!(["medical"]),
        json!(["subsistence_allowance"]),
    );
    targeted["eligibility"]["circumstances"] = json!(["major_illness"]);
    let targeted = published_project(&app, &edu, &targeted).await;
    // The city, medical, extreme poverty only: a near miss on the tier.
    let near = published_project(
        &app,
        &edu,
        &project(
            "特困助医",
            json!(["2301"]),
            json!(["medical"]),
            json!(["extreme_poverty"]),
        ),
    )
    .await;
    // Another city, and another category: never candidates.
    published_project(
        &app,
        &edu,
        &project(
            "齐齐哈尔助医",
            json!(["2302"]),
            json!(["medical"]),
            json!([]),
        ),
    )
    .await;
    published_project(
        &app,
        &edu,
        &project("助学", json!(["2301"]), json!(["education"]), json!([])),
    )
    .await;
    // A draft never matches.
    app.post(
        "/api/v1/projects",
        Some(&edu),
        &project("草稿", json!(["2301"]), json!(["medical"]), json!([])),
    )
    .await;

    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001"))
        .await;
    let need: Value = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": person["id"], "category": "medical", "description": "化疗", "urgency": "urgent", "source": "screening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/needs/{}/matches", need["id"].as_str().unwrap());
    let m: Value = app
        .get(&format!("{path}?include_near=true"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = m["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["project"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            targeted["id"].as_str().unwrap(),
            district["id"].as_str().unwrap()
        ]
    );
    assert_eq!(
        m["matches"][0]["reasons"],
        json!(["region_prefix", "tier", "circumstance"])
    );
    assert_eq!(m["matches"][1]["reasons"], json!(["region_prefix"]));
    assert_eq!(m["matches"][0]["places_left"], 3);
    assert!(m["matches"][0]["days_to_end"].as_i64().unwrap() > 0);
    assert_eq!(m["near_misses"].as_array().unwrap().len(), 1);
    assert_eq!(m["near_misses"][0]["project"]["id"], near["id"]);
    assert_eq!(m["near_misses"][0]["failed"], json!(["tier"]));
    // Without include_near, no near misses.
    let plain: Value = app.get(&path, Some(&daoli)).await.json().await.unwrap();
    assert_eq!(plain["near_misses"], json!([]));
    assert_eq!(plain["matches"].as_array().unwrap().len(), 2);

    // A person whose need no project serves: nothing, and nothing near.
    let other = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219850101002"), "230102001"),
        )
        .await;
    let housing: Value = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": other["id"], "category": "housing", "description": "危房", "urgency": "normal", "source": "screening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let none: Value = app
        .get(
            &format!(
                "/api/v1/needs/{}/matches?include_near=true",
                housing["id"].as_str().unwrap()
            ),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (none["matches"].clone(), none["near_misses"].clone()),
        (json!([]), json!([]))
    );

    // Staff of another city, and charities, do not match this region's needs.
    let qiqihar = app.qiqihar_token().await;
    problem(app.get(&path, Some(&qiqihar)).await, 404).await;
    problem(app.get(&path, Some(&edu)).await, 403).await;
}

#[tokio::test]
async fn a_project_sees_only_needs_whose_people_consented_to_matching_with_it() {
    use crate::helpers::{consent_to, NOTICE_SHA256};
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let mut body = project_body("道里关爱");
    body["eligibility"]["tiers"] = json!([]);
    let project = published_project(&app, &care, &body).await;
    // A project for the seriously ill: no consent here names health, so nobody can be judged.
    body["name"] = json!("道里大病关爱");
    body["eligibility"]["circumstances"] = json!(["major_illness"]);
    let illness = published_project(&app, &care, &body).await;

    let mut people = Vec::new();
    for first17 in [
        "23010219900307001",
        "23010219850101002",
        "23010219800202003",
        "23010219700303004",
        "23010219600404005",
    ] {
        let p = app
            .register_person(&daoli, &person_body(&resident_id(first17), "230102001"))
            .await;
        let id = p["id"].as_str().unwrap().to_owned();
        let res = app
            .post(
                "/api/v1/needs",
                Some(&daoli),
                &json!({"person_id": id, "category": "medical", "description": "大病", "urgency": "urgent", "source": "screening"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        people.push(id);
    }
    let with = |org: &str, purposes: Value, categories: &[&str]| {
        let mut c = consent_to(org, categories);
        c["purposes"] = purposes;
        c
    };
    // 0: names the charity for matching (identity only); 1: every charity of Daoli (summary);
    // 2: names it for follow-up only; 3: no consent; 4: names another charity.
    let consents = [
        (0, with(&care_org, json!(["matching"]), &["identity"])),
        (
            1,
            json!({"recipient": {"region_code": "230102"}, "purposes": ["matching"], "method": "electronic",
                   "notice_version": "hlj-2024.1", "notice_sha256": NOTICE_SHA256,
                   "evidence_ref": "e-1", "given_by": "subject"}),
        ),
        (2, with(&care_org, json!(["follow_up"]), &["identity"])),
        (4, with(&edu_org, json!(["matching"]), &["identity"])),
    ];
    for (i, c) in consents {
        let res = app.consent(&daoli, &people[i], &c).await;
        assert_eq!(res.status(), 201, "consent {i}");
    }

    let path = format!(
        "/api/v1/projects/{}/matches",
        project["id"].as_str().unwrap()
    );
    let m: Value = app.get(&path, Some(&care)).await.json().await.unwrap();
    let m = m.as_array().unwrap();
    assert_eq!(m.len(), 2, "{m:?}");
    let named = m.iter().find(|x| x["person"].is_object()).unwrap();
    assert_eq!(named["person"]["id"], people[0].as_str());
    assert_eq!(named["person"]["name"], "张三");
    assert!(named["need_id"].is_string());
    assert_eq!(named["reasons"], json!(["region_prefix"]));
    // Without `household` the region is shown down to the county only.
    assert_eq!(named["region_code"], "230102");
    let summary = m.iter().find(|x| x["person"].is_null()).unwrap();
    assert!(summary["need_id"].is_null());
    assert_eq!(summary["region_code"], "230102");
    assert_eq!(summary["age_band"], "35-59");
    let text = serde_json::to_string(&m).unwrap();
    for hidden in &people[1..] {
        assert!(!text.contains(hidden.as_str()));
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'project.matches'")
            .await,
        1
    );
    let none: Value = app
        .get(
            &format!(
                "/api/v1/projects/{}/matches",
                illness["id"].as_str().unwrap()
            ),
            Some(&care),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));
    // Another charity cannot match on this project.
    let edu = app.token("charity.edu").await;
    problem(app.get(&path, Some(&edu)).await, 403).await;
}
