//! The event feed (`GET /events`): what changed, in commit order, for polling systems.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::api::extract::QueryParams;
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::events::EventRow;
use crate::error::ApiError;
use crate::service::events;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_events);
}

/// One change. `data` holds codes and ids only, never personal data: read the entity for more.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// The event's place in the feed; pass the last one seen as `after`.
    pub cursor: String,
    /// `<entity>.<change>`, e.g. `referral.accepted`, `lead.closed`, `person.updated`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Self {
            cursor: r.position.unwrap_or_default().to_string(),
            event_type: r.event_type,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            occurred_at: r.occurred_at,
            data: r.payload,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// Where to continue: pass as `after` next time (the same value when nothing was new).
    pub next_cursor: String,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The cursor of the last event already seen (`0` or absent: from the start).
    #[validate(range(min = 0))]
    #[param(minimum = 0)]
    pub after: Option<i64>,
    #[validate(range(min = 1, max = 1000))]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The event feed: changes after a cursor, in commit order, that the caller's organisation may
/// see (a bureau: its region; a charity: its referrals, leads, projects, funds and aid records;
/// auditors: all). No event is ever skipped, however writers' transactions interleave.
#[utoipa::path(
    tag = "exchange",
    security(("bearer" = []), ("oauth2" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "Events after the cursor", body = EventPage),
        (status = 403, description = "Not a bureau, charity or auditor"),
    )
)]
#[get("/events")]
async fn list_events(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<EventQuery>,
) -> Result<web::Json<EventPage>, ApiError> {
    let after = q.after.unwrap_or(0);
    let rows = events::feed(&state.ctx, &caller, after, q.limit.unwrap_or(100)).await?;
    let next_cursor = rows
        .last()
        .and_then(|r| r.position)
        .unwrap_or(after)
        .to_string();
    Ok(web::Json(EventPage {
        items: rows.into_iter().map(Event::from).collect(),
        next_cursor,
    }))
}
