//! Volunteer pairing (结对帮扶) and visits (关爱陪伴).

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, check_year, Page};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::pairings::{PairingRow, VisitRow};
use crate::domain::aid::{PairingStatus, VisitKind};
use crate::error::ApiError;
use crate::service::pairings::{self, Contact, VisitInput};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_pairing)
        .service(list_pairings)
        .service(get_pairing)
        .service(add_visit)
        .service(list_visits)
        .service(end_pairing);
}

/// The person's contact data as the follow-up consent allows (absent without it).
#[derive(Debug, Serialize, ToSchema)]
pub struct PairedPerson {
    pub id: Uuid,
    /// With the `identity` or `contact` category.
    pub name: Option<String>,
    /// With the `contact` category.
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pairing {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub volunteer_id: Uuid,
    pub person: PairedPerson,
    pub status: PairingStatus,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
    pub end_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Pairing {
    fn of(p: PairingRow, contact: Contact) -> Self {
        Self {
            id: p.id,
            organization_id: p.organization_id,
            volunteer_id: p.volunteer_id,
            person: PairedPerson {
                id: p.person_id,
                name: contact.name,
                phone: contact.phone,
            },
            status: p.status,
            started_on: p.started_on,
            ended_on: p.ended_on,
            end_reason: p.end_reason,
            created_at: p.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "person_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f00",
    "volunteer_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f02",
    "started_on": "2026-06-01"
}))]
pub struct CreatePairing {
    pub person_id: Uuid,
    /// A grassroots user of the caller's organisation.
    pub volunteer_id: Uuid,
    pub started_on: NaiveDate,
}

/// Pair a volunteer with a person (结对). Charity staff, with a grassroots volunteer of their
/// charity, for a person who consented to follow-up by it.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreatePairing,
    responses(
        (status = 201, description = "Paired", body = Pairing),
        (status = 404, description = "No such person under the organisation's consent"),
        (status = 409, description = "Already paired"),
        (status = 422, description = "Invalid field (not a volunteer of the charity)"),
    )
)]
#[post("/pairings")]
async fn create_pairing(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreatePairing>()?;
    check_year("started_on", Some(b.started_on), &mut errors);
    ApiError::check(errors)?;
    let row = pairings::create(
        &state.ctx,
        &caller,
        b.person_id,
        b.volunteer_id,
        b.started_on,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/pairings/{}", row.id)))
        .json(Pairing::of(row, Contact::default())))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PairingQuery {
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// Pairings: a volunteer its own; staff their organisation's (no contact data in lists).
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(PairingQuery),
    responses((status = 200, description = "A page of pairings", body = Page<Pairing>))
)]
#[get("/pairings")]
async fn list_pairings(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<PairingQuery>,
) -> Result<web::Json<Page<Pairing>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    let rows = pairings::list(&state.ctx, &caller, q.cursor, limit + 1).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        |r| Pairing::of(r, Contact::default()),
    )))
}

/// One pairing with the person's contact data as far as the follow-up consent allows (recorded).
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Pairing id")),
    responses(
        (status = 200, description = "The pairing", body = Pairing),
        (status = 404, description = "No such pairing of the caller's"),
    )
)]
#[get("/pairings/{id}")]
async fn get_pairing(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Pairing>, ApiError> {
    let (p, contact) = pairings::get(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(Pairing::of(p, contact)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Visit {
    pub id: Uuid,
    pub pairing_id: Uuid,
    pub volunteer_id: Uuid,
    pub visited_on: NaiveDate,
    pub minutes: i32,
    pub kind: VisitKind,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

impl From<VisitRow> for Visit {
    fn from(v: VisitRow) -> Self {
        Self {
            id: v.id,
            pairing_id: v.pairing_id,
            volunteer_id: v.volunteer_id,
            visited_on: v.visited_on,
            minutes: v.minutes,
            kind: v.kind,
            note: v.note,
            recorded_at: v.recorded_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"visited_on": "2026-06-05", "minutes": 60, "kind": "home_visit", "note": "陪老人聊天，检查取暖"}))]
pub struct CreateVisit {
    pub visited_on: NaiveDate,
    #[validate(range(min = 1, max = 1440))]
    pub minutes: i32,
    pub kind: VisitKind,
    #[validate(length(max = 1000))]
    pub note: Option<String>,
}

/// Record a visit (关爱陪伴记录). The paired volunteer.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Pairing id")),
    request_body = CreateVisit,
    responses(
        (status = 201, description = "Recorded", body = Visit),
        (status = 404, description = "No such pairing of the caller's"),
        (status = 409, description = "The pairing has ended"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/pairings/{id}/visits")]
async fn add_visit(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateVisit>()?;
    check_year("visited_on", Some(b.visited_on), &mut errors);
    check_free_text("note", b.note.as_deref(), &mut errors);
    ApiError::check(errors)?;
    let row = pairings::add_visit(
        &state.ctx,
        &caller,
        id.into_inner(),
        VisitInput {
            visited_on: b.visited_on,
            minutes: b.minutes,
            kind: b.kind,
            note: b.note,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(Visit::from(row)))
}

/// A pairing's visits: the volunteer its own; staff of the organisation all.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Pairing id")),
    responses(
        (status = 200, description = "The visits", body = Vec<Visit>),
        (status = 404, description = "No such pairing of the caller's"),
    )
)]
#[get("/pairings/{id}/visits")]
async fn list_visits(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<Visit>>, ApiError> {
    let rows = pairings::visits(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "已迁出本区"}))]
pub struct EndPairing {
    #[validate(length(max = 500))]
    pub reason: Option<String>,
}

/// End a pairing (结束结对). Staff of its organisation.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Pairing id")),
    request_body = EndPairing,
    responses(
        (status = 200, description = "Ended", body = Pairing),
        (status = 404, description = "No such pairing of the caller's"),
        (status = 409, description = "Already ended"),
    )
)]
#[post("/pairings/{id}/end")]
async fn end_pairing(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<web::Json<Pairing>, ApiError> {
    let (b, mut errors) = body.parse::<EndPairing>()?;
    check_free_text("reason", b.reason.as_deref(), &mut errors);
    ApiError::check(errors)?;
    let row = pairings::end(&state.ctx, &caller, id.into_inner(), b.reason).await?;
    Ok(web::Json(Pairing::of(row, Contact::default())))
}
