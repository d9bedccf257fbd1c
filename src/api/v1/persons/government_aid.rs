//! Government aid a person received (政府救助记录): recording and reading.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::ReadQuery;
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::v1::check_year;
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::persons::GovernmentAidRow;
use crate::domain::person::Programme;
use crate::domain::region::RegionCode;
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::service::persons::{self, NewAid};

/// A government aid record (政府救助记录).
#[derive(Debug, Serialize, ToSchema)]
pub struct GovernmentAid {
    pub id: Uuid,
    pub person_id: Uuid,
    pub programme: Programme,
    /// Amount in fen (分).
    pub amount_fen: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub source_system: String,
    pub certifying_region: String,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<GovernmentAidRow> for GovernmentAid {
    fn from(r: GovernmentAidRow) -> Self {
        Self {
            id: r.id,
            person_id: r.person_id,
            programme: r.programme,
            amount_fen: r.amount_fen,
            period_start: r.period_start,
            period_end: r.period_end,
            source_system: r.source_system,
            certifying_region: r.certifying_region,
            recorded_by_organization_id: r.recorded_by_organization_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "programme": "subsistence_allowance",
    "amount_fen": 68000,
    "period_start": "2026-01-01",
    "period_end": "2026-12-31",
    "source_system": "dibao-system",
    "certifying_region": "230102001"
}))]
pub struct CreateGovernmentAid {
    pub programme: Programme,
    /// Non-negative integer fen.
    #[validate(range(min = 0))]
    #[schema(example = 68000, minimum = 0)]
    pub amount_fen: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The system the record comes from (e.g. the low-income monitoring platform).
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "dibao-system")]
    pub source_system: String,
    #[schema(example = "230102001")]
    pub certifying_region: String,
}

/// The aid's fields checked (errors named under `prefix`), or `None` with the errors pushed.
pub(crate) fn check_aid(
    body: CreateGovernmentAid,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Option<NewAid> {
    check_year(
        &format!("{prefix}period_start"),
        Some(body.period_start),
        errors,
    );
    check_year(
        &format!("{prefix}period_end"),
        Some(body.period_end),
        errors,
    );
    if body.period_end < body.period_start {
        errors.push(FieldError::new(
            format!("{prefix}period_end"),
            "before_start",
            "period_end is before period_start",
        ));
    }
    let region = RegionCode::parse(&body.certifying_region)
        .map_err(|e| {
            errors.push(FieldError::new(
                format!("{prefix}certifying_region"),
                "invalid_region_code",
                e.to_string(),
            ))
        })
        .ok()?;
    Some(NewAid {
        programme: body.programme,
        amount_fen: body.amount_fen,
        period_start: body.period_start,
        period_end: body.period_end,
        source_system: body.source_system,
        certifying_region: region.into_string(),
    })
}

/// Record government aid a person received (录入政府救助). Civil-affairs staff of the person's region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = CreateGovernmentAid,
    responses(
        (status = 201, description = "Recorded", body = GovernmentAid),
        (status = 404, description = "No such person within the caller's region"),
        (status = 422, description = "Invalid field (amount, period, region)"),
    )
)]
#[post("/persons/{id}/government-aid")]
pub(super) async fn create_government_aid(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<CreateGovernmentAid>()?;
    let aid = check_aid(body, "", &mut errors);
    let Some(aid) = aid.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let row = persons::record_government_aid(&state.ctx, &caller, id.into_inner(), aid).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/persons/{}/government-aid", row.person_id),
        ))
        .json(GovernmentAid::from(row)))
}

/// Government aid a person received. Staff of the region, auditors (audited), and charities
/// whose consent covers `aid_history` (audited).
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id"), ReadQuery),
    responses(
        (status = 200, description = "Records, newest period first", body = Vec<GovernmentAid>),
        (status = 422, description = "A consent recipient named no `purpose`"),
        (status = 404, description = "No such person within the caller's reach"),
    )
)]
#[get("/persons/{id}/government-aid")]
pub(super) async fn list_government_aid(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<web::Json<Vec<GovernmentAid>>, ApiError> {
    let rows = persons::government_aid(&state.ctx, &caller, id.into_inner(), q.purpose).await?;
    Ok(web::Json(
        rows.into_iter().map(GovernmentAid::from).collect(),
    ))
}
