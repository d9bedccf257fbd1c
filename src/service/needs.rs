//! Needs (救助需求): recorded by staff of the person's region, moved through their status machine
//! with a conditional update so that of two racing callers one wins.

use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{access, audit, lost_update, transaction, Context, Error, IfMatch, Result};
use crate::auth::Caller;
use crate::db::needs::{self, NeedFilter, NeedRow, NewNeed};
use crate::db::{persons, Conn};
use crate::domain::need::{can_transition, NeedCategory, NeedSource, NeedStatus, Urgency};
use crate::domain::role::Role;

/// A need whose fields have passed every rule.
#[derive(Debug)]
pub struct NewNeedInput {
    pub person_id: Uuid,
    pub category: NeedCategory,
    pub description: String,
    pub amount_requested_fen: Option<i64>,
    pub urgency: Urgency,
    pub source: NeedSource,
}

/// Records a need (登记救助需求): civil-affairs staff of the person's region.
pub async fn create(ctx: &Context, caller: &Caller, input: NewNeedInput) -> Result<NeedRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "need.create", "need", id);
    let caller = caller.clone();
    let now = ctx.clock.now();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let person = persons::find(conn, input.person_id)
                .await?
                .ok_or_else(|| Error::not_found("person"))?;
            access::change_person(&caller, &person)?;
            let row = needs::insert(
                conn,
                &NewNeed {
                    id,
                    person_id: person.id,
                    region_code: person.region_code.clone(),
                    category: input.category,
                    description: input.description.trim().to_owned(),
                    amount_requested_fen: input.amount_requested_fen,
                    urgency: input.urgency,
                    source: input.source,
                    recorded_by_organization_id: caller.organization_id,
                },
            )
            .await?;
            audit::append(
                conn,
                ev.details(json!({"person_id": row.person_id, "category": row.category, "urgency": row.urgency})),
            )
            .await?;
            let e = Event::new("need.created", "need", row.id)
                .region(&row.region_code)
                .payload(json!({"category": row.category, "urgency": row.urgency}));
            events::emit(conn, e, now).await?;
            Ok(row)
        })
    })
    .await
}

/// Lists needs in a region: staff of the region and auditors (recorded).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    mut filter: NeedFilter,
) -> Result<Vec<NeedRow>> {
    filter.region_prefix = access::list_scope(caller, region)?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        needs::list(&mut conn, &filter).await?
    };
    let details = json!({"region": region, "category": filter.category, "status": filter.status, "person_id": filter.person_id});
    audit::record_supervision_read(ctx, caller, "need.list", "need", None, details).await?;
    Ok(rows)
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<NeedRow> {
    needs::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("need"))
}

/// One need: staff of its region and auditors (recorded).
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<NeedRow> {
    access::may_read_needs(caller)?;
    let need = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        load(&mut conn, id).await?
    };
    access::read_need(caller, &need)?;
    audit::record_supervision_read(ctx, caller, "need.read", "need", Some(need.id), json!({}))
        .await?;
    Ok(need)
}

/// Moves a need to `to` (更新需求状态): staff of its region; an illegal move or a lost race is a
/// conflict naming both states.
pub async fn change_status(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    to: NeedStatus,
    note: Option<String>,
    if_match: Option<IfMatch>,
) -> Result<NeedRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "need.status", "need", id).reason(note);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let need = load(conn, id).await?;
            access::change_need(&caller, &need)?;
            if let Some(m) = &if_match {
                m.check(need.version)?;
            }
            let from = need.status;
            if !can_transition(from, to) {
                return Err(Error::conflict(
                    "illegal_transition",
                    format!("a need cannot go from {from} to {to}"),
                )
                .with_extra("from", from.as_str())
                .with_extra("to", to.as_str()));
            }
            // Conditional on the status and version read: a concurrent change makes this match
            // nothing.
            let row = needs::set_status(conn, id, from, to, now, need.version)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            audit::append(
                conn,
                ev.details(json!({"from": from.as_str(), "to": to.as_str()})),
            )
            .await?;
            let e = Event::new(format!("need.{to}"), "need", row.id)
                .region(&row.region_code)
                .payload(json!({"from": from, "status": to}));
            events::emit(conn, e, now).await?;
            Ok(row)
        })
    })
    .await
}
