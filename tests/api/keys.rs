//! Keys for personal identifiers: a start with keys the data was not written with is refused,
//! and rotation re-encrypts every stored identifier under the new key, resumably and audited.

use aidbridge::privacy::{DataKeys, Field};
use aidbridge::service::keys::{check, rotate, Rotation};
use chrono::Utc;

use crate::helpers::{person_body, spawn_app, ADULT_ID, DATA_KEYS, HMAC_KEY};

const OTHER_KEY: &str = "MTIzNDU2Nzg5MGFiY2RlZjEyMzQ1Njc4OTBhYmNkZWY=";

#[tokio::test]
async fn a_lost_or_swapped_key_stops_the_start_and_rotation_moves_data_to_the_new_key() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    app.register_person(&daoli, &person_body(ADULT_ID, "230102001001"))
        .await;
    let pool = aidbridge::db::build_pool(&app.db_url, 2).unwrap();
    let keys = |data: &str, hmac: &str| DataKeys::from_config(data, hmac).unwrap();
    // The first start remembers the keys; the same keys start again.
    check(&pool, &keys(DATA_KEYS, HMAC_KEY), Utc::now())
        .await
        .unwrap();
    check(&pool, &keys(DATA_KEYS, HMAC_KEY), Utc::now())
        .await
        .unwrap();
    // Another lookup-hash key, another key under a known id, or a missing key that still
    // encrypts data: each refused with what to do.
    let e = check(&pool, &keys(DATA_KEYS, OTHER_KEY), Utc::now())
        .await
        .unwrap_err();
    assert!(e.contains("AIDBRIDGE_HMAC_KEY"), "{e}");
    let e = check(
        &pool,
        &keys(&format!("t1:{OTHER_KEY}"), HMAC_KEY),
        Utc::now(),
    )
    .await
    .unwrap_err();
    assert!(e.contains("key id t1"), "{e}");
    let only_new = format!("t2:{OTHER_KEY}");
    let e = check(&pool, &keys(&only_new, HMAC_KEY), Utc::now())
        .await
        .unwrap_err();
    assert!(e.contains("rotate-keys"), "{e}");

    // Rotation: the new key first, the old one kept until it is done.
    let both = keys(&format!("t2:{OTHER_KEY},{DATA_KEYS}"), HMAC_KEY);
    check(&pool, &both, Utc::now()).await.unwrap();
    let ctx = aidbridge::service::Context {
        keys: both.clone(),
        ..app.service_context()
    };
    let done = rotate(&ctx, 1).await.unwrap();
    assert_eq!(
        done,
        Rotation {
            persons: 1,
            guardians: 0
        }
    );
    assert_eq!(
        rotate(&ctx, 1).await.unwrap(),
        Rotation::default(),
        "resumable: nothing left"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM persons WHERE id_number_encrypted LIKE 'v1:t2:%'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'keys.rotate'")
            .await,
        1
    );
    // Now the old key may go, and the new one alone reads the data.
    let new_only = keys(&only_new, HMAC_KEY);
    check(&pool, &new_only, Utc::now()).await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Enc {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id_number_encrypted: String,
    }
    let mut conn = app.db().await;
    use diesel_async::RunQueryDsl;
    let rows: Vec<Enc> = diesel::sql_query("SELECT id_number_encrypted FROM persons")
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        new_only
            .decrypt(Field::IdNumber, &rows[0].id_number_encrypted)
            .unwrap(),
        ADULT_ID
    );
}

#[tokio::test]
async fn a_swapped_audit_key_stops_the_start() {
    use crate::helpers::{AUDIT_KEY, AUDIT_SIGNING_KEY};
    use aidbridge::service::keys::check_audit_key;
    use aidbridge::service::ledger::LedgerKeys;
    let app = spawn_app().await;
    let pool = aidbridge::db::build_pool(&app.db_url, 2).unwrap();
    let ledger = |key: &str| LedgerKeys::from_config(key, AUDIT_SIGNING_KEY).unwrap();
    // The first start remembers the key; the same key starts again.
    check_audit_key(&pool, &ledger(AUDIT_KEY), Utc::now())
        .await
        .unwrap();
    check_audit_key(&pool, &ledger(AUDIT_KEY), Utc::now())
        .await
        .unwrap();
    let e = check_audit_key(&pool, &ledger(OTHER_KEY), Utc::now())
        .await
        .unwrap_err();
    assert!(e.contains("AIDBRIDGE_AUDIT_KEY"), "{e}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM key_fingerprints WHERE kind = 'audit'")
            .await,
        1,
        "the refused key is not remembered"
    );
}
