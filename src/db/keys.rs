//! Key fingerprints and the ciphertexts written under each key (for the key check and rotation).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{consents, key_fingerprints, persons};
use super::{Conn, Result};

/// `(kind, key_id, fingerprint)` of every key seen so far.
pub async fn fingerprints(conn: &mut Conn) -> Result<Vec<(String, String, String)>> {
    key_fingerprints::table
        .select((
            key_fingerprints::kind,
            key_fingerprints::key_id,
            key_fingerprints::fingerprint,
        ))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Records a key the first time it is seen (a concurrent start records it once).
pub async fn remember(
    conn: &mut Conn,
    kind: &str,
    key_id: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    diesel::insert_into(key_fingerprints::table)
        .values((
            key_fingerprints::kind.eq(kind),
            key_fingerprints::key_id.eq(key_id),
            key_fingerprints::fingerprint.eq(fingerprint),
            key_fingerprints::first_seen_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many stored ciphertexts were written under `key_id`.
pub async fn ciphertexts_under(conn: &mut Conn, key_id: &str) -> Result<i64> {
    let rows: Vec<Count> = diesel::sql_query(
        "SELECT (SELECT count(*) FROM persons WHERE id_number_encrypted LIKE $1
                    OR phone_encrypted LIKE $1)
              + (SELECT count(*) FROM consents WHERE guardian_id_number_encrypted LIKE $1) AS n",
    )
    .bind::<Text, _>(format!("v1:{}:%", key_id.replace(['%', '_', '\\'], "")))
    .load(conn)
    .await?;
    Ok(<[Count]>::first(&rows).map_or(0, |r| r.n))
}

/// Persons with an identifier not yet under `active` (locked; others rotating skip them).
pub async fn persons_to_rotate(
    conn: &mut Conn,
    active: &str,
    limit: i64,
) -> Result<Vec<(Uuid, String, Option<String>)>> {
    let prefix = format!("v1:{active}:%");
    persons::table
        .filter(
            persons::id_number_encrypted
                .not_like(prefix.clone())
                .or(persons::phone_encrypted.not_like(prefix)),
        )
        .select((
            persons::id,
            persons::id_number_encrypted,
            persons::phone_encrypted,
        ))
        .order(persons::id)
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn set_person_ciphertexts(
    conn: &mut Conn,
    id: Uuid,
    id_number: &str,
    phone: Option<&str>,
) -> Result<()> {
    diesel::update(persons::table.find(id))
        .set((
            persons::id_number_encrypted.eq(id_number),
            persons::phone_encrypted.eq(phone),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Consents whose guardian's ID number is not yet under `active` (locked, skipping others').
pub async fn consents_to_rotate(
    conn: &mut Conn,
    active: &str,
    limit: i64,
) -> Result<Vec<(Uuid, String)>> {
    let rows: Vec<(Uuid, Option<String>)> = consents::table
        .filter(consents::guardian_id_number_encrypted.not_like(format!("v1:{active}:%")))
        .select((consents::id, consents::guardian_id_number_encrypted))
        .order(consents::id)
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, c)| Some((id, c?)))
        .collect())
}

pub async fn set_guardian_ciphertext(conn: &mut Conn, id: Uuid, ciphertext: &str) -> Result<()> {
    diesel::update(consents::table.find(id))
        .set(consents::guardian_id_number_encrypted.eq(ciphertext))
        .execute(conn)
        .await?;
    Ok(())
}
