//! The audit trail for supervision (审计日志): list with filters, and chain verification.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::Page;
use crate::api::extract::QueryParams;
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::audit::{AuditFilter, AuditRow, CheckpointRow};
use crate::error::ApiError;
use crate::service::{audit, ledger};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit_events)
        .service(verify_audit_chain)
        .service(list_checkpoints);
}

/// One audit event: who did what to which record, when, from where and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Order of appending (the ledger's own order is the seal's position).
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `user`, `client` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    #[schema(example = "organization.create")]
    pub action: String,
    #[schema(example = "organization")]
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        Self {
            seq: r.seq,
            id: r.id,
            occurred_at: r.occurred_at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_organization_id: r.actor_organization_id,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            ip: r.ip,
            request_id: r.request_id,
            reason: r.reason,
            details: r.details,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entity type, e.g. `organization`, `person`.
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    /// The acting user or client.
    pub actor_id: Option<Uuid>,
    /// Action, e.g. `person.reveal`.
    pub action: Option<String>,
    /// From this time (inclusive, RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive, RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

/// List audit events, newest first (审计日志查询). Auditor only.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = Page<AuditEvent>),
        (status = 400, description = "Bad query parameter"),
    )
)]
#[get("/audit-events")]
async fn list_audit_events(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let mut errors = Vec::new();
    crate::api::v1::check_year("from", q.from.map(|t| t.date_naive()), &mut errors);
    crate::api::v1::check_year("to", q.to.map(|t| t.date_naive()), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError {
            errors,
            ..ApiError::bad_request("invalid_query", "a time is out of range")
        });
    }
    let limit = q.limit.unwrap_or(50);
    let before_seq = match q.cursor.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(seq)) if seq > 0 => Some(seq),
        Some(_) => {
            return Err(ApiError::bad_parameter(
                "invalid_query",
                "cursor",
                "invalid_cursor",
                "pass back the next_cursor of the previous page",
            ))
        }
    };
    let rows = audit::list(
        &state.ctx,
        &caller,
        AuditFilter {
            entity_type: q.entity_type,
            entity_id: q.entity_id,
            actor_id: q.actor_id,
            action: q.action,
            from: q.from,
            to: q.to,
            before_seq,
            limit: limit + 1,
        },
    )
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.seq.to_string(),
        AuditEvent::from,
    )))
}

/// The result of walking the ledger and comparing it with the newest signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainVerification {
    /// True when every seal links to the one before, matches its event under the sealing key,
    /// and the chain reaches and agrees with the newest signed checkpoint.
    pub intact: bool,
    /// Events whose seal was checked and found intact (up to the first broken seal).
    pub checked: u64,
    pub first_broken: Option<BrokenLink>,
    /// The checkpoint the chain was compared with.
    pub checkpoint: Option<Checkpoint>,
    /// Events not sealed yet (committed in the last moment) or whose seal is missing.
    pub unsealed: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    /// The chain position where it breaks.
    pub position: i64,
    /// The event found wrong, when one is known: a missing event, or the one event a broken
    /// seal covers.
    pub seq: Option<i64>,
    /// The events (`seq`) the seal at `position` covers, in chain order: a seal covers the run
    /// of events the sealer found in one pass, so a rewritten event is among them.
    pub covers: Vec<i64>,
    /// `prev_mismatch`, `mac_mismatch`, `covers_mismatch` (a seal's list of events out of order,
    /// or its `seq` not the highest of them), `event_missing`, `position_gap`, `truncated`,
    /// `checkpoint_mismatch`, `checkpoint_signature` or `unsealed_event` (an event older than a
    /// minute that no seal covers).
    pub problem: String,
}

/// A signed statement of the ledger's head: anyone holding an older copy can tell whether the
/// chain was cut back or rewritten since.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checkpoint {
    /// The position of the newest seal (seals are numbered from 1; each covers a run of
    /// events).
    pub position: i64,
    /// The MAC of the seal at `position`.
    pub head_mac: String,
    pub signed_at: DateTime<Utc>,
    pub key_id: String,
    /// Ed25519 over `aidbridge audit checkpoint v1\n{position}\n{head_mac}\n{signed_at}`
    /// (RFC 3339, microseconds, `Z`), base64.
    pub signature: String,
}

impl From<CheckpointRow> for Checkpoint {
    fn from(c: CheckpointRow) -> Self {
        Self {
            position: c.position,
            head_mac: c.head_mac,
            signed_at: c.signed_at,
            key_id: c.key_id,
            signature: c.signature,
        }
    }
}

/// Verify the audit ledger (校验审计链): seals what is pending, walks the chain, and compares it
/// with the newest signed checkpoint. Auditor only.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, description = "Verification result", body = ChainVerification))
)]
#[get("/audit-events/verify")]
async fn verify_audit_chain(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<ChainVerification>, ApiError> {
    let report = ledger::verify(&state.ctx, &caller).await?;
    Ok(web::Json(ChainVerification {
        intact: report.first_broken.is_none(),
        checked: report.checked,
        first_broken: report.first_broken.map(|b| BrokenLink {
            position: b.position,
            seq: b.seq,
            covers: b.covers,
            problem: b.problem.to_owned(),
        }),
        checkpoint: report.checkpoint.map(Checkpoint::from),
        unsealed: report.unsealed,
    }))
}

/// The checkpoints and the key that verifies them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checkpoints {
    /// Ed25519 public key, base64 of its 32 bytes.
    pub public_key: String,
    pub key_id: String,
    /// Newest first.
    pub items: Vec<Checkpoint>,
}

/// Signed checkpoints of the audit ledger (审计链检查点), newest first, with the public key.
/// Auditor only.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, description = "Checkpoints", body = Checkpoints))
)]
#[get("/audit-events/checkpoints")]
async fn list_checkpoints(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<Checkpoints>, ApiError> {
    let rows = ledger::checkpoints(&state.ctx, &caller, 100).await?;
    let (public_key, key_id) = state.ctx.ledger.public_key();
    Ok(web::Json(Checkpoints {
        public_key,
        key_id,
        items: rows.into_iter().map(Checkpoint::from).collect(),
    }))
}
