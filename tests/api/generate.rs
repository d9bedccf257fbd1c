//! `aidbridge generate`: a small province through the same code as the benchmark's million, read
//! back through the API with the deployment's keys, and the same again from the same seed.

use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use aidbridge::generate::{self, Options};

#[derive(QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    d: String,
}

/// A digest of what the seed decides: people (ids, names, regions, tiers), needs and referrals.
async fn digest(app: &TestApp) -> String {
    let mut conn = app.db().await;
    let row: Digest = diesel::sql_query(
        "SELECT md5((SELECT string_agg(id || name || region_code || coalesce(tier, ''), ',' ORDER BY id) FROM persons)
                 || (SELECT string_agg(id || category || status, ',' ORDER BY id) FROM needs)
                 || (SELECT string_agg(id || status || urgency, ',' ORDER BY id) FROM referrals)) AS d",
    )
    .get_result(&mut conn)
    .await
    .expect("digest");
    row.d
}

async fn run(app: &TestApp, persons: u32, seed: u64) -> Result<Vec<(&'static str, i64)>, String> {
    let ctx = app.service_context();
    let generated = generate::run(
        &ctx.pool,
        &ctx.keys,
        &ctx.clock,
        &Options { persons, seed },
        &mut |_| {},
    )
    .await?;
    // ID numbers of the demo district, for the load run's look-ups: valid and of 230102.
    assert!(!generated.demo_id_numbers.is_empty());
    for number in &generated.demo_id_numbers {
        assert!(
            number.starts_with("230102")
                && aidbridge::domain::resident_id::ResidentId::parse(number, ctx.clock.today())
                    .is_ok(),
            "{number}"
        );
    }
    Ok(generated.counts)
}

#[tokio::test]
async fn the_generator_fills_a_province_the_api_reads_and_repeats_it_from_the_seed() {
    let app = spawn_app().await;
    let counts = run(&app, 3_000, 5).await.expect("generates");
    let count = |t: &str| counts.iter().find(|(n, _)| *n == t).map(|c| c.1);
    assert_eq!(count("persons"), Some(3_000));
    assert!(count("referrals").unwrap_or(0) > 1_000, "{counts:?}");
    assert_eq!(
        app.count("SELECT count(DISTINCT left(region_code, 4)) AS n FROM persons")
            .await,
        13,
        "all 13 prefecture-level divisions"
    );
    for status in [
        "pending",
        "accepted",
        "in_progress",
        "completed",
        "declined",
        "expired",
        "cancelled",
    ] {
        let n = app
            .count(&format!(
                "SELECT count(*) AS n FROM referrals WHERE status = '{status}'"
            ))
            .await;
        assert!(n > 0, "no {status} referral");
    }
    // Every consent-based referral has its consent, given before it, to its charity.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM referrals r WHERE r.legal_basis = 'consent' AND NOT EXISTS (
                 SELECT 1 FROM consents c WHERE c.person_id = r.person_id
                 AND c.recipient_organization_id = r.target_organization_id
                 AND 'referral' = ANY (c.purposes) AND c.given_at < r.created_at)"
        )
        .await,
        0
    );
    let generated = digest(&app).await;
    // A second run into the same database is refused (it holds people now).
    assert!(run(&app, 10, 5).await.is_err());

    // The API reads it with the deployment's keys: a look-up by a generated ID number, a
    // generated referral, and a new referral of a pool need under its generated consent.
    let daoli = app.token("daoli.ca").await;
    let ctx = app.service_context();
    let mut conn = app.db().await;
    let stored: Digest = diesel::sql_query(
        "SELECT id_number_encrypted AS d FROM persons WHERE region_code = '230102' LIMIT 1",
    )
    .get_result(&mut conn)
    .await
    .expect("a person of 230102");
    let number = ctx
        .keys
        .decrypt(aidbridge::privacy::Field::IdNumber, &stored.d)
        .expect("encrypted with the deployment's key");
    let found = app
        .post(
            "/api/v1/persons/lookup",
            Some(&daoli),
            &json!({"id_number": number}),
        )
        .await;
    assert_eq!(found.status(), 200);
    let found: Value = found.json().await.expect("json");
    assert!(
        found["id_number"]
            .as_str()
            .is_some_and(|m| m.ends_with(&number[14..]) && !m.contains(&number[..14])),
        "{found}"
    );
    let referral: Digest = diesel::sql_query(
        "SELECT r.id::text AS d FROM referrals r JOIN organizations o ON o.id = r.referring_organization_id
         WHERE o.name = '哈尔滨市道里区民政局' LIMIT 1",
    )
    .get_result(&mut conn)
    .await
    .expect("a referral of the demo bureau");
    let got = app
        .get(&format!("/api/v1/referrals/{}", referral.d), Some(&daoli))
        .await;
    assert_eq!(got.status(), 200);
    let care = app.org_id("哈尔滨市道里区关爱服务中心").await;
    let pool_need: Digest = diesel::sql_query(
        "SELECT n.person_id || ' ' || n.id AS d FROM needs n WHERE n.region_code = '230102'
         AND n.status = 'open' AND EXISTS (SELECT 1 FROM consents c WHERE c.person_id = n.person_id
         AND 'referral' = ANY (c.purposes) AND c.recipient_organization_id = (
             SELECT id FROM organizations WHERE name = '哈尔滨市道里区关爱服务中心')) LIMIT 1",
    )
    .get_result(&mut conn)
    .await
    .expect("a pool need");
    let (person, need) = pool_need.d.split_once(' ').expect("two ids");
    let created = app
        .post(
            "/api/v1/referrals",
            Some(&daoli),
            &json!({"person_id": person, "need_ids": [need], "target": {"organization_id": care},
                    "urgency": "normal"}),
        )
        .await;
    assert_eq!(created.status(), 201);

    // The same seed gives the same province (taken before the API wrote); another seed another.
    let again = spawn_app().await;
    run(&again, 3_000, 5).await.expect("generates again");
    assert_eq!(digest(&again).await, generated);
    let other = spawn_app().await;
    run(&other, 3_000, 6).await.expect("generates another");
    assert_ne!(digest(&other).await, generated);
}
