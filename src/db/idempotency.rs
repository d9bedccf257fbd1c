//! Idempotency keys: claimed before a POST runs, completed with its answer.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::idempotency_keys;
use super::{Conn, Result};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct KeyRow {
    pub principal_id: Uuid,
    pub key: String,
    pub request_hash: String,
    pub status: Option<i16>,
    pub response: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Claims the key (true), unless a live claim exists. An expired key is taken over, and so is a
/// claim still without an answer after a minute (its request died: a dropped connection, a
/// crash, a failed release), so that a retry is never stuck behind it for a day.
pub async fn claim(conn: &mut Conn, row: &KeyRow) -> Result<bool> {
    use diesel::sql_types::{Text, Timestamptz, Uuid as SqlUuid};
    let n = diesel::sql_query(
        "INSERT INTO idempotency_keys (principal_id, key, request_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (principal_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
           status = NULL, response = NULL, created_at = EXCLUDED.created_at, \
           expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= EXCLUDED.created_at \
            OR (idempotency_keys.status IS NULL \
                AND idempotency_keys.created_at <= EXCLUDED.created_at - interval '60 seconds')",
    )
    .bind::<SqlUuid, _>(row.principal_id)
    .bind::<Text, _>(&row.key)
    .bind::<Text, _>(&row.request_hash)
    .bind::<Timestamptz, _>(row.created_at)
    .bind::<Timestamptz, _>(row.expires_at)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn find(conn: &mut Conn, principal_id: Uuid, key: &str) -> Result<Option<KeyRow>> {
    idempotency_keys::table
        .find((principal_id, key))
        .select(KeyRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn complete(
    conn: &mut Conn,
    principal_id: Uuid,
    key: &str,
    status: i16,
    response: &str,
) -> Result<()> {
    diesel::update(idempotency_keys::table.find((principal_id, key)))
        .set((
            idempotency_keys::status.eq(Some(status)),
            idempotency_keys::response.eq(Some(response)),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives the key up (the request failed on the server's side; a retry may act).
pub async fn release(conn: &mut Conn, principal_id: Uuid, key: &str) -> Result<()> {
    diesel::delete(
        idempotency_keys::table
            .find((principal_id, key))
            .filter(idempotency_keys::status.is_null()),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes up to `limit` expired keys; returns how many.
pub async fn sweep(conn: &mut Conn, now: DateTime<Utc>, limit: i64) -> Result<usize> {
    use diesel::sql_types::{BigInt, Timestamptz};
    diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE (principal_id, key) IN \
         (SELECT principal_id, key FROM idempotency_keys WHERE expires_at < $1 LIMIT $2)",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .execute(conn)
    .await
    .map_err(Into::into)
}
