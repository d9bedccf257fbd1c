//! Webhook subscriptions (`/webhooks`): pushed events, signed, retried, logged.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::Page;
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::webhooks::{DeliveryRow, SubscriptionRow};
use crate::domain::webhook::{check_url, DeliveryStatus};
use crate::error::{ApiError, FieldError};
use crate::service::webhooks;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_webhook)
        .service(list_webhooks)
        .service(get_webhook)
        .service(delete_webhook)
        .service(list_deliveries)
        .service(redeliver);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    /// Event types delivered (`referral.accepted`, or `referral.*`); empty: all.
    pub event_types: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// Only in the answer to the subscription, once: the HMAC-SHA256 key of
    /// `AidBridge-Signature: t=<unix seconds>,v1=<hex HMAC(secret, "<t>.<raw body>")>`.
    /// To verify: recompute over the raw body, compare in constant time, refuse a `t` more than
    /// five minutes away.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<SubscriptionRow> for Webhook {
    fn from(r: SubscriptionRow) -> Self {
        Self {
            id: r.id,
            url: r.url,
            event_types: r.event_types,
            active: r.active,
            created_at: r.created_at,
            secret: None,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://portal.example.org/aidbridge/hooks",
    "event_types": ["referral.*", "lead.closed"]
}))]
pub struct CreateWebhook {
    /// `https` (plain `http` only to localhost).
    #[validate(length(min = 8, max = 2000))]
    pub url: String,
    #[serde(default)]
    #[validate(length(max = 50))]
    pub event_types: Vec<String>,
}

/// An event type or `entity.*`: lowercase words and underscores.
fn valid_type(t: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty() && w.len() <= 40 && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    match t.split_once('.') {
        Some((entity, change)) => word(entity) && (change == "*" || word(change)),
        None => false,
    }
}

/// Subscribe to events (订阅事件推送): bureaus, charities and auditors, for the events they may
/// read in `GET /events`, from now on. The answer shows the signing secret, once.
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Subscribed (with the secret)", body = Webhook),
        (status = 403, description = "Not a bureau, charity or auditor"),
        (status = 409, description = "The organisation has the most active subscriptions allowed (`subscription_limit`)"),
        (status = 422, description = "Invalid URL or event type"),
    )
)]
#[post("/webhooks")]
async fn create_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateWebhook>()?;
    if let Err(why) = check_url(&b.url, state.ctx.config.webhook_allow_loopback) {
        errors.push(FieldError::new("url", "invalid_url", why));
    }
    for (i, t) in b.event_types.iter().enumerate() {
        if !valid_type(t) {
            errors.push(FieldError::new(
                format!("event_types[{i}]"),
                "invalid_event_type",
                "an event type such as referral.accepted, or referral.*",
            ));
        }
    }
    ApiError::check(errors)?;
    let mut types = b.event_types;
    types.sort();
    types.dedup();
    let created = webhooks::subscribe(&state.ctx, &caller, b.url, types).await?;
    let mut view = Webhook::from(created.row);
    view.secret = Some(created.secret);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}", view.id)))
        .json(view))
}

/// The caller's organisation's subscriptions.
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, description = "Subscriptions", body = [Webhook]))
)]
#[get("/webhooks")]
async fn list_webhooks(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<Webhook>>, ApiError> {
    let rows = webhooks::list(&state.ctx, &caller).await?;
    Ok(web::Json(rows.into_iter().map(Webhook::from).collect()))
}

/// One subscription of the caller's organisation.
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription", body = Webhook),
        (status = 404, description = "No such subscription of the caller's organisation"),
    )
)]
#[get("/webhooks/{id}")]
async fn get_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Webhook>, ApiError> {
    Ok(web::Json(
        webhooks::get(&state.ctx, &caller, id.into_inner())
            .await?
            .into(),
    ))
}

/// End a subscription (its delivery log stays).
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such subscription of the caller's organisation"),
        (status = 409, description = "Already ended"),
    )
)]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    webhooks::unsubscribe(&state.ctx, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A delivery and its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    /// The event's cursor in the feed.
    pub cursor: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            cursor: r.event_position.to_string(),
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// The subscription's delivery log, newest first.
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Subscription id"), DeliveryQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<Delivery>),
        (status = 404, description = "No such subscription of the caller's organisation"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<DeliveryQuery>,
) -> Result<web::Json<Page<Delivery>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    let rows = webhooks::deliveries(
        &state.ctx,
        &caller,
        id.into_inner(),
        q.status,
        q.cursor,
        limit + 1,
    )
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |d| d.id.to_string(),
        Delivery::from,
    )))
}

/// Deliver again (重新投递): a delivered or dead-lettered delivery is queued again.
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Subscription id"),
        ("delivery_id" = Uuid, Path, description = "Delivery id"),
    ),
    responses(
        (status = 200, description = "Queued again", body = Delivery),
        (status = 404, description = "No such subscription of the caller's organisation, or no such delivery of it"),
        (status = 409, description = "Still waiting to be made (`already_pending`)"),
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
async fn redeliver(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<web::Json<Delivery>, ApiError> {
    let (id, delivery) = path.into_inner();
    let row = webhooks::redeliver(&state.ctx, &caller, id, delivery).await?;
    Ok(web::Json(row.into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_types_are_entity_dot_change() {
        for ok in ["referral.accepted", "referral.*", "government_aid.recorded"] {
            assert!(super::valid_type(ok), "{ok}");
        }
        for bad in ["referral", "*", "Referral.x", "a.b.c", ".x", "x.", "x.**"] {
            assert!(!super::valid_type(bad), "{bad}");
        }
    }
}
