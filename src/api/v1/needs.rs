//! Needs (救助需求): what a person needs, how urgently, and where it stands.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::scope::{list_scope, load_person, record_supervision_read, require_staff};
use super::Page;
use crate::api::extract::{JsonBody, QueryParams, RequestMeta};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::needs::{self, NeedFilter, NeedRow, NewNeed};
use crate::domain::need::{can_transition, NeedCategory, NeedSource, NeedStatus, Urgency};
use crate::domain::parse_or;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::with_transaction;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_need)
        .service(list_needs)
        .service(get_need)
        .service(update_need);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Need {
    pub id: Uuid,
    pub person_id: Uuid,
    /// The person's region when the need was recorded.
    pub region_code: String,
    pub category: NeedCategory,
    pub description: String,
    /// Amount requested in fen (分).
    pub amount_requested_fen: Option<i64>,
    pub urgency: Urgency,
    pub source: NeedSource,
    pub status: NeedStatus,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<NeedRow> for Need {
    fn from(r: NeedRow) -> Self {
        Self {
            id: r.id,
            person_id: r.person_id,
            region_code: r.region_code,
            category: parse_or(&r.category, NeedCategory::Living),
            description: r.description,
            amount_requested_fen: r.amount_requested_fen,
            urgency: parse_or(&r.urgency, Urgency::Normal),
            source: parse_or(&r.source, NeedSource::Screening),
            status: parse_or(&r.status, NeedStatus::Closed),
            recorded_by_organization_id: r.recorded_by_organization_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNeed {
    pub person_id: Uuid,
    pub category: NeedCategory,
    #[validate(length(min = 1, max = 2000))]
    #[schema(example = "Chemotherapy costs after medical aid: 30,000 yuan outstanding")]
    pub description: String,
    /// Non-negative integer fen.
    #[validate(range(min = 0))]
    #[schema(example = 3000000)]
    pub amount_requested_fen: Option<i64>,
    pub urgency: Urgency,
    pub source: NeedSource,
}

/// Record a need (登记救助需求). Civil-affairs staff of the person's region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateNeed,
    responses(
        (status = 201, description = "Recorded (status `open`)", body = Need),
        (status = 404, description = "No such person within the caller's region"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/needs")]
async fn create_need(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let body: CreateNeed = body.valid()?;
    let row = with_transaction!(&state.pool, async move |conn| {
        let person = load_person(conn, body.person_id).await?;
        require_staff(&caller, &person)?;
        let row = needs::insert(
            conn,
            &NewNeed {
                id: Uuid::now_v7(),
                person_id: person.id,
                region_code: person.region_code.clone(),
                category: body.category.as_str().to_owned(),
                description: body.description.trim().to_owned(),
                amount_requested_fen: body.amount_requested_fen,
                urgency: body.urgency.as_str().to_owned(),
                source: body.source.as_str().to_owned(),
                recorded_by_organization_id: caller.organization_id,
            },
        )
        .await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "need.create", "need", row.id)
                .details(json!({"person_id": row.person_id, "category": row.category, "urgency": row.urgency})),
        )
        .await?;
        Ok(row)
    })?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/needs/{}", row.id)))
        .json(Need::from(row)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NeedQuery {
    /// Region code prefix; civil-affairs staff are limited to their own region.
    pub region: Option<String>,
    pub category: Option<NeedCategory>,
    pub urgency: Option<Urgency>,
    pub status: Option<NeedStatus>,
    pub person_id: Option<Uuid>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List needs (需求列表). Civil-affairs staff (their region) and auditors.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(NeedQuery),
    responses(
        (status = 200, description = "A page of needs", body = Page<Need>),
        (status = 400, description = "Bad query parameter"),
    )
)]
#[get("/needs")]
async fn list_needs(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<NeedQuery>,
) -> Result<web::Json<Page<Need>>, ApiError> {
    let prefix = list_scope(&caller, q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let mut conn = state.pool.get().await?;
    let rows = needs::list(
        &mut conn,
        &NeedFilter {
            region_prefix: prefix,
            category: q.category.map(|v| v.as_str().to_owned()),
            urgency: q.urgency.map(|v| v.as_str().to_owned()),
            status: q.status.map(|v| v.as_str().to_owned()),
            person_id: q.person_id,
            after: q.cursor,
            limit: limit + 1,
        },
    )
    .await?;
    drop(conn);
    let details = json!({"region": q.region, "category": q.category, "status": q.status, "person_id": q.person_id});
    record_supervision_read(
        &state.pool,
        &caller,
        &meta,
        "need.list",
        "need",
        None,
        details,
    )
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        Need::from,
    )))
}

async fn load_need(
    conn: &mut crate::db::Conn,
    caller: &Caller,
    id: Uuid,
) -> Result<NeedRow, ApiError> {
    let need = needs::find(conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("need"))?;
    let visible = caller.has(Role::Auditor)
        || (caller.has(Role::CivilAffairs) && caller.covers_region(&need.region_code));
    if visible {
        Ok(need)
    } else if caller.has(Role::CivilAffairs) {
        Err(ApiError::not_found("need"))
    } else {
        Err(ApiError::forbidden(
            "this needs one of the roles: civil_affairs, auditor",
        ))
    }
}

/// One need. Civil-affairs staff of its region and auditors.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Need id")),
    responses(
        (status = 200, description = "The need", body = Need),
        (status = 404, description = "No such need within the caller's region"),
    )
)]
#[get("/needs/{id}")]
async fn get_need(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Need>, ApiError> {
    let mut conn = state.pool.get().await?;
    let need = load_need(&mut conn, &caller, id.into_inner()).await?;
    drop(conn);
    record_supervision_read(
        &state.pool,
        &caller,
        &meta,
        "need.read",
        "need",
        Some(need.id),
        json!({}),
    )
    .await?;
    Ok(web::Json(need.into()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNeed {
    /// open → referred → met | closed; open → closed; referred → open (referral fell through).
    pub status: NeedStatus,
    /// Why (kept in the audit trail).
    #[validate(length(max = 500))]
    pub note: Option<String>,
}

/// Move a need to another status (更新需求状态). Civil-affairs staff of its region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Need id")),
    request_body = UpdateNeed,
    responses(
        (status = 200, description = "Updated", body = Need),
        (status = 404, description = "No such need within the caller's region"),
        (status = 409, description = "Illegal transition (names both states), or changed concurrently"),
    )
)]
#[patch("/needs/{id}")]
async fn update_need(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<web::Json<Need>, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let body: UpdateNeed = body.valid()?;
    let need_id = id.into_inner();
    let row = with_transaction!(&state.pool, async move |conn| {
        let need = load_need(conn, &caller, need_id).await?;
        let from: NeedStatus = parse_or(&need.status, NeedStatus::Closed);
        let to = body.status;
        if !can_transition(from, to) {
            return Err(ApiError::conflict(
                "illegal_transition",
                format!("a need cannot go from {from} to {to}"),
            )
            .with_extra("from", from.as_str())
            .with_extra("to", to.as_str()));
        }
        // Conditional on the status read: a concurrent change makes this match nothing.
        let row = needs::set_status(conn, need_id, from.as_str(), to.as_str())
            .await?
            .ok_or_else(|| {
                ApiError::conflict(
                    "concurrent_update",
                    "the need changed meanwhile; reload and retry",
                )
            })?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "need.status", "need", need_id)
                .reason(body.note.clone())
                .details(json!({"from": from.as_str(), "to": to.as_str()})),
        )
        .await?;
        Ok(row)
    })?;
    Ok(web::Json(row.into()))
}
