//! Needs (救助需求): what a person needs, how urgently, and where it stands.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, check_region_param, versioned, Page};
use crate::api::extract::{JsonBody, Precondition, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::needs::{NeedFilter, NeedRow};
use crate::domain::need::{NeedCategory, NeedSource, NeedStatus, Urgency};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::needs::{self, NewNeedInput};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_need)
        .service(list_needs)
        .service(get_need)
        .service(update_need)
        .service(need_matches);
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
            category: r.category,
            description: r.description,
            amount_requested_fen: r.amount_requested_fen,
            urgency: r.urgency,
            source: r.source,
            status: r.status,
            recorded_by_organization_id: r.recorded_by_organization_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "person_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f00",
    "category": "medical",
    "description": "医疗救助后化疗费用仍有 3 万元缺口",
    "amount_requested_fen": 3000000,
    "urgency": "urgent",
    "source": "screening"
}))]
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
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<CreateNeed>()?;
    check_free_text("description", Some(&body.description), &mut errors);
    crate::api::v1::check_not_blank("description", Some(&body.description), &mut errors);
    ApiError::check(errors)?;
    let input = NewNeedInput {
        person_id: body.person_id,
        category: body.category,
        description: body.description,
        amount_requested_fen: body.amount_requested_fen,
        urgency: body.urgency,
        source: body.source,
    };
    let row = needs::create(&state.ctx, &caller, input).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/needs/{}", row.id)));
    Ok(versioned(res, row.version, &Need::from(row.clone())))
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
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<NeedQuery>,
) -> Result<web::Json<Page<Need>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let filter = NeedFilter {
        region_prefix: String::new(),
        category: q.category,
        urgency: q.urgency,
        status: q.status,
        person_id: q.person_id,
        after: q.cursor,
        limit: limit + 1,
    };
    let rows = needs::list(&state.ctx, &caller, q.region.as_deref(), filter).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        Need::from,
    )))
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
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let need = needs::get(&state.ctx, &caller, id.into_inner()).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        need.version,
        &Need::from(need.clone()),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "closed", "note": "已由临时救助解决"}))]
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
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Precondition(if_match): Precondition,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<UpdateNeed>()?;
    check_free_text("note", body.note.as_deref(), &mut errors);
    ApiError::check(errors)?;
    let row = needs::change_status(
        &state.ctx,
        &caller,
        id.into_inner(),
        body.status,
        body.note,
        if_match,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Need::from(row.clone()),
    ))
}

/// A project as matching shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedProject {
    pub id: Uuid,
    pub name: String,
    pub organization_id: Uuid,
    pub categories: Vec<NeedCategory>,
    pub aid_form: crate::domain::project::AidForm,
    pub ends_on: chrono::NaiveDate,
}

/// One project judged for the need: why it fits, or which rules failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectMatch {
    pub project: MatchedProject,
    pub reasons: Vec<crate::domain::project::MatchReason>,
    /// Empty for a match; the rules that failed for a near miss.
    pub failed: Vec<crate::domain::project::MatchRule>,
    /// Higher is a closer fit (region precision, tier, circumstances, age).
    pub score: i32,
    pub places_left: i32,
    pub days_to_end: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NeedMatches {
    pub need_id: Uuid,
    /// Projects that fit, best first.
    pub matches: Vec<ProjectMatch>,
    /// With `include_near=true`: projects of the category and region that miss other rules.
    pub near_misses: Vec<ProjectMatch>,
}

fn project_match(
    (p, j): (
        crate::db::projects::ProjectRow,
        crate::domain::project::Judgement,
    ),
) -> ProjectMatch {
    ProjectMatch {
        project: MatchedProject {
            id: p.id,
            name: p.name,
            organization_id: p.organization_id,
            categories: p.categories,
            aid_form: p.aid_form,
            ends_on: p.ends_on,
        },
        reasons: j.reasons,
        failed: j.failed,
        score: j.score,
        places_left: j.places_left,
        days_to_end: j.days_to_end,
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MatchQuery {
    /// Also list near misses with the rules they fail.
    pub include_near: Option<bool>,
}

/// Projects for a need (供需对接): published projects with places left whose eligibility fits the
/// person and the need's category, ranked, each with its reasons. Civil-affairs staff of the
/// need's region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Need id"), MatchQuery),
    responses(
        (status = 200, description = "Matches, best first", body = NeedMatches),
        (status = 404, description = "No such need within the caller's region"),
    )
)]
#[get("/needs/{id}/matches")]
async fn need_matches(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<MatchQuery>,
) -> Result<web::Json<NeedMatches>, ApiError> {
    let m = crate::service::matching::for_need(
        &state.ctx,
        &caller,
        id.into_inner(),
        q.include_near.unwrap_or(false),
    )
    .await?;
    Ok(web::Json(NeedMatches {
        need_id: m.need_id,
        matches: m.matches.into_iter().map(project_match).collect(),
        near_misses: m.near_misses.into_iter().map(project_match).collect(),
    }))
}
