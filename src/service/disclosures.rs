//! Public disclosure (信息公开): a charity publishes statements about its projects and funds;
//! published statements never change (a correction is a new, linked statement); the deadlines
//! of the 2026 rules say what is due or late.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{access, audit, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::disclosures::{self, DisclosureRow, ProjectDuty};
use crate::db::{funds, Conn};
use crate::domain::disclosure::{due, DisclosureKind, Due, ProjectTerms, Statement};
use crate::domain::project::ProjectStatus;
use crate::domain::role::Role;
use crate::domain::time::local_date;

/// What a statement is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Project(Uuid),
    Fund(Uuid),
}

#[derive(Debug, Clone)]
pub struct StatementInput {
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
}

/// The owning organisation of the subject, if the caller may see it (drafts are not disclosed
/// on, and another charity's draft is not found).
async fn owner(conn: &mut Conn, caller: &Caller, subject: Subject) -> Result<Uuid> {
    match subject {
        Subject::Project(id) => {
            let p = super::projects::load_visible(conn, caller, id).await?;
            if p.organization_id != caller.organization_id {
                return Err(Error::forbidden(
                    "only the owning charity publishes about it",
                ));
            }
            if p.status == ProjectStatus::Draft {
                return Err(Error::conflict(
                    "project_not_open",
                    "a draft is not disclosed on; publish it first",
                ));
            }
            Ok(p.organization_id)
        }
        Subject::Fund(id) => Ok(funds::find(conn, id)
            .await?
            .ok_or_else(|| Error::not_found("fund"))?
            .organization_id),
    }
}

fn about(subject: Subject, row: &DisclosureRow) -> bool {
    match subject {
        Subject::Project(id) => row.project_id == Some(id),
        Subject::Fund(id) => row.fund_id == Some(id),
    }
}

/// Publishes a statement (the owning charity). A correction names the statement it corrects
/// (of the same subject) and says what it corrects.
pub async fn publish(
    ctx: &Context,
    caller: &Caller,
    subject: Subject,
    input: StatementInput,
) -> Result<DisclosureRow> {
    caller.require_any(&[Role::Charity])?;
    let now = ctx.clock.now();
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "disclosure.publish", "disclosure", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let org = owner(conn, &caller, subject).await?;
            if org != caller.organization_id {
                return Err(Error::forbidden(
                    "only the owning charity publishes about it",
                ));
            }
            let correcting = input.kind == DisclosureKind::Correction;
            match (correcting, input.corrects_id) {
                (true, Some(cid)) => {
                    let corrected = disclosures::find(conn, cid).await?;
                    if !corrected.is_some_and(|c| about(subject, &c)) {
                        return Err(Error::field(
                            "corrects_id",
                            "not_found",
                            "no such statement about this subject",
                        ));
                    }
                    if input
                        .correction_note
                        .as_deref()
                        .is_none_or(|n| n.trim().is_empty())
                    {
                        return Err(Error::field(
                            "correction_note",
                            "required",
                            "a correction says what it corrects (更正说明)",
                        ));
                    }
                }
                (true, None) => {
                    return Err(Error::field(
                        "corrects_id",
                        "required",
                        "a correction names the statement it corrects",
                    ))
                }
                (false, Some(_)) => {
                    return Err(Error::field(
                        "corrects_id",
                        "only_for_corrections",
                        "only a correction references another statement",
                    ))
                }
                (false, None) => {}
            }
            let (project_id, fund_id) = match subject {
                Subject::Project(p) => (Some(p), None),
                Subject::Fund(f) => (None, Some(f)),
            };
            let row = DisclosureRow {
                id,
                organization_id: org,
                project_id,
                fund_id,
                kind: input.kind,
                period_start: input.period_start,
                period_end: input.period_end,
                body: input.body,
                funds_raised_fen: input.funds_raised_fen,
                funds_used_fen: input.funds_used_fen,
                beneficiaries: input.beneficiaries,
                service_minutes: input.service_minutes,
                corrects_id: input.corrects_id.filter(|_| correcting),
                correction_note: input.correction_note.filter(|_| correcting),
                published_at: now,
                published_on: local_date(now),
                published_by: caller.id,
            };
            disclosures::insert(conn, &row).await?;
            let e = Event::new("disclosure.published", "disclosure", row.id).payload(json!({
                "kind": row.kind, "project_id": row.project_id, "fund_id": row.fund_id,
                "corrects_id": row.corrects_id}));
            events::emit_for_organization(conn, e, row.organization_id, now).await?;
            audit::append(
                conn,
                ev.details(
                    json!({"kind": row.kind, "project_id": project_id, "fund_id": fund_id,
                                  "corrects_id": row.corrects_id}),
                ),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Every statement about a subject, oldest first (public information).
pub async fn list_in(conn: &mut Conn, subject: Subject) -> Result<Vec<DisclosureRow>> {
    Ok(match subject {
        Subject::Project(id) => disclosures::of_project(conn, id).await?,
        Subject::Fund(id) => disclosures::of_fund(conn, id).await?,
    })
}

/// Statements about a subject the caller may see (published projects and funds are public).
pub async fn list(ctx: &Context, caller: &Caller, subject: Subject) -> Result<Vec<DisclosureRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    match subject {
        Subject::Project(id) => {
            super::projects::load_visible(&mut conn, caller, id).await?;
        }
        Subject::Fund(id) => {
            funds::find(&mut conn, id)
                .await?
                .ok_or_else(|| Error::not_found("fund"))?;
        }
    }
    list_in(&mut conn, subject).await
}

/// One disclosure that is due or late, with whose it is.
#[derive(Debug, Clone)]
pub struct DueRow {
    pub duty: ProjectDuty,
    pub due: Due,
}

/// What is due or late on `as_of` (Asia/Shanghai; today by default): a charity its own, a
/// bureau the charities registered in its region, auditors every charity.
pub async fn due_list(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    as_of: Option<NaiveDate>,
) -> Result<(NaiveDate, Vec<DueRow>)> {
    let as_of = as_of.unwrap_or_else(|| local_date(ctx.clock.now()));
    let (prefix, org) = if caller.has(Role::Charity) {
        (None, Some(caller.organization_id))
    } else {
        (Some(access::list_scope(caller, region)?), None)
    };
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let duties = disclosures::project_duties(&mut conn, prefix.as_deref(), org).await?;
    let ids: Vec<Uuid> = duties.iter().map(|d| d.project_id).collect();
    let statements = disclosures::of_projects(&mut conn, &ids).await?;
    drop(conn);
    let mut out = Vec::new();
    for duty in duties {
        let mine: Vec<Statement> = statements
            .iter()
            .filter(|s| s.project_id == Some(duty.project_id))
            .map(|s| Statement {
                kind: s.kind,
                published_on: s.published_on,
                period_start: s.period_start,
                period_end: s.period_end,
            })
            .collect();
        // A project closed early ended then.
        let ended = duty
            .closed_at
            .map(local_date)
            .map_or(duty.ends_on, |c| c.min(duty.ends_on));
        let terms = ProjectTerms {
            starts_on: duty.starts_on,
            ends_on: ended.max(duty.starts_on),
            public_fundraising: duty.public_fundraising,
        };
        for d in due(&terms, &mine, as_of) {
            out.push(DueRow {
                duty: duty.clone(),
                due: d,
            });
        }
    }
    out.sort_by(|a, b| {
        b.due
            .days_late
            .cmp(&a.due.days_late)
            .then(a.due.due_on.cmp(&b.due.due_on))
    });
    Ok((as_of, out))
}
