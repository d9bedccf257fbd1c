//! Periodic feedback reports (定期反馈) from charities.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::aid::AidRecordRow;
use super::schema::{aid_records, feedback_reports, organizations};
use super::{Conn, Result};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = feedback_reports)]
pub struct ReportRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub format: String,
    pub record_count: i32,
    pub total_value_fen: i64,
    pub total_service_minutes: i64,
    pub submitted_by: Uuid,
    pub submitted_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut Conn, row: &ReportRow) -> Result<()> {
    diesel::insert_into(feedback_reports::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// A report with the region its charity is registered in.
pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<(ReportRow, String)>> {
    feedback_reports::table
        .inner_join(
            organizations::table.on(organizations::id.eq(feedback_reports::organization_id)),
        )
        .filter(feedback_reports::id.eq(id))
        .select((ReportRow::as_select(), organizations::region_code))
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn records(conn: &mut Conn, id: Uuid) -> Result<Vec<AidRecordRow>> {
    aid_records::table
        .filter(aid_records::feedback_report_id.eq(id))
        .select(AidRecordRow::as_select())
        .order(aid_records::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Reports of one charity, or of the charities registered under a region prefix.
pub async fn list(
    conn: &mut Conn,
    organization_id: Option<Uuid>,
    region_prefix: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ReportRow>> {
    let mut q = feedback_reports::table
        .inner_join(
            organizations::table.on(organizations::id.eq(feedback_reports::organization_id)),
        )
        .select(ReportRow::as_select())
        .into_boxed();
    if let Some(o) = organization_id {
        q = q.filter(feedback_reports::organization_id.eq(o));
    }
    if let Some(r) = region_prefix {
        q = q.filter(organizations::region_code.like(format!("{r}%")));
    }
    if let Some(a) = after {
        q = q.filter(feedback_reports::id.gt(a));
    }
    q.order(feedback_reports::id.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}
