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
