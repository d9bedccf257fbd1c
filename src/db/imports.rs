//! Person imports: the job row and the batched upsert of the people it carries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::persons::PersonRow;
use super::schema::{person_imports, persons};
use super::{Conn, Result};

/// Rows refused that the job keeps (the count goes on).
pub const KEEP_REJECTED: i64 = 1000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = person_imports)]
pub struct ImportRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub created_by: Uuid,
    pub status: String,
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_unchanged: i64,
    pub rows_rejected: i64,
    pub rejected: serde_json::Value,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut Conn, row: &ImportRow) -> Result<()> {
    diesel::insert_into(person_imports::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<ImportRow>> {
    person_imports::table
        .find(id)
        .select(ImportRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn of_organization(conn: &mut Conn, org: Uuid, limit: i64) -> Result<Vec<ImportRow>> {
    person_imports::table
        .filter(person_imports::organization_id.eq(org))
        .select(ImportRow::as_select())
        .order(person_imports::id.desc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Adds a batch's counts and the reasons rows were refused (kept up to [`KEEP_REJECTED`]).
pub async fn progress(
    conn: &mut Conn,
    id: Uuid,
    read: i64,
    written: i64,
    unchanged: i64,
    rejected_rows: i64,
    rejected: &[serde_json::Value],
) -> Result<()> {
    use diesel::sql_types::{BigInt, Jsonb, Uuid as SqlUuid};
    diesel::sql_query(
        "UPDATE person_imports SET rows_read = rows_read + $2, rows_written = rows_written + $3, \
         rows_unchanged = rows_unchanged + $4, rows_rejected = rows_rejected + $5, \
         rejected = CASE WHEN jsonb_array_length(rejected) >= $6 THEN rejected \
           ELSE rejected || (SELECT coalesce(jsonb_agg(e), '[]') FROM \
             (SELECT e FROM jsonb_array_elements($7) e LIMIT $6 - jsonb_array_length(rejected)) x) END \
         WHERE id = $1",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(read)
    .bind::<BigInt, _>(written)
    .bind::<BigInt, _>(unchanged)
    .bind::<BigInt, _>(rejected_rows)
    .bind::<BigInt, _>(KEEP_REJECTED)
    .bind::<Jsonb, _>(serde_json::Value::Array(rejected.to_vec()))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn finish(
    conn: &mut Conn,
    id: Uuid,
    failure: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ImportRow> {
    diesel::update(person_imports::table.find(id))
        .set((
            person_imports::status.eq(if failure.is_some() {
                "failed"
            } else {
                "completed"
            }),
            person_imports::failure.eq(failure),
            person_imports::finished_at.eq(Some(now)),
        ))
        .returning(ImportRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

/// People already registered under any of these ID hashes or external ids.
pub async fn existing(
    conn: &mut Conn,
    hashes: &[String],
    external_ids: &[String],
) -> Result<Vec<PersonRow>> {
    persons::table
        .filter(
            persons::id_number_hash
                .eq_any(hashes)
                .or(persons::external_id.eq_any(external_ids)),
        )
        .select(PersonRow::as_select())
        .load(conn)
        .await
        .map_err(Into::into)
}
