//! Needs (救助需求).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::needs;
use super::{Conn, Result};
use crate::domain::need::{NeedCategory, NeedSource, NeedStatus, Urgency};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = needs)]
pub struct NeedRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub region_code: String,
    pub category: NeedCategory,
    pub description: String,
    pub amount_requested_fen: Option<i64>,
    pub urgency: Urgency,
    pub source: NeedSource,
    pub status: NeedStatus,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = needs)]
pub struct NewNeed {
    pub id: Uuid,
    pub person_id: Uuid,
    pub region_code: String,
    pub category: NeedCategory,
    pub description: String,
    pub amount_requested_fen: Option<i64>,
    pub urgency: Urgency,
    pub source: NeedSource,
    pub recorded_by_organization_id: Uuid,
}

pub async fn insert(conn: &mut Conn, new: &NewNeed) -> Result<NeedRow> {
    diesel::insert_into(needs::table)
        .values(new)
        .returning(NeedRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

/// Row-locks the needs for this transaction, in id order (so that lockers never deadlock).
pub async fn lock_many(conn: &mut Conn, ids: &[Uuid]) -> Result<()> {
    needs::table
        .filter(needs::id.eq_any(ids))
        .select(needs::id)
        .order(needs::id.asc())
        .for_update()
        .load::<Uuid>(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<NeedRow>> {
    needs::table
        .find(id)
        .select(NeedRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn of_person(conn: &mut Conn, person_id: Uuid) -> Result<Vec<NeedRow>> {
    needs::table
        .filter(needs::person_id.eq(person_id))
        .select(NeedRow::as_select())
        .order(needs::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Moves the status only if it is still `from` at `version`: of two racing callers one wins.
pub async fn set_status(
    conn: &mut Conn,
    id: Uuid,
    from: NeedStatus,
    to: NeedStatus,
    now: DateTime<Utc>,
    version: i64,
) -> Result<Option<NeedRow>> {
    diesel::update(
        needs::table
            .find(id)
            .filter(needs::status.eq(from))
            .filter(needs::version.eq(version)),
    )
    .set((
        needs::status.eq(to),
        needs::updated_at.eq(now),
        needs::version.eq(needs::version + 1),
    ))
    .returning(NeedRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// Moves a person's needs with the person: a need's region is where its person lives.
pub async fn follow_person(conn: &mut Conn, person_id: Uuid, region_code: &str) -> Result<usize> {
    diesel::update(needs::table.filter(needs::person_id.eq(person_id)))
        .set((
            needs::region_code.eq(region_code),
            needs::version.eq(needs::version + 1),
        ))
        .execute(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Default)]
pub struct NeedFilter {
    pub region_prefix: String,
    pub category: Option<NeedCategory>,
    pub urgency: Option<Urgency>,
    pub status: Option<NeedStatus>,
    pub person_id: Option<Uuid>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &NeedFilter) -> Result<Vec<NeedRow>> {
    let mut q = needs::table
        .select(NeedRow::as_select())
        .filter(needs::region_code.like(format!("{}%", f.region_prefix)))
        .into_boxed();
    if let Some(v) = &f.category {
        q = q.filter(needs::category.eq(*v));
    }
    if let Some(v) = &f.urgency {
        q = q.filter(needs::urgency.eq(*v));
    }
    if let Some(v) = &f.status {
        q = q.filter(needs::status.eq(*v));
    }
    if let Some(v) = f.person_id {
        q = q.filter(needs::person_id.eq(v));
    }
    if let Some(a) = f.after {
        q = q.filter(needs::id.gt(a));
    }
    q.order(needs::id.asc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct NeedPerson {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub need_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub person_id: Uuid,
}

/// Open needs in `categories` under any of `prefixes` whose person has a consent, in force at
/// `now`, for `matching` by this organisation or by every charity of a region covering
/// `org_region`. The precise coverage rule is the domain's; this only narrows the candidates
/// (served by the consents' recipient indexes and `needs_open_person_idx`).
pub async fn consented_for_matching(
    conn: &mut Conn,
    categories: &[NeedCategory],
    prefixes: &[String],
    organization_id: Uuid,
    org_region: &str,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<NeedPerson>> {
    use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
    let categories: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
    let patterns: Vec<String> = prefixes.iter().map(|p| format!("{p}%")).collect();
    diesel::sql_query(
        "SELECT n.id AS need_id, n.person_id FROM needs n
         WHERE n.status = 'open' AND n.category = ANY($1) AND n.region_code LIKE ANY($2)
           AND EXISTS (SELECT 1 FROM consents c WHERE c.person_id = n.person_id
                 AND 'matching' = ANY(c.purposes) AND c.withdrawn_at IS NULL
                 AND c.given_at <= $5 AND (c.expires_at IS NULL OR c.expires_at > $5)
                 AND (c.recipient_organization_id = $3 OR c.recipient_region_code = ANY($4)))
         ORDER BY n.id LIMIT $6",
    )
    .bind::<Array<Text>, _>(categories)
    .bind::<Array<Text>, _>(patterns)
    .bind::<diesel::sql_types::Uuid, _>(organization_id)
    // A region-wide consent covers the charity when its region is one of the prefixes of the
    // charity's region: equality on a handful of codes, which an index answers.
    .bind::<Array<Text>, _>(crate::domain::project::covering_prefixes(org_region))
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
    .map_err(Into::into)
}

pub async fn find_many(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<NeedRow>> {
    needs::table
        .filter(needs::id.eq_any(ids))
        .select(NeedRow::as_select())
        .order(needs::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}
