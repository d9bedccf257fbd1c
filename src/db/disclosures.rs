//! Published statements (信息公开) about projects and funds. Never changed: a correction is a
//! new statement that references the one it corrects.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{disclosures, organizations, projects};
use super::{Conn, Result};
use crate::domain::disclosure::DisclosureKind;
use crate::domain::project::ProjectStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = disclosures)]
pub struct DisclosureRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Option<Uuid>,
    pub fund_id: Option<Uuid>,
    pub kind: DisclosureKind,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub body: String,
    pub funds_raised_fen: Option<i64>,
    pub funds_used_fen: Option<i64>,
    pub beneficiaries: Option<i32>,
    pub service_minutes: Option<i64>,
    pub corrects_id: Option<Uuid>,
    pub correction_note: Option<String>,
    pub published_at: DateTime<Utc>,
    pub published_on: NaiveDate,
    pub published_by: Uuid,
}

pub async fn insert(conn: &mut Conn, row: &DisclosureRow) -> Result<()> {
    diesel::insert_into(disclosures::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<DisclosureRow>> {
    disclosures::table
        .find(id)
        .select(DisclosureRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Statements about a project, oldest first.
pub async fn of_project(conn: &mut Conn, project_id: Uuid) -> Result<Vec<DisclosureRow>> {
    disclosures::table
        .filter(disclosures::project_id.eq(project_id))
        .select(DisclosureRow::as_select())
        .order((disclosures::published_at.asc(), disclosures::id.asc()))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Statements about a fund, oldest first.
pub async fn of_fund(conn: &mut Conn, fund_id: Uuid) -> Result<Vec<DisclosureRow>> {
    disclosures::table
        .filter(disclosures::fund_id.eq(fund_id))
        .select(DisclosureRow::as_select())
        .order((disclosures::published_at.asc(), disclosures::id.asc()))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Statements about any of `project_ids` (for deadlines).
pub async fn of_projects(conn: &mut Conn, project_ids: &[Uuid]) -> Result<Vec<DisclosureRow>> {
    disclosures::table
        .filter(disclosures::project_id.eq_any(project_ids))
        .select(DisclosureRow::as_select())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// A project owing disclosures, with what its deadlines depend on.
#[derive(Debug, Clone, Queryable)]
pub struct ProjectDuty {
    pub project_id: Uuid,
    pub project_name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub public_fundraising: bool,
    /// When it was closed, if it was (it may end before its planned `ends_on`).
    pub closed_at: Option<DateTime<Utc>>,
}

/// Published and closed projects of charities registered under `region_prefix` (or of one
/// organisation).
pub async fn project_duties(
    conn: &mut Conn,
    region_prefix: Option<&str>,
    organization_id: Option<Uuid>,
) -> Result<Vec<ProjectDuty>> {
    let mut q = projects::table
        .inner_join(organizations::table)
        // Published at some time: a draft closed unpublished never owed the public anything.
        .filter(projects::status.ne(ProjectStatus::Draft))
        .filter(projects::published_at.is_not_null())
        .select((
            projects::id,
            projects::name,
            projects::starts_on,
            projects::ends_on,
            organizations::id,
            organizations::name,
            organizations::public_fundraising,
            projects::closed_at,
        ))
        .into_boxed();
    if let Some(r) = region_prefix {
        q = q.filter(organizations::region_code.like(format!("{r}%")));
    }
    if let Some(o) = organization_id {
        q = q.filter(projects::organization_id.eq(o));
    }
    q.order(projects::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}
