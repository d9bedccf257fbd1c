//! Charity projects (慈善项目): a charity drafts, publishes, edits and closes its own; every
//! version from publication on is kept. Published projects are public information; drafts are
//! seen by their charity and its federation only.

use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{audit, lost_update, transaction, Context, Error, IfMatch, Result};
use crate::auth::Caller;
use crate::db::organizations;
use crate::db::projects::{self, ProjectFields, ProjectFilter, ProjectRow, VersionRow};
use crate::db::Conn;
use crate::domain::project::{can_transition, ProjectScope, ProjectStatus};
use crate::domain::role::Role;
use crate::domain::time::local_date;

/// Writes the project's event: seen by its charity and the bureaus of the charity's region.
async fn announce(
    conn: &mut Conn,
    p: &ProjectRow,
    change: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let e = Event::new(format!("project.{change}"), "project", p.id)
        .payload(json!({"status": p.status, "version": p.version, "places_left": p.places_left}));
    events::emit_for_organization(conn, e, p.organization_id, now).await
}

/// The rules between fields (each field's own form is checked where it is read).
pub fn check_fields(f: &ProjectFields) -> Result<()> {
    let mut errors = Vec::new();
    if f.ends_on < f.starts_on {
        errors.push(super::FieldError::new(
            "ends_on",
            "before_start",
            "the project cannot end before it starts",
        ));
    }
    if let (Some(min), Some(max)) = (f.min_age, f.max_age) {
        if min > max {
            errors.push(super::FieldError::new(
                "max_age",
                "below_min_age",
                "max_age is below min_age",
            ));
        }
    }
    if let Some(cap) = f.per_person_cap_fen {
        if cap > f.budget_fen {
            errors.push(super::FieldError::new(
                "per_person_cap_fen",
                "above_budget",
                "the per-person cap exceeds the whole budget",
            ));
        }
    }
    Error::check(errors)
}

/// A partial edit: what is absent keeps its value; `Some(None)` clears an optional bound.
#[derive(Debug, Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub categories: Option<Vec<crate::domain::need::NeedCategory>>,
    pub aid_form: Option<crate::domain::project::AidForm>,
    pub region_prefixes: Option<Vec<String>>,
    pub tiers: Option<Vec<crate::domain::person::Tier>>,
    pub relapse_monitoring: Option<bool>,
    pub circumstances: Option<Vec<crate::domain::person::Circumstance>>,
    pub min_age: Option<Option<i32>>,
    pub max_age: Option<Option<i32>>,
    pub per_person_cap_fen: Option<Option<i64>>,
    pub capacity: Option<i32>,
    pub budget_fen: Option<i64>,
    pub starts_on: Option<chrono::NaiveDate>,
    pub ends_on: Option<chrono::NaiveDate>,
    pub procedures: Option<String>,
    pub standards: Option<String>,
    pub contact: Option<String>,
}

impl ProjectChanges {
    pub fn apply(self, p: &ProjectRow) -> ProjectFields {
        ProjectFields {
            name: self.name.unwrap_or_else(|| p.name.clone()),
            categories: self.categories.unwrap_or_else(|| p.categories.clone()),
            aid_form: self.aid_form.unwrap_or(p.aid_form),
            region_prefixes: self
                .region_prefixes
                .unwrap_or_else(|| p.region_prefixes.clone()),
            tiers: self.tiers.unwrap_or_else(|| p.tiers.clone()),
            relapse_monitoring: self.relapse_monitoring.unwrap_or(p.relapse_monitoring),
            circumstances: self
                .circumstances
                .unwrap_or_else(|| p.circumstances.clone()),
            min_age: self.min_age.unwrap_or(p.min_age),
            max_age: self.max_age.unwrap_or(p.max_age),
            per_person_cap_fen: self.per_person_cap_fen.unwrap_or(p.per_person_cap_fen),
            capacity: self.capacity.unwrap_or(p.capacity),
            budget_fen: self.budget_fen.unwrap_or(p.budget_fen),
            starts_on: self.starts_on.unwrap_or(p.starts_on),
            ends_on: self.ends_on.unwrap_or(p.ends_on),
            procedures: self.procedures.unwrap_or_else(|| p.procedures.clone()),
            standards: self.standards.unwrap_or_else(|| p.standards.clone()),
            contact: self.contact.unwrap_or_else(|| p.contact.clone()),
        }
    }
}

/// Creates a draft for the caller's charity.
pub async fn create(ctx: &Context, caller: &Caller, fields: ProjectFields) -> Result<ProjectRow> {
    caller.require_any(&[Role::Charity])?;
    check_fields(&fields)?;
    let id = Uuid::now_v7();
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "project.create", "project", id);
    let org = caller.organization_id;
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = projects::insert(conn, id, org, &fields, now).await?;
            announce(conn, &row, "created", now).await?;
            audit::append(conn, ev.details(json!({"name": row.name}))).await?;
            Ok(row)
        })
    })
    .await
}

/// Whether the caller may see `p`: published and closed projects are public; a draft only to
/// its charity and that charity's federation.
async fn may_see(conn: &mut Conn, caller: &Caller, p: &ProjectRow) -> Result<bool> {
    let own = caller.has(Role::Charity) && p.organization_id == caller.organization_id;
    if p.status != ProjectStatus::Draft || own {
        return Ok(true);
    }
    is_federation_of(conn, caller, p.organization_id).await
}

/// Whether the caller is charity staff of the federation `organization_id` belongs to.
async fn is_federation_of(conn: &mut Conn, caller: &Caller, organization_id: Uuid) -> Result<bool> {
    if !caller.has(Role::Charity) {
        return Ok(false);
    }
    let org = organizations::find(conn, organization_id).await?;
    Ok(org.is_some_and(|o| o.parent_id == Some(caller.organization_id)))
}

/// One project, if the caller may see it (else not found: drafts are not disclosed).
pub async fn load_visible(conn: &mut Conn, caller: &Caller, id: Uuid) -> Result<ProjectRow> {
    let p = projects::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("project"))?;
    if may_see(conn, caller, &p).await? {
        Ok(p)
    } else {
        Err(Error::not_found("project"))
    }
}

/// The owning charity's staff only; others who may see it get 403.
fn require_owner(caller: &Caller, p: &ProjectRow) -> Result<()> {
    if caller.has(Role::Charity) && caller.organization_id == p.organization_id {
        Ok(())
    } else {
        Err(Error::forbidden(
            "only the project's own charity may change it",
        ))
    }
}

pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<ProjectRow> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    load_visible(&mut conn, caller, id).await
}

/// Lists projects: a charity its own (`mine`), a federation its members' (`members`), anyone
/// the published and closed ones (by default, for civil-affairs staff, of their region).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    scope: ProjectScope,
    mut filter: ProjectFilter,
) -> Result<Vec<ProjectRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    match scope {
        ProjectScope::Mine => {
            caller.require_any(&[Role::Charity])?;
            filter.organization_id = Some(caller.organization_id);
        }
        ProjectScope::Members => {
            caller.require_any(&[Role::Charity])?;
            let members = organizations::members(&mut conn, caller.organization_id).await?;
            filter.organization_ids = Some(members);
        }
        ProjectScope::Published => {
            filter.published_only = true;
            if filter.region_prefix.is_none() && caller.has(Role::CivilAffairs) {
                filter.region_prefix = Some(caller.region.as_str().to_owned());
            }
        }
    }
    Ok(projects::list(&mut conn, &filter).await?)
}

fn snapshot(p: &ProjectRow) -> serde_json::Value {
    serde_json::to_value(p).unwrap_or_default()
}

async fn keep_version(
    conn: &mut Conn,
    caller: &Caller,
    p: &ProjectRow,
    reason: Option<String>,
) -> Result<()> {
    projects::insert_version(
        conn,
        p.id,
        p.version,
        snapshot(p),
        p.updated_at,
        caller.id,
        reason,
    )
    .await?;
    Ok(())
}

/// Rewrites a project's fields (the owning charity; not once closed). Capacity and budget
/// cannot drop below what aid records have already used.
pub async fn update(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    changes: ProjectChanges,
    reason: Option<String>,
    if_match: Option<IfMatch>,
) -> Result<ProjectRow> {
    caller.require_any(&[Role::Charity])?;
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "project.update", "project", id).reason(reason.clone());
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let p = load_visible(conn, &caller, id).await?;
            require_owner(&caller, &p)?;
            if let Some(m) = &if_match {
                m.check(p.version)?;
            }
            if p.status == ProjectStatus::Closed {
                return Err(Error::conflict(
                    "project_closed",
                    "a closed project is no longer changed",
                ));
            }
            let fields = changes.apply(&p);
            check_fields(&fields)?;
            let used = p.capacity - p.places_left;
            let mut errors = Vec::new();
            if fields.capacity < used {
                errors.push(super::FieldError::new(
                    "capacity",
                    "below_used",
                    format!("{used} places are already taken"),
                ));
            }
            if fields.budget_fen < p.spent_fen {
                errors.push(super::FieldError::new(
                    "budget_fen",
                    "below_spent",
                    format!("{} fen are already spent", p.spent_fen),
                ));
            }
            Error::check(errors)?;
            let row = projects::update(conn, id, p.version, &fields, fields.capacity - used, now)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            if row.status == ProjectStatus::Published {
                keep_version(conn, &caller, &row, reason).await?;
            }
            announce(conn, &row, "updated", now).await?;
            audit::append(conn, ev.details(json!({"version": row.version}))).await?;
            Ok(row)
        })
    })
    .await
}

/// Publishes (`published`) or closes (`closed`) a project: the owning charity. Publishing
/// needs the procedures and standards the public is to read, and a period not yet over.
pub async fn change_status(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    to: ProjectStatus,
    if_match: Option<IfMatch>,
) -> Result<ProjectRow> {
    caller.require_any(&[Role::Charity])?;
    let now = ctx.clock.now();
    let today = local_date(now);
    let action = match to {
        ProjectStatus::Published => "project.publish",
        _ => "project.close",
    };
    let ev = audit::by(ctx, caller, action, "project", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let p = load_visible(conn, &caller, id).await?;
            require_owner(&caller, &p)?;
            if let Some(m) = &if_match {
                m.check(p.version)?;
            }
            if !can_transition(p.status, to) {
                return Err(Error::conflict(
                    "illegal_transition",
                    format!("a project cannot go from {} to {to}", p.status),
                )
                .with_extra("from", p.status.as_str())
                .with_extra("to", to.as_str()));
            }
            if to == ProjectStatus::Published {
                let mut errors = Vec::new();
                for (field, text) in [("procedures", &p.procedures), ("standards", &p.standards)] {
                    if text.trim().is_empty() {
                        errors.push(super::FieldError::new(
                            field,
                            "required",
                            "the public must be told this before the project is published",
                        ));
                    }
                }
                if p.ends_on < today {
                    errors.push(super::FieldError::new(
                        "ends_on",
                        "in_the_past",
                        "the project has already ended",
                    ));
                }
                Error::check(errors)?;
            }
            let row = projects::set_status(conn, &p, to, now)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            if row.published_at.is_some() {
                keep_version(conn, &caller, &row, None).await?;
            }
            announce(conn, &row, to.as_str(), now).await?;
            audit::append(
                conn,
                ev.details(json!({"from": p.status.as_str(), "to": to.as_str()})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Every version since publication, oldest first.
pub async fn versions(ctx: &Context, caller: &Caller, id: Uuid) -> Result<Vec<VersionRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    load_visible(&mut conn, caller, id).await?;
    Ok(projects::versions(&mut conn, id).await?)
}

/// Loads a project the caller's charity owns (for its matches, aid records, disclosures).
pub async fn load_owned(conn: &mut Conn, caller: &Caller, id: Uuid) -> Result<ProjectRow> {
    let p = load_visible(conn, caller, id).await?;
    require_owner(caller, &p)?;
    Ok(p)
}
