//! What anyone may read without a token (信息公开): published projects with their statements and
//! figures, organisations with their funds, and province-wide totals. Nothing here names or
//! identifies a person: figures are counts and sums.

use chrono::NaiveDate;
use uuid::Uuid;

use super::disclosures::{list_in, Subject};
use super::{Context, Error, Result};
use crate::db::aid::{self, AidTotal};
use crate::db::disclosures::DisclosureRow;
use crate::db::funds::{self, FundRow};
use crate::db::organizations::{self, OrganizationRow};
use crate::db::projects::{self, ProjectFilter, ProjectRow};
use crate::domain::organization::OrganizationStatus;
use crate::domain::project::ProjectStatus;

/// What aid records say of a project.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub beneficiaries: i64,
    pub funds_used_fen: i64,
    pub service_minutes: i64,
}

pub async fn projects(
    ctx: &Context,
    mut filter: ProjectFilter,
) -> Result<Vec<(ProjectRow, Figures)>> {
    filter.published_only = true;
    let mut conn = crate::db::connect(&ctx.read_pool).await?;
    let rows = projects::list(&mut conn, &filter).await?;
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let totals = aid::project_totals(&mut conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let f = totals
                .iter()
                .find(|t| t.0 == p.id)
                .map(|t| Figures {
                    beneficiaries: t.1,
                    funds_used_fen: t.2,
                    service_minutes: t.3,
                })
                .unwrap_or_default();
            (p, f)
        })
        .collect())
}

/// A published (or closed) project with its statements and figures.
pub async fn project(ctx: &Context, id: Uuid) -> Result<(ProjectRow, Figures, Vec<DisclosureRow>)> {
    let mut conn = crate::db::connect(&ctx.read_pool).await?;
    let p = projects::find(&mut conn, id)
        .await?
        .filter(|p| p.status != ProjectStatus::Draft)
        .ok_or_else(|| Error::not_found("project"))?;
    let f = aid::project_totals(&mut conn, &[id])
        .await?
        .first()
        .map(|t| Figures {
            beneficiaries: t.1,
            funds_used_fen: t.2,
            service_minutes: t.3,
        })
        .unwrap_or_default();
    let statements = list_in(&mut conn, Subject::Project(id)).await?;
    Ok((p, f, statements))
}

/// An active organisation with its funds and its published projects.
pub async fn organization(
    ctx: &Context,
    id: Uuid,
) -> Result<(OrganizationRow, Vec<FundRow>, Vec<ProjectRow>)> {
    let mut conn = crate::db::connect(&ctx.read_pool).await?;
    let org = organizations::find(&mut conn, id)
        .await?
        .filter(|o| o.status == OrganizationStatus::Active)
        .ok_or_else(|| Error::not_found("organization"))?;
    let funds = funds::of_organization(&mut conn, id).await?;
    let projects = projects::list(
        &mut conn,
        &ProjectFilter {
            organization_id: Some(id),
            published_only: true,
            limit: 500,
            ..ProjectFilter::default()
        },
    )
    .await?;
    Ok((org, funds, projects))
}

/// The fewest people a public figure may count: smaller cells are left out, so that no figure
/// points at a person (a village with one helped family, say).
pub const MIN_CELL: i64 = 5;

/// Charity aid of people living under `region` (a prefix of at most a county; the province when
/// empty), all time: people helped, and totals by category and form, each of at least
/// [`MIN_CELL`] people (`None` and left out below that).
pub async fn totals(ctx: &Context, region: &str) -> Result<(Option<i64>, Vec<AidTotal>)> {
    if region.len() > 6 {
        return Err(Error::bad_parameter(
            "invalid_query",
            "region",
            "too_fine",
            "public figures go down to the county (6 digits)",
        ));
    }
    let mut conn = crate::db::connect(&ctx.read_pool).await?;
    let (from, to) = (
        NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2199, 12, 31).unwrap_or_default(),
    );
    let people = aid::people_helped(&mut conn, region, from, to).await?;
    let mut rows = aid::totals(&mut conn, region, from, to).await?;
    rows.retain(|r| r.people >= MIN_CELL);
    Ok(((people >= MIN_CELL).then_some(people), rows))
}
