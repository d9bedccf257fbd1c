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
use crate::db::audit::{AuditFilter, AuditRow};
use crate::error::ApiError;
use crate::service::audit;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit_events).service(verify_audit_chain);
}

/// One audit event: who did what to which record, when, from where and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Position in the chain.
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
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` and this event's canonical content.
    pub hash: String,
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
            prev_hash: r.prev_hash,
            hash: r.hash,
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

/// The result of walking the hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainVerification {
    /// True when every event links to the one before and matches its own hash.
    pub intact: bool,
    /// Events checked (up to and including the first broken one).
    pub checked: u64,
    pub first_broken: Option<BrokenLink>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLink {
    pub seq: i64,
    pub id: Uuid,
    /// `hash_mismatch` (this event was altered) or `prev_hash_mismatch` (an event before it was removed or altered).
    pub problem: String,
}

/// Verify the audit chain (校验审计链): reports the first broken link, if any. Auditor only.
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
    let report = audit::verify(&state.ctx, &caller).await?;
    Ok(web::Json(ChainVerification {
        intact: report.first_broken.is_none(),
        checked: report.checked,
        first_broken: report.first_broken.map(|b| BrokenLink {
            seq: b.seq,
            id: b.id,
            problem: b.problem.to_owned(),
        }),
    }))
}
