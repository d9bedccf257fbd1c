//! Volunteer pairing: under a follow-up consent only; the volunteer sees the consented contact
//! data and its own visits.

use serde_json::{json, Value};

use crate::helpers::{consent_to, fields, person_body, problem, spawn_app, ADULT_ID, ADULT_PHONE};

#[tokio::test]
async fn a_volunteer_visits_a_person_who_consented_to_follow_up() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    // Two volunteers of the care centre.
    let mut volunteers = Vec::new();
    for name in ["vol.li", "vol.wang"] {
        let res = app
            .post(
                &format!("/api/v1/organizations/{care_org}/users"),
                Some(&admin),
                &json!({"username": name, "display_name": name, "password": "volunteer-password", "roles": ["grassroots"]}),
            )
            .await;
        assert_eq!(res.status(), 201, "{name}");
        volunteers.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let person = app
        .register_person(&daoli, &person_body(ADULT_ID, "230102001"))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pair =
        json!({"person_id": person, "volunteer_id": volunteers[0], "started_on": "2026-06-01"});
    // No follow-up consent yet: the charity does not find the person.
    problem(app.post("/api/v1/pairings", Some(&care), &pair).await, 404).await;
    let mut consent = consent_to(&care_org, &["identity", "contact"]);
    consent["purposes"] = json!(["follow_up"]);
    let res = app.consent(&daoli, &person, &consent).await;
    assert_eq!(res.status(), 201);
    let consent_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Only a grassroots user of the caller's organisation can be paired.
    let wrong = json!({"person_id": person, "volunteer_id": person, "started_on": "2026-06-01"});
    assert_eq!(
        fields(&problem(app.post("/api/v1/pairings", Some(&care), &wrong).await, 422).await),
        ["volunteer_id"]
    );
    let res = app.post("/api/v1/pairings", Some(&care), &pair).await;
    assert_eq!(res.status(), 201);
    let pairing: Value = res.json().await.unwrap();
    let pid = pairing["id"].as_str().unwrap().to_owned();
    assert_eq!(
        problem(app.post("/api/v1/pairings", Some(&care), &pair).await, 409).await["code"],
        "already_paired"
    );

    // The volunteer sees the consented contact data (recorded) and records visits.
    let li = app
        .try_token("vol.li", "volunteer-password")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wang = app
        .try_token("vol.wang", "volunteer-password")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen: Value = app
        .get(&format!("/api/v1/pairings/{pid}"), Some(&li))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["person"]["name"], "张三");
    assert_eq!(seen["person"]["phone"], ADULT_PHONE);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.disclose' AND details->>'purpose' = 'follow_up'").await,
        1
    );
    let visit = json!({"visited_on": "2026-06-05", "minutes": 60, "kind": "home_visit", "note": "检查取暖"});
    let res = app
        .post(&format!("/api/v1/pairings/{pid}/visits"), Some(&li), &visit)
        .await;
    assert_eq!(res.status(), 201);
    // Another volunteer neither sees the pairing nor records on it; staff cannot record visits.
    problem(
        app.get(&format!("/api/v1/pairings/{pid}"), Some(&wang))
            .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("/api/v1/pairings/{pid}/visits"),
            Some(&wang),
            &visit,
        )
        .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("/api/v1/pairings/{pid}/visits"),
            Some(&care),
            &visit,
        )
        .await,
        403,
    )
    .await;
    let future = json!({"visited_on": "2099-01-01", "minutes": 60, "kind": "home_visit"});
    assert_eq!(
        fields(
            &problem(
                app.post(
                    &format!("/api/v1/pairings/{pid}/visits"),
                    Some(&li),
                    &future
                )
                .await,
                422
            )
            .await
        ),
        ["visited_on"]
    );
    let mine: Value = app
        .get(&format!("/api/v1/pairings/{pid}/visits"), Some(&li))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let listed: Value = app
        .get("/api/v1/pairings", Some(&wang))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));

    // Withdrawing the consent takes the contact data away at once.
    let res = app
        .post(
            &format!("/api/v1/consents/{consent_id}/withdraw"),
            Some(&daoli),
            &json!({"reason": "本人撤回"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let after: Value = app
        .get(&format!("/api/v1/pairings/{pid}"), Some(&li))
        .await
        .json()
        .await
        .unwrap();
    assert!(after["person"]["name"].is_null() && after["person"]["phone"].is_null());

    let res = app
        .post(&format!("/api/v1/pairings/{pid}/visits"), Some(&li), &visit)
        .await;
    assert_eq!(problem(res, 409).await["code"], "consent_withdrawn");
    // Staff end it; then no more visits.
    let res = app
        .post(
            &format!("/api/v1/pairings/{pid}/end"),
            Some(&care),
            &json!({"reason": "同意撤回"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(&format!("/api/v1/pairings/{pid}/visits"), Some(&li), &visit)
        .await;
    assert_eq!(problem(res, 409).await["code"], "pairing_ended");
}
