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
    /// The last progress (the sweeper fails a running import idle for too long).
    pub updated_at: DateTime<Utc>,
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
/// What one batch adds to a job's counts.
pub struct Progress {
    pub read: i64,
    pub written: i64,
    pub unchanged: i64,
    pub rejected_rows: i64,
}

pub async fn progress(
    conn: &mut Conn,
    id: Uuid,
    p: Progress,
    rejected: &[serde_json::Value],
    now: DateTime<Utc>,
) -> Result<bool> {
    use diesel::sql_types::{BigInt, Jsonb, Timestamptz, Uuid as SqlUuid};
    let n = diesel::sql_query(
        "UPDATE person_imports SET rows_read = rows_read + $2, rows_written = rows_written + $3, \
         rows_unchanged = rows_unchanged + $4, rows_rejected = rows_rejected + $5, \
         rejected = CASE WHEN jsonb_array_length(rejected) >= $6 THEN rejected \
           ELSE rejected || (SELECT coalesce(jsonb_agg(e), '[]') FROM \
             (SELECT e FROM jsonb_array_elements($7) e LIMIT $6 - jsonb_array_length(rejected)) x) END, \
         updated_at = $8 \
         WHERE id = $1 AND status = 'running'",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(p.read)
    .bind::<BigInt, _>(p.written)
    .bind::<BigInt, _>(p.unchanged)
    .bind::<BigInt, _>(p.rejected_rows)
    .bind::<BigInt, _>(KEEP_REJECTED)
    .bind::<Jsonb, _>(serde_json::Value::Array(rejected.to_vec()))
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn finish(
    conn: &mut Conn,
    id: Uuid,
    failure: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ImportRow> {
    let ended = diesel::update(
        person_imports::table
            .find(id)
            .filter(person_imports::status.eq("running")),
    )
    .set((
        person_imports::status.eq(if failure.is_some() {
            "failed"
        } else {
            "completed"
        }),
        person_imports::failure.eq(failure),
        person_imports::finished_at.eq(Some(now)),
        person_imports::updated_at.eq(now),
    ))
    .returning(ImportRow::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    // Already ended (the sweeper failed it meanwhile): as it stands.
    match ended {
        Some(row) => Ok(row),
        None => find(conn, id)
            .await?
            .ok_or(diesel::result::Error::NotFound.into()),
    }
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

/// Marks failed the running imports without progress since `before`; returns their ids.
pub async fn fail_stale(
    conn: &mut Conn,
    before: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    diesel::update(
        person_imports::table
            .filter(person_imports::status.eq("running"))
            .filter(person_imports::updated_at.lt(before)),
    )
    .set((
        person_imports::status.eq("failed"),
        person_imports::failure.eq(reason),
        person_imports::finished_at.eq(Some(now)),
        person_imports::updated_at.eq(now),
    ))
    .returning(person_imports::id)
    .get_results(conn)
    .await
    .map_err(Into::into)
}
