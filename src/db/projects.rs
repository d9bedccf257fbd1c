//! Charity projects (慈善项目), their published versions and their beneficiaries' places.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::schema::{project_beneficiaries, project_versions, projects};
use super::{Conn, Result};
use crate::domain::need::NeedCategory;
use crate::domain::person::{Circumstance, Tier};
use crate::domain::project::{AidForm, ProjectStatus};

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub categories: Vec<NeedCategory>,
    pub aid_form: AidForm,
    pub region_prefixes: Vec<String>,
    pub tiers: Vec<Tier>,
    pub relapse_monitoring: bool,
    pub circumstances: Vec<Circumstance>,
    pub min_age: Option<i32>,
    pub max_age: Option<i32>,
    pub per_person_cap_fen: Option<i64>,
    pub capacity: i32,
    pub places_left: i32,
    pub budget_fen: i64,
    pub spent_fen: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub procedures: String,
    pub standards: String,
    pub contact: String,
    pub status: ProjectStatus,
    pub published_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

/// The fields a charity sets (on creation, and again on an edit).
#[derive(Debug, Clone, AsChangeset, Insertable)]
#[diesel(table_name = projects)]
pub struct ProjectFields {
    pub name: String,
    pub categories: Vec<NeedCategory>,
    pub aid_form: AidForm,
    pub region_prefixes: Vec<String>,
    pub tiers: Vec<Tier>,
    pub relapse_monitoring: bool,
    pub circumstances: Vec<Circumstance>,
    #[diesel(treat_none_as_null = true)]
    pub min_age: Option<i32>,
    #[diesel(treat_none_as_null = true)]
    pub max_age: Option<i32>,
    #[diesel(treat_none_as_null = true)]
    pub per_person_cap_fen: Option<i64>,
    pub capacity: i32,
    pub budget_fen: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub procedures: String,
    pub standards: String,
    pub contact: String,
}

pub async fn insert(
    conn: &mut Conn,
    id: Uuid,
    organization_id: Uuid,
    fields: &ProjectFields,
    now: DateTime<Utc>,
) -> Result<ProjectRow> {
    diesel::insert_into(projects::table)
        .values((
            projects::id.eq(id),
            projects::organization_id.eq(organization_id),
            fields,
            projects::places_left.eq(fields.capacity),
            projects::created_at.eq(now),
            projects::updated_at.eq(now),
        ))
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<ProjectRow>> {
    projects::table
        .find(id)
        .select(ProjectRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Locks the project's row for the rest of the transaction (places, budget, edits).
pub async fn lock(conn: &mut Conn, id: Uuid) -> Result<Option<ProjectRow>> {
    projects::table
        .find(id)
        .select(ProjectRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Rewrites the charity's fields, only at `version`; places left move with the capacity.
pub async fn update(
    conn: &mut Conn,
    id: Uuid,
    version: i64,
    fields: &ProjectFields,
    places_left: i32,
    now: DateTime<Utc>,
) -> Result<Option<ProjectRow>> {
    diesel::update(
        projects::table
            .find(id)
            .filter(projects::version.eq(version)),
    )
    .set((
        fields,
        projects::places_left.eq(places_left),
        projects::updated_at.eq(now),
        projects::version.eq(projects::version + 1),
    ))
    .returning(ProjectRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// Moves the status only if it is still `from` at `version`; `published_at` is kept from the
/// first publication.
pub async fn set_status(
    conn: &mut Conn,
    current: &ProjectRow,
    to: ProjectStatus,
    now: DateTime<Utc>,
) -> Result<Option<ProjectRow>> {
    let published_at = match to {
        ProjectStatus::Published => Some(now),
        _ => current.published_at,
    };
    let closed_at = (to == ProjectStatus::Closed).then_some(now);
    diesel::update(
        projects::table
            .find(current.id)
            .filter(projects::status.eq(current.status))
            .filter(projects::version.eq(current.version)),
    )
    .set((
        projects::status.eq(to),
        projects::published_at.eq(published_at),
        projects::closed_at.eq(closed_at),
        projects::updated_at.eq(now),
        projects::version.eq(projects::version + 1),
    ))
    .returning(ProjectRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// Takes a place (when `takes_place`) and `value_fen` of the budget, only if both are there:
/// two racing records cannot both take the last place or overspend.
pub async fn draw(
    conn: &mut Conn,
    id: Uuid,
    takes_place: bool,
    value_fen: i64,
    now: DateTime<Utc>,
) -> Result<Option<ProjectRow>> {
    let places = i32::from(takes_place);
    diesel::update(
        projects::table
            .find(id)
            .filter(projects::status.eq(ProjectStatus::Published))
            .filter(projects::places_left.ge(places))
            .filter((projects::spent_fen + value_fen).le(projects::budget_fen)),
    )
    .set((
        projects::places_left.eq(projects::places_left - places),
        projects::spent_fen.eq(projects::spent_fen + value_fen),
        projects::updated_at.eq(now),
        projects::version.eq(projects::version + 1),
    ))
    .returning(ProjectRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

#[derive(Debug, Default)]
pub struct ProjectFilter {
    /// Only this charity's projects.
    pub organization_id: Option<Uuid>,
    /// Only projects of these organisations (a federation's members).
    pub organization_ids: Option<Vec<Uuid>>,
    /// Only projects some of whose region prefixes lie within this region (or cover it).
    pub region_prefix: Option<String>,
    pub category: Option<NeedCategory>,
    pub status: Option<ProjectStatus>,
    /// Drafts are shown to their owner only.
    pub published_only: bool,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &ProjectFilter) -> Result<Vec<ProjectRow>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Bool, Text};
    let mut q = projects::table.select(ProjectRow::as_select()).into_boxed();
    if let Some(org) = f.organization_id {
        q = q.filter(projects::organization_id.eq(org));
    }
    if let Some(orgs) = &f.organization_ids {
        q = q.filter(projects::organization_id.eq_any(orgs.clone()));
    }
    if let Some(r) = &f.region_prefix {
        // A project is in a region when one of its prefixes lies within it or covers it.
        q = q.filter(
            sql::<Bool>("EXISTS (SELECT 1 FROM unnest(projects.region_prefixes) p WHERE p LIKE ")
                .bind::<Text, _>(format!("{r}%"))
                .sql(" OR ")
                .bind::<Text, _>(r.clone())
                .sql(" LIKE p || '%')"),
        );
    }
    if let Some(c) = f.category {
        q = q.filter(projects::categories.contains(vec![c]));
    }
    if let Some(s) = f.status {
        q = q.filter(projects::status.eq(s));
    }
    if f.published_only {
        q = q.filter(projects::status.ne(ProjectStatus::Draft));
    }
    if let Some(a) = f.after {
        q = q.filter(projects::id.gt(a));
    }
    q.order(projects::id.asc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Published projects with a category `category` whose regions cover one of `prefixes`
/// (the person's covering prefixes), still running on `today`; with no places left too when
/// `with_full` (near misses). Served by `projects_published_match_idx`.
pub async fn match_candidates(
    conn: &mut Conn,
    prefixes: &[String],
    category: NeedCategory,
    today: NaiveDate,
    with_full: bool,
    limit: i64,
) -> Result<Vec<ProjectRow>> {
    let mut q = projects::table
        .select(ProjectRow::as_select())
        .filter(projects::status.eq(ProjectStatus::Published))
        .filter(projects::region_prefixes.overlaps_with(prefixes.to_vec()))
        .filter(projects::categories.contains(vec![category]))
        .filter(projects::ends_on.ge(today))
        .into_boxed();
    if !with_full {
        q = q.filter(projects::places_left.gt(0));
    }
    q.order(projects::id.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn insert_version(
    conn: &mut Conn,
    project_id: Uuid,
    version: i64,
    snapshot: Value,
    changed_at: DateTime<Utc>,
    changed_by: Uuid,
    reason: Option<String>,
) -> Result<()> {
    diesel::insert_into(project_versions::table)
        .values((
            project_versions::project_id.eq(project_id),
            project_versions::version.eq(version),
            project_versions::snapshot.eq(snapshot),
            project_versions::changed_at.eq(changed_at),
            project_versions::changed_by.eq(changed_by),
            project_versions::reason.eq(reason),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = project_versions)]
pub struct VersionRow {
    pub project_id: Uuid,
    pub version: i64,
    pub snapshot: Value,
    pub changed_at: DateTime<Utc>,
    pub changed_by: Uuid,
    pub reason: Option<String>,
}

pub async fn versions(conn: &mut Conn, project_id: Uuid) -> Result<Vec<VersionRow>> {
    project_versions::table
        .filter(project_versions::project_id.eq(project_id))
        .select(VersionRow::as_select())
        .order(project_versions::version.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Records `value_fen` for `person` in the project: `Some(true)` when this is the person's
/// first aid here (a place is taken), `Some(false)` when not, `None` when the per-person cap
/// would be exceeded. Row-locked, so racing records for one person add up correctly.
pub async fn add_beneficiary_value(
    conn: &mut Conn,
    project_id: Uuid,
    person_id: Uuid,
    value_fen: i64,
    cap_fen: Option<i64>,
    on: NaiveDate,
) -> Result<Option<bool>> {
    let inserted = diesel::insert_into(project_beneficiaries::table)
        .values((
            project_beneficiaries::project_id.eq(project_id),
            project_beneficiaries::person_id.eq(person_id),
            project_beneficiaries::total_fen.eq(0i64),
            project_beneficiaries::first_aid_on.eq(on),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?
        == 1;
    let cap = cap_fen.unwrap_or(i64::MAX);
    let updated = diesel::update(
        project_beneficiaries::table
            .find((project_id, person_id))
            .filter(project_beneficiaries::total_fen.le(cap - value_fen)),
    )
    .set(project_beneficiaries::total_fen.eq(project_beneficiaries::total_fen + value_fen))
    .execute(conn)
    .await?;
    Ok((updated == 1).then_some(inserted))
}

/// People helped by each of `project_ids` (public figures).
pub async fn beneficiary_counts(conn: &mut Conn, project_ids: &[Uuid]) -> Result<Vec<(Uuid, i64)>> {
    project_beneficiaries::table
        .filter(project_beneficiaries::project_id.eq_any(project_ids))
        .group_by(project_beneficiaries::project_id)
        .select((project_beneficiaries::project_id, diesel::dsl::count_star()))
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Gives back the place a person held in a project when no aid was given there (a referral
/// accepted for it ended unhelped). Returns whether a place came back.
pub async fn release_place(conn: &mut Conn, project_id: Uuid, person_id: Uuid) -> Result<bool> {
    use super::schema::aid_records;
    let freed = diesel::delete(
        project_beneficiaries::table
            .find((project_id, person_id))
            .filter(project_beneficiaries::total_fen.eq(0))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                aid_records::table
                    .filter(aid_records::project_id.eq(project_id))
                    .filter(aid_records::person_id.eq(person_id)),
            ))),
    )
    .execute(conn)
    .await?
        == 1;
    if freed {
        diesel::update(projects::table.find(project_id))
            .set(projects::places_left.eq(projects::places_left + 1))
            .execute(conn)
            .await?;
    }
    Ok(freed)
}
