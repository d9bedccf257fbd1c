//! Recording to the audit trail: events by a caller or by the system, written in the change's
//! transaction, or on their own for reads (a disclosure is recorded before the data is sent).

use serde_json::{json, Value};
use uuid::Uuid;

use super::{transaction, Context, RequestMeta, Result};
use crate::auth::Caller;
use crate::db::audit::{self, AuditFilter, AuditRow, NewAuditEvent};
use crate::db::{Conn, Pool};

/// An event done by an authenticated caller.
pub fn by(
    ctx: &Context,
    caller: &Caller,
    action: &str,
    entity_type: &'static str,
    entity_id: Uuid,
) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: ctx.clock.now(),
        actor_kind: caller.kind.as_str(),
        actor_id: Some(caller.id),
        actor_organization_id: Some(caller.organization_id),
        action: action.to_owned(),
        entity_type,
        entity_id: Some(entity_id),
        ip: caller.meta.ip.clone(),
        request_id: caller.meta.request_id.clone(),
        reason: None,
        details: json!({}),
    }
}

/// An event with no authenticated actor: sign-in attempts (from `meta`), seeding and sweeps.
pub fn anonymous(
    ctx: &Context,
    actor_kind: &'static str,
    meta: &RequestMeta,
    action: &str,
    entity_type: &'static str,
    entity_id: Option<Uuid>,
) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at: ctx.clock.now(),
        actor_kind,
        actor_id: None,
        actor_organization_id: None,
        action: action.to_owned(),
        entity_type,
        entity_id,
        ip: meta.ip.clone(),
        request_id: meta.request_id.clone(),
        reason: None,
        details: json!({}),
    }
}

/// Appends in the caller's transaction.
pub async fn append(conn: &mut Conn, ev: NewAuditEvent) -> Result<()> {
    audit::append(conn, ev).await?;
    Ok(())
}

/// Records an event that goes with no change of its own (a read, a disclosure), in a
/// transaction of its own. Callers record before they answer: no record, no data.
pub async fn record(pool: &Pool, ev: NewAuditEvent) -> Result<()> {
    transaction(pool, |conn| {
        Box::pin(async move {
            audit::append(conn, ev).await?;
            Ok(())
        })
    })
    .await
}

/// Supervision reads personal data read-only, and each such read is itself recorded
/// (DESIGN §1). Records `action` when the caller reads as an auditor.
pub async fn record_supervision_read(
    ctx: &Context,
    caller: &Caller,
    action: &str,
    entity_type: &'static str,
    entity_id: Option<Uuid>,
    details: Value,
) -> Result<()> {
    if !super::access::reads_as_supervision(caller) {
        return Ok(());
    }
    let mut ev = by(ctx, caller, action, entity_type, Uuid::nil()).details(details);
    ev.entity_id = entity_id;
    record(&ctx.pool, ev).await
}

/// A page of the trail, newest first. Auditors only.
pub async fn list(ctx: &Context, caller: &Caller, filter: AuditFilter) -> Result<Vec<AuditRow>> {
    super::access::require_auditor(caller)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(audit::list(&mut conn, &filter).await?)
}
