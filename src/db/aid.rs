//! Aid records (帮扶记录) and the duplicate-aid flags raised on them.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{aid_duplicate_flags, aid_records, government_aid_records, persons};
use super::{Conn, Result};
use crate::domain::aid::{AidRecordForm, ServiceType};
use crate::domain::need::NeedCategory;
use crate::domain::person::Programme;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = aid_records)]
pub struct AidRecordRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub person_id: Uuid,
    pub project_id: Uuid,
    pub referral_id: Option<Uuid>,
    pub category: NeedCategory,
    pub form: AidRecordForm,
    pub value_fen: Option<i64>,
    pub service_minutes: Option<i32>,
    pub service_type: Option<ServiceType>,
    pub aid_on: NaiveDate,
    pub period_end: Option<NaiveDate>,
    pub note: Option<String>,
    pub fund_id: Option<Uuid>,
    pub fund_entry_id: Option<Uuid>,
    pub feedback_report_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut Conn, row: &AidRecordRow) -> Result<()> {
    diesel::insert_into(aid_records::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// Government aid of `person_id` whose period overlaps `from..=to`.
pub async fn government_overlapping(
    conn: &mut Conn,
    person_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(Uuid, Programme, NaiveDate, NaiveDate)>> {
    government_aid_records::table
        .filter(government_aid_records::person_id.eq(person_id))
        .filter(government_aid_records::period_start.le(to))
        .filter(government_aid_records::period_end.ge(from))
        .select((
            government_aid_records::id,
            government_aid_records::programme,
            government_aid_records::period_start,
            government_aid_records::period_end,
        ))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Other charities' aid records of `person_id` in `category` overlapping `from..=to`.
pub async fn charity_overlapping(
    conn: &mut Conn,
    person_id: Uuid,
    category: NeedCategory,
    not_of: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AidRecordRow>> {
    aid_records::table
        .filter(aid_records::person_id.eq(person_id))
        .filter(aid_records::category.eq(category))
        .filter(aid_records::organization_id.ne(not_of))
        .filter(aid_records::aid_on.le(to))
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Date>("coalesce(period_end, aid_on)").ge(from),
        )
        .select(AidRecordRow::as_select())
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = aid_duplicate_flags)]
pub struct FlagRow {
    pub id: Uuid,
    pub aid_record_id: Uuid,
    pub person_id: Uuid,
    pub region_code: String,
    pub category: NeedCategory,
    pub other_source: String,
    pub other_record_id: Uuid,
    pub other_organization_id: Option<Uuid>,
    pub other_programme: Option<Programme>,
    pub detected_at: DateTime<Utc>,
}

pub async fn insert_flags(conn: &mut Conn, flags: &[FlagRow]) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    diesel::insert_into(aid_duplicate_flags::table)
        .values(flags)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn flags_of(conn: &mut Conn, record_ids: &[Uuid]) -> Result<Vec<FlagRow>> {
    aid_duplicate_flags::table
        .filter(aid_duplicate_flags::aid_record_id.eq_any(record_ids))
        .select(FlagRow::as_select())
        .order(aid_duplicate_flags::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Flags in a region (supervision's list).
pub async fn flags_in(
    conn: &mut Conn,
    region_prefix: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<FlagRow>> {
    aid_duplicate_flags::table
        .filter(aid_duplicate_flags::region_code.like(format!("{region_prefix}%")))
        .filter(aid_duplicate_flags::id.gt(after.unwrap_or(Uuid::nil())))
        .select(FlagRow::as_select())
        .order(aid_duplicate_flags::id.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Default)]
pub struct AidFilter {
    pub organization_id: Option<Uuid>,
    /// Records of people living under this prefix.
    pub region_prefix: Option<String>,
    pub person_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &AidFilter) -> Result<Vec<AidRecordRow>> {
    let mut q = aid_records::table
        .inner_join(persons::table)
        .select(AidRecordRow::as_select())
        .into_boxed();
    if let Some(o) = f.organization_id {
        q = q.filter(aid_records::organization_id.eq(o));
    }
    if let Some(r) = &f.region_prefix {
        q = q.filter(persons::region_code.like(format!("{r}%")));
    }
    if let Some(p) = f.person_id {
        q = q.filter(aid_records::person_id.eq(p));
    }
    if let Some(p) = f.project_id {
        q = q.filter(aid_records::project_id.eq(p));
    }
    if let Some(a) = f.after {
        q = q.filter(aid_records::id.gt(a));
    }
    q.order(aid_records::id.asc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Per project: people helped, value given (fen) and service minutes, from the aid records.
pub async fn project_totals(
    conn: &mut Conn,
    project_ids: &[Uuid],
) -> Result<Vec<(Uuid, i64, i64, i64)>> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    aid_records::table
        .filter(aid_records::project_id.eq_any(project_ids))
        .group_by(aid_records::project_id)
        .select((
            aid_records::project_id,
            sql::<BigInt>("count(DISTINCT person_id)"),
            sql::<BigInt>("coalesce(sum(value_fen), 0)::bigint"),
            sql::<BigInt>("coalesce(sum(service_minutes), 0)::bigint"),
        ))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Aid totals by category and form (all charities): people helped, value, service minutes.
#[derive(Debug, Clone, QueryableByName)]
pub struct AidTotal {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub category: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub form: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub records: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub people: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub value_fen: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub service_minutes: i64,
}

/// Charity aid of people living under `region_prefix`, given between `from` and `to`, by
/// category and form.
pub async fn totals(
    conn: &mut Conn,
    region_prefix: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AidTotal>> {
    use diesel::sql_types::{Date, Text};
    diesel::sql_query(
        "SELECT a.category, a.form, count(*) AS records, count(DISTINCT a.person_id) AS people,
                coalesce(sum(a.value_fen), 0)::bigint AS value_fen,
                coalesce(sum(a.service_minutes), 0)::bigint AS service_minutes
         FROM aid_records a JOIN persons p ON p.id = a.person_id
         WHERE p.region_code LIKE $1 AND a.aid_on BETWEEN $2 AND $3
         GROUP BY a.category, a.form ORDER BY a.category, a.form",
    )
    .bind::<Text, _>(format!("{region_prefix}%"))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .load(conn)
    .await
    .map_err(Into::into)
}

/// Distinct people helped by charities, living under `region_prefix`, between `from` and `to`.
pub async fn people_helped(
    conn: &mut Conn,
    region_prefix: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<i64> {
    aid_records::table
        .inner_join(persons::table)
        .filter(persons::region_code.like(format!("{region_prefix}%")))
        .filter(aid_records::aid_on.between(from, to))
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(DISTINCT aid_records.person_id)",
        ))
        .first(conn)
        .await
        .map_err(Into::into)
}

/// Every charity aid record of a person, newest first.
pub async fn of_person(conn: &mut Conn, person_id: Uuid) -> Result<Vec<AidRecordRow>> {
    aid_records::table
        .filter(aid_records::person_id.eq(person_id))
        .select(AidRecordRow::as_select())
        .order((aid_records::aid_on.desc(), aid_records::id.desc()))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Serialises aid recorded for one person (until the transaction ends), so that two charities
/// recording at once each see the other's record and the duplicate is flagged.
pub async fn lock_person(conn: &mut Conn, person_id: Uuid) -> Result<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
        .bind::<diesel::sql_types::Uuid, _>(person_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<AidRecordRow>> {
    aid_records::table
        .find(id)
        .select(AidRecordRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}
