//! Referrals: consent by purpose, the emergency basis, who may act, races on accept and on a
//! project's last place, and the needs moving with the referral.

use serde_json::{json, Value};

use crate::helpers::{
    consent_to, person_body, problem, resident_id, spawn_app, TestApp, NOTICE_SHA256,
};
use crate::projects::{project_body, published_project};

/// A Daoli person with an open medical need; returns (person id, need id).
pub async fn person_with_need(app: &TestApp, first17: &str) -> (String, String) {
    let daoli = app.token("daoli.ca").await;
    let p = app
        .register_person(&daoli, &person_body(&resident_id(first17), "230102001"))
        .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let need: Value = app
        .post(
            "/api/v1/needs",
            Some(&daoli),
            &json!({"person_id": id, "category": "medical", "description": "化疗", "urgency": "urgent", "source": "screening"}),
        )
        .await
        .json()
        .await
        .unwrap();
    (id, need["id"].as_str().unwrap().to_owned())
}

pub async fn consent_for(app: &TestApp, person: &str, org: &str, purposes: Value) {
    let daoli = app.token("daoli.ca").await;
    let mut c = consent_to(org, &["identity"]);
    c["purposes"] = purposes;
    assert_eq!(app.consent(&daoli, person, &c).await.status(), 201);
}

async fn need_status(app: &TestApp, need: &str) -> String {
    let daoli = app.token("daoli.ca").await;
    let n: Value = app
        .get(&format!("/api/v1/needs/{need}"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    n["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_referral_needs_a_consent_for_referral_and_only_one_accept_wins() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let edu = app.token("charity.edu").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    let body = json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org},
                      "urgency": "urgent", "note": "自付缺口"});
    // A consent for matching does not allow a referral (purpose limitation).
    consent_for(&app, &person, &care_org, json!(["matching"])).await;
    let p = problem(
        app.post("/api/v1/referrals", Some(&daoli), &body).await,
        422,
    )
    .await;
    assert_eq!(p["code"], "consent_required");
    assert_eq!(need_status(&app, &need).await, "open");
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let res = app.post("/api/v1/referrals", Some(&daoli), &body).await;
    assert_eq!(res.status(), 201);
    let r: Value = res.json().await.unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (r["status"].as_str(), r["legal_basis"].as_str()),
        (Some("pending"), Some("consent"))
    );
    assert_eq!(need_status(&app, &need).await, "referred");

    // Other charities neither see nor answer it; the bureau cannot accept for the charity.
    problem(
        app.get(&format!("/api/v1/referrals/{id}"), Some(&edu))
            .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&edu),
            &json!({}),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.post(
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&daoli),
            &json!({}),
        )
        .await,
        403,
    )
    .await;

    // Twenty accepts at once: exactly one wins.
    let path = format!("/api/v1/referrals/{id}/accept");
    let racers = (0..20).map(|_| {
        let (app, care, path) = (&app, &care, &path);
        async move {
            app.post(path, Some(care), &json!({}))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM referral_history WHERE referral_id = '{id}'"
        ))
        .await,
        2
    );
    // The two parties exchange notes; another charity does not read them, auditors do.
    let notes = format!("/api/v1/referrals/{id}/notes");
    assert_eq!(
        app.post(
            &notes,
            Some(&care),
            &json!({"body": "已电话联系，周五家访"})
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        app.post(&notes, Some(&daoli), &json!({"body": "好的，请反馈结果"}))
            .await
            .status(),
        201
    );
    problem(app.get(&notes, Some(&edu)).await, 404).await;
    problem(
        app.post(&notes, Some(&edu), &json!({"body": "x"})).await,
        404,
    )
    .await;
    let auditor = app.token("auditor").await;
    let read: Value = app.get(&notes, Some(&auditor)).await.json().await.unwrap();
    assert_eq!(read.as_array().unwrap().len(), 2);
    problem(
        app.post(&notes, Some(&auditor), &json!({"body": "x"}))
            .await,
        403,
    )
    .await;
    // Declining an accepted referral is illegal, naming the state; the bureau may cancel.
    let res = app
        .post(
            &format!("/api/v1/referrals/{id}/decline"),
            Some(&care),
            &json!({"reason": "no_capacity"}),
        )
        .await;
    let p = problem(res, 409).await;
    assert_eq!(
        (p["code"].as_str(), p["from"].as_str()),
        (Some("illegal_transition"), Some("accepted"))
    );
    problem(
        app.post(
            &format!("/api/v1/referrals/{id}/cancel"),
            Some(&care),
            &json!({"reason": "x"}),
        )
        .await,
        403,
    )
    .await;
    let res = app
        .post(
            &format!("/api/v1/referrals/{id}/cancel"),
            Some(&daoli),
            &json!({"reason": "已由临时救助解决"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(need_status(&app, &need).await, "open");
    let history: Value = app
        .get(&format!("/api/v1/referrals/{id}/history"), Some(&care))
        .await
        .json()
        .await
        .unwrap();
    let steps: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["pending", "accepted", "cancelled"]);
    assert!(app.exec("DELETE FROM referral_history").await.is_err());
}

#[tokio::test]
async fn an_open_referral_goes_to_the_first_charity_and_an_emergency_needs_a_reason() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let edu = app.token("charity.edu").await;
    let (person, need) = person_with_need(&app, "23010219850101002").await;
    // A consent for every charity of Harbin, for referral.
    let class = json!({"recipient": {"region_code": "2301"}, "purposes": ["referral"], "method": "electronic",
                       "notice_version": "hlj-2024.1", "notice_sha256": NOTICE_SHA256, "evidence_ref": "e-2", "given_by": "subject"});
    assert_eq!(app.consent(&daoli, &person, &class).await.status(), 201);
    let res = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"region_code": "230100"}, "urgency": "normal"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["target_region_code"], "2301");
    let path = format!("/api/v1/referrals/{}/accept", r["id"].as_str().unwrap());
    // Both Harbin charities see it; both accept at once; one owns it.
    for t in [&care, &edu] {
        let received: Value = app
            .get("/api/v1/referrals?direction=received", Some(t))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(received["items"].as_array().unwrap().len(), 1);
        // An offer only: no person, no needs, until one accepts.
        assert!(received["items"][0]["person_id"].is_null());
        assert_eq!(received["items"][0]["need_ids"], json!([]));
    }
    // Nor can one of them decline it for the others.
    let decline = format!("/api/v1/referrals/{}/decline", r["id"].as_str().unwrap());
    problem(
        app.post(&decline, Some(&edu), &json!({"reason": "no_capacity"}))
            .await,
        403,
    )
    .await;
    let empty = json!({});
    let (a, b) = tokio::join!(
        app.post(&path, Some(&care), &empty),
        app.post(&path, Some(&edu), &empty)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let loser = if a.status() == 409 { a } else { b };
    assert_eq!(problem(loser, 409).await["code"], "already_taken");
    let owner = app
        .count(&format!(
            "SELECT count(*) AS n FROM referrals WHERE id = '{}' AND owner_organization_id IS NOT NULL AND status = 'accepted'",
            r["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(owner, 1);

    // No consent at all: only an emergency with its justification may go ahead, flagged.
    let (other, other_need) = person_with_need(&app, "23010219800202003").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let mut body = json!({"person_id": other, "need_ids": [other_need], "target": {"organization_id": care_org}, "urgency": "urgent"});
    problem(
        app.post("/api/v1/referrals", Some(&daoli), &body).await,
        422,
    )
    .await;
    body["urgency"] = json!("emergency");
    problem(
        app.post("/api/v1/referrals", Some(&daoli), &body).await,
        422,
    )
    .await;
    body["emergency_justification"] = json!("独居老人高烧昏迷，需立即送医");
    let res = app.post("/api/v1/referrals", Some(&daoli), &body).await;
    assert_eq!(res.status(), 201);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["legal_basis"], "emergency");
    let due = chrono::DateTime::parse_from_rfc3339(e["response_due_at"].as_str().unwrap()).unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap()).unwrap();
    assert_eq!((due - created).num_hours(), 4);
}

#[tokio::test]
async fn accepting_for_a_project_takes_its_last_place_once() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let mut body = project_body("一个名额");
    body["capacity"] = json!(1);
    body["eligibility"]["tiers"] = json!([]);
    let project = published_project(&app, &care, &body).await;
    let mut ids = Vec::new();
    for first17 in ["23010219900307001", "23010219850101002"] {
        let (person, need) = person_with_need(&app, first17).await;
        consent_for(&app, &person, &care_org, json!(["referral"])).await;
        let res = app
            .post(
                "/api/v1/referrals",
                Some(&daoli),
                &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org},
                        "project_id": project["id"], "urgency": "normal"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let accept = |id: String| {
        let (app, care) = (&app, &care);
        async move {
            app.post(
                &format!("/api/v1/referrals/{id}/accept"),
                Some(care),
                &json!({}),
            )
            .await
        }
    };
    let (a, b) = tokio::join!(accept(ids[0].clone()), accept(ids[1].clone()));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let loser = if a.status() == 409 { a } else { b };
    assert_eq!(problem(loser, 409).await["code"], "no_places_left");
    assert_eq!(
        app.count(&format!(
            "SELECT places_left::bigint AS n FROM projects WHERE id = '{}'",
            project["id"].as_str().unwrap()
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM referrals WHERE status = 'pending'")
            .await,
        1
    );
    // Cancelled before any aid: the place comes back.
    let accepted: Value = app
        .get("/api/v1/referrals?status=accepted", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!(
                "/api/v1/referrals/{}/cancel",
                accepted["items"][0]["id"].as_str().unwrap()
            ),
            Some(&daoli),
            &json!({"reason": "本人已获其他帮助"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.count(&format!(
            "SELECT places_left::bigint AS n FROM projects WHERE id = '{}'",
            project["id"].as_str().unwrap()
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn a_referral_is_helped_and_reported_back_and_an_unanswered_one_expires() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let mut body = project_body("关爱");
    body["eligibility"]["tiers"] = json!([]);
    let project = published_project(&app, &care, &body).await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let referral: Value = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org},
                    "project_id": project["id"], "urgency": "urgent"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = referral["id"].as_str().unwrap().to_owned();
    let at = |action: &str| format!("/api/v1/referrals/{id}/{action}");
    // Completing before starting is illegal; accept, start, help, report.
    let done = json!({"outcome": "got_help", "aid_record_ids": []});
    assert_eq!(
        problem(app.post(&at("complete"), Some(&care), &done).await, 409).await["from"],
        "pending"
    );
    assert_eq!(
        app.post(&at("accept"), Some(&care), &json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post(&at("start"), Some(&care), &json!({}))
            .await
            .status(),
        200
    );
    let aid: Value = app
        .post(
            "/api/v1/aid-records",
            Some(&care),
            &json!({"person_id": person, "project_id": project["id"], "category": "medical", "form": "cash",
                    "value_fen": 200000, "aid_on": "2026-06-01"}),
        )
        .await
        .json()
        .await
        .unwrap();
    // The aid took no second place: the accepted referral already holds the person's.
    assert_eq!(
        app.count(&format!(
            "SELECT places_left::bigint AS n FROM projects WHERE id = '{}'",
            project["id"].as_str().unwrap()
        ))
        .await,
        2
    );
    let stranger = json!({"outcome": "got_help", "aid_record_ids": [person]});
    let p = problem(app.post(&at("complete"), Some(&care), &stranger).await, 422).await;
    assert_eq!(crate::helpers::fields(&p), ["aid_record_ids[0]"]);
    let res = app
        .post(
            &at("complete"),
            Some(&care),
            &json!({"outcome": "got_help", "aid_record_ids": [aid["id"]], "note": "已资助"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let completed: Value = res.json().await.unwrap();
    assert_eq!(completed["aid_record_ids"], json!([aid["id"]]));
    assert_eq!(need_status(&app, &need).await, "met");

    // An emergency referral nobody answers expires after 4 hours; its need goes back.
    let (other, other_need) = person_with_need(&app, "23010219850101002").await;
    consent_for(&app, &other, &care_org, json!(["referral"])).await;
    let r: Value = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": other, "need_ids": [other_need], "target": {"organization_id": care_org}, "urgency": "emergency"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ctx = app.service_context();
    assert_eq!(
        aidbridge::service::referrals::expire_overdue(&ctx)
            .await
            .unwrap(),
        0
    );
    app.clock
        .advance(chrono::Duration::hours(4) + chrono::Duration::minutes(1));
    assert_eq!(
        aidbridge::service::referrals::expire_overdue(&ctx)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        aidbridge::service::referrals::expire_overdue(&ctx)
            .await
            .unwrap(),
        0
    );
    let daoli = app.token("daoli.ca").await;
    let expired: Value = app
        .get(
            &format!("/api/v1/referrals/{}", r["id"].as_str().unwrap()),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["status"], "expired");
    assert_eq!(need_status(&app, &other_need).await, "open");
    // A new attempt follows the expired one; a made-up predecessor is refused.
    let mut again = json!({"person_id": other, "need_ids": [other_need], "target": {"organization_id": care_org},
                           "urgency": "emergency", "previous_referral_id": person});
    let p = problem(
        app.post("/api/v1/referrals", Some(&daoli), &again).await,
        422,
    )
    .await;
    assert_eq!(crate::helpers::fields(&p), ["previous_referral_id"]);
    again["previous_referral_id"] = r["id"].clone();
    let res = app.post("/api/v1/referrals", Some(&daoli), &again).await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.json::<Value>().await.unwrap()["previous_referral_id"],
        r["id"]
    );
}

#[tokio::test]
async fn withdrawing_the_consent_cancels_the_referrals_that_relied_on_it() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    let mut c = consent_to(&care_org, &["identity"]);
    c["purposes"] = json!(["referral"]);
    let consent: Value = app.consent(&daoli, &person, &c).await.json().await.unwrap();
    let r: Value = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org}, "urgency": "normal"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post(
            &format!("/api/v1/referrals/{id}/accept"),
            Some(&care),
            &json!({})
        )
        .await
        .status(),
        200
    );
    let res = app
        .post(
            &format!(
                "/api/v1/consents/{}/withdraw",
                consent["id"].as_str().unwrap()
            ),
            Some(&daoli),
            &json!({"reason": "本人撤回"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let w: Value = res.json().await.unwrap();
    assert_eq!(w["effects"]["referrals_cancelled"], json!([id]));
    let now: Value = app
        .get(&format!("/api/v1/referrals/{id}"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["status"].as_str(), now["cancel_reason"].as_str()),
        (Some("cancelled"), Some("consent_withdrawn"))
    );
    assert_eq!(need_status(&app, &need).await, "open");
}

#[tokio::test]
async fn staff_cannot_act_on_a_declared_relatives_case_but_a_colleague_can() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let admin = app.token("admin").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let daoli_org = app.org_id("哈尔滨市道里区民政局").await;
    let relative_id = resident_id("23010219900307001");
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let res = app
        .post(
            "/api/v1/me/relations",
            Some(&daoli),
            &json!({"id_number": relative_id, "relation": "sibling"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let declared: Value = res.json().await.unwrap();
    assert!(!declared.to_string().contains(&relative_id));
    let body = json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org}, "urgency": "normal"});
    let p = problem(
        app.post("/api/v1/referrals", Some(&daoli), &body).await,
        403,
    )
    .await;
    assert_eq!(p["code"], "conflict_of_interest");
    let aid = json!({"programme": "temporary_aid", "amount_fen": 1000, "period_start": "2026-06-01",
                     "period_end": "2026-06-30", "source_system": "x", "certifying_region": "230102"});
    let p = problem(
        app.post(
            &format!("/api/v1/persons/{person}/government-aid"),
            Some(&daoli),
            &aid,
        )
        .await,
        403,
    )
    .await;
    assert_eq!(p["code"], "conflict_of_interest");
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'conflict_of_interest.refused'"
        )
        .await,
        2
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM referrals").await, 0);
    // A colleague of the same bureau may act.
    let res = app
        .post(
            &format!("/api/v1/organizations/{daoli_org}/users"),
            Some(&admin),
            &json!({"username": "daoli.colleague", "display_name": "同事", "password": "colleague-password", "roles": ["civil_affairs"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let colleague = app
        .try_token("daoli.colleague", "colleague-password")
        .await
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.post("/api/v1/referrals", Some(&colleague), &body)
            .await
            .status(),
        201
    );
    // Auditors see the declaration (without the number); its owner can remove it.
    let auditor = app.token("auditor").await;
    let list: Value = app
        .get(
            &format!("/api/v1/organizations/{daoli_org}/relations"),
            Some(&auditor),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["relation"], "sibling");
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/me/relations/{}",
            declared["id"].as_str().unwrap()
        )))
        .bearer_auth(&daoli)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let mine: Value = app
        .get("/api/v1/me/relations", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]));
}

#[tokio::test]
async fn a_federation_forwards_a_referral_to_a_member_and_both_are_linked() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let federation = app.token("federation").await;
    let care = app.token("charity.care").await;
    let edu = app.token("charity.edu").await;
    let federation_org = app.org_id("黑龙江省慈善总会").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    consent_for(&app, &person, &federation_org, json!(["referral"])).await;
    let r: Value = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": federation_org}, "urgency": "normal"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/referrals/{}/forward", r["id"].as_str().unwrap());
    // The member needs its own consent; a non-member is refused; others cannot forward.
    let to_care = json!({"organization_id": care_org});
    assert_eq!(
        problem(app.post(&path, Some(&federation), &to_care).await, 422).await["code"],
        "consent_required"
    );
    let daoli_org = app.org_id("哈尔滨市道里区民政局").await;
    problem(
        app.post(
            &path,
            Some(&federation),
            &json!({"organization_id": daoli_org}),
        )
        .await,
        422,
    )
    .await;
    problem(app.post(&path, Some(&edu), &to_care).await, 404).await;
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let res = app.post(&path, Some(&federation), &to_care).await;
    assert_eq!(res.status(), 201);
    let forwarded: Value = res.json().await.unwrap();
    assert_eq!(forwarded["forwarded_from_id"], r["id"]);
    assert_eq!(forwarded["target_organization_id"], care_org.as_str());
    let original: Value = app
        .get(
            &format!("/api/v1/referrals/{}", r["id"].as_str().unwrap()),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(original["status"], "cancelled");
    assert_eq!(original["cancel_reason"], "forwarded");
    assert_eq!(original["forwarded_to_id"], forwarded["id"]);
    assert_eq!(need_status(&app, &need).await, "referred");
    let accept = format!(
        "/api/v1/referrals/{}/accept",
        forwarded["id"].as_str().unwrap()
    );
    assert_eq!(
        app.post(&accept, Some(&care), &json!({})).await.status(),
        200
    );
}

#[tokio::test]
async fn a_charity_reads_for_referral_only_while_a_referral_to_it_is_open() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let read = |care: String| {
        let (app, person) = (&app, &person);
        async move {
            let res = app
                .get(
                    &format!("/api/v1/persons/{person}?purpose=referral"),
                    Some(&care),
                )
                .await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    // A consent alone: the masked summary, no name.
    let before = read(care.clone()).await;
    assert!(before.get("name").is_none(), "{before}");
    assert_eq!(before["categories"], json!([]));
    let r: Value = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org}, "urgency": "normal"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let during = read(care.clone()).await;
    assert_eq!(
        (during["name"].as_str(), during["categories"].clone()),
        (Some("张三"), json!(["identity"]))
    );
    let cancel = app
        .post(
            &format!("/api/v1/referrals/{}/cancel", r["id"].as_str().unwrap()),
            Some(&daoli),
            &json!({"reason": "已解决"}),
        )
        .await;
    assert_eq!(cancel.status(), 200);
    let after = read(care).await;
    assert!(after.get("name").is_none(), "{after}");
}

#[tokio::test]
async fn an_emergency_referral_without_consent_is_cancelled_in_time_and_one_that_gets_consent_stays(
) {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let mut ids = Vec::new();
    let mut people = Vec::new();
    for first17 in ["23010219900307001", "23010219850101002"] {
        let (person, need) = person_with_need(&app, first17).await;
        let res = app
            .post(
                "/api/v1/referrals",
                Some(&daoli),
                &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org},
                        "urgency": "emergency", "emergency_justification": "高烧昏迷，独居"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let r: Value = res.json().await.unwrap();
        assert_eq!(r["legal_basis"], "emergency");
        ids.push(r["id"].as_str().unwrap().to_owned());
        people.push((person, need));
    }
    // On the emergency basis alone the charity sees what it needs to reach the person.
    let seen: Value = app
        .get(
            &format!("/api/v1/persons/{}?purpose=referral", people[0].0),
            Some(&care),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["categories"], json!(["identity", "contact"]));
    assert!(seen.get("special_circumstances").is_some() && seen.get("household").is_none());
    for id in &ids {
        let res = app
            .post(
                &format!("/api/v1/referrals/{id}/accept"),
                Some(&care),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    // The second person consents: that referral rests on consent from now on.
    consent_for(&app, &people[1].0, &care_org, json!(["referral"])).await;
    let second: Value = app
        .get(&format!("/api/v1/referrals/{}", ids[1]), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["legal_basis"], "consent");

    let ctx = app.service_context();
    let sweep = || aidbridge::service::referrals::cancel_unconsented(&ctx);
    assert_eq!(sweep().await.unwrap(), 0);
    app.clock.advance(chrono::Duration::hours(71));
    assert_eq!(sweep().await.unwrap(), 0);
    app.clock
        .advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    assert_eq!(sweep().await.unwrap(), 1);
    assert_eq!(sweep().await.unwrap(), 0);
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let first: Value = app
        .get(&format!("/api/v1/referrals/{}", ids[0]), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (first["status"].as_str(), first["cancel_reason"].as_str()),
        (Some("cancelled"), Some("no_consent"))
    );
    assert_eq!(need_status(&app, &people[0].1).await, "open");
    assert_eq!(need_status(&app, &people[1].1).await, "referred");
    // With the case ended and no consent, the charity sees nothing of the person any more.
    problem(
        app.get(
            &format!("/api/v1/persons/{}?purpose=referral", people[0].0),
            Some(&care),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM referral_history WHERE referral_id = '{}' AND to_status = 'cancelled' AND actor_id IS NULL",
            ids[0]
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn a_referral_never_slips_past_a_withdrawal_committing_at_the_same_time() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    for round in 0..6 {
        let (person, need) = person_with_need(&app, &format!("2301021990030700{round}")).await;
        let mut c = consent_to(&care_org, &["identity"]);
        c["purposes"] = json!(["referral"]);
        let consent: Value = app.consent(&daoli, &person, &c).await.json().await.unwrap();
        let refer_body = json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org}, "urgency": "normal"});
        let refer = app.post("/api/v1/referrals", Some(&daoli), &refer_body);
        let withdraw_path = format!(
            "/api/v1/consents/{}/withdraw",
            consent["id"].as_str().unwrap()
        );
        let reason = json!({"reason": "本人撤回"});
        let withdraw = app.post(&withdraw_path, Some(&daoli), &reason);
        let (r, w) = tokio::join!(refer, withdraw);
        assert_eq!(w.status(), 200);
        // Either the referral came first and the withdrawal cancelled it, or it was refused.
        assert!(matches!(r.status().as_u16(), 201 | 422), "{}", r.status());
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) AS n FROM referrals WHERE person_id = '{person}' AND status = 'pending'"
            ))
            .await,
            0,
            "round {round}: an open referral outlived the consent it relied on"
        );
        assert_eq!(need_status(&app, &need).await, "open");
    }
}

#[tokio::test]
async fn a_lapsed_consent_stops_the_accept_and_an_ended_referral_leaves_a_re_referred_need_alone() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let edu_org = app.org_id("哈尔滨市助学慈善基金会").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    let mut c = consent_to(&care_org, &["identity"]);
    c["purposes"] = json!(["referral"]);
    c["expires_at"] = json!((app.clock.now() + chrono::Duration::hours(1)).to_rfc3339());
    assert_eq!(app.consent(&daoli, &person, &c).await.status(), 201);
    consent_for(&app, &person, &edu_org, json!(["referral"])).await;
    let body = |org: &str| json!({"person_id": person, "need_ids": [need], "target": {"organization_id": org}, "urgency": "normal"});
    let first: Value = app
        .post("/api/v1/referrals", Some(&daoli), &body(&care_org))
        .await
        .json()
        .await
        .unwrap();
    let first = first["id"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::hours(2));
    let care = app.token("charity.care").await;
    let p = problem(
        app.post(
            &format!("/api/v1/referrals/{first}/accept"),
            Some(&care),
            &json!({}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "consent_withdrawn");

    // The bureau takes the need back by hand and refers it to another charity; the first
    // referral ending later must not take the need from the second.
    let daoli = app.token("daoli.ca").await;
    let res = app
        .patch(
            &format!("/api/v1/needs/{need}"),
            Some(&daoli),
            &json!({"status": "open"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let second: Value = app
        .post("/api/v1/referrals", Some(&daoli), &body(&edu_org))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["status"], "pending");
    let res = app
        .post(
            &format!("/api/v1/referrals/{first}/cancel"),
            Some(&daoli),
            &json!({"reason": "同意书已过期"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(need_status(&app, &need).await, "referred");
}

#[tokio::test]
async fn referring_again_does_not_restart_the_time_to_obtain_consent() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let care = app.token("charity.care").await;
    let care_org = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let (person, need) = person_with_need(&app, "23010219900307001").await;
    let emergency = |previous: Option<&str>| {
        let mut b = json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care_org},
                           "urgency": "emergency", "emergency_justification": "高烧昏迷，独居"});
        if let Some(p) = previous {
            b["previous_referral_id"] = json!(p);
        }
        b
    };
    let first: Value = app
        .post("/api/v1/referrals", Some(&daoli), &emergency(None))
        .await
        .json()
        .await
        .unwrap();
    let first = first["id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            &format!("/api/v1/referrals/{first}/decline"),
            Some(&care),
            &json!({"reason": "no_capacity"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Two days on, the bureau refers again: the time runs from the first attempt.
    app.clock.advance(chrono::Duration::hours(48));
    let daoli = app.token("daoli.ca").await;
    let second: Value = app
        .post("/api/v1/referrals", Some(&daoli), &emergency(Some(&first)))
        .await
        .json()
        .await
        .unwrap();
    let second = second["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM referrals a JOIN referrals b ON a.emergency_since = b.emergency_since \
             WHERE a.id = '{first}' AND b.id = '{second}'"
        ))
        .await,
        1
    );
    app.clock.advance(chrono::Duration::hours(25));
    let ctx = app.service_context();
    assert_eq!(
        aidbridge::service::referrals::cancel_unconsented(&ctx)
            .await
            .unwrap(),
        1
    );
    // And a fresh emergency referral right after is refused: record the consent instead.
    let daoli = app.token("daoli.ca").await;
    let p = problem(
        app.post("/api/v1/referrals", Some(&daoli), &emergency(None))
            .await,
        422,
    )
    .await;
    assert_eq!(p["code"], "consent_required");
    consent_for(&app, &person, &care_org, json!(["referral"])).await;
    let mut with_consent = emergency(None);
    with_consent
        .as_object_mut()
        .unwrap()
        .remove("emergency_justification");
    assert_eq!(
        app.post("/api/v1/referrals", Some(&daoli), &with_consent)
            .await
            .status(),
        201
    );
}
