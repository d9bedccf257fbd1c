//! Public disclosure (信息公开) of projects and funds, and the deadlines that are due or late.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, check_not_blank, check_region_param, check_year};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::disclosures::DisclosureRow;
use crate::domain::aid::{hours_from_minutes, minutes_from_hours};
use crate::domain::disclosure::{DisclosureKind, Obligation};
use crate::error::{ApiError, FieldError};
use crate::service::disclosures::{self, StatementInput, Subject};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(disclose_project)
        .service(project_disclosures)
        .service(disclose_fund)
        .service(fund_disclosures)
        .service(disclosures_due);
}

/// The figures a statement reports (all optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Figures {
    #[validate(range(min = 0, max = 10_000_000_000_000i64))]
    pub funds_raised_fen: Option<i64>,
    #[validate(range(min = 0, max = 10_000_000_000_000i64))]
    pub funds_used_fen: Option<i64>,
    #[validate(range(min = 0, max = 100_000_000))]
    pub beneficiaries: Option<i32>,
    pub service_hours: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Disclosure {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Option<Uuid>,
    pub fund_id: Option<Uuid>,
    pub kind: DisclosureKind,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub text: String,
    pub figures: Figures,
    /// The statement this one corrects (kind `correction`).
    pub corrects_id: Option<Uuid>,
    /// 更正说明: what the correction corrects.
    pub correction_note: Option<String>,
    /// Later statements that correct this one.
    pub corrected_by: Vec<Uuid>,
    pub published_at: DateTime<Utc>,
}

impl Disclosure {
    pub fn of(r: DisclosureRow, all: &[DisclosureRow]) -> Self {
        Self {
            corrected_by: all
                .iter()
                .filter(|c| c.corrects_id == Some(r.id))
                .map(|c| c.id)
                .collect(),
            id: r.id,
            organization_id: r.organization_id,
            project_id: r.project_id,
            fund_id: r.fund_id,
            kind: r.kind,
            period_start: r.period_start,
            period_end: r.period_end,
            text: r.body,
            figures: Figures {
                funds_raised_fen: r.funds_raised_fen,
                funds_used_fen: r.funds_used_fen,
                beneficiaries: r.beneficiaries,
                service_hours: r.service_minutes.map(hours_from_minutes),
            },
            corrects_id: r.corrects_id,
            correction_note: r.correction_note,
            published_at: r.published_at,
        }
    }

    /// Every statement of a subject, each with the corrections made to it.
    pub fn all(rows: Vec<DisclosureRow>) -> Vec<Self> {
        rows.iter().cloned().map(|r| Self::of(r, &rows)).collect()
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "progress",
    "period_start": "2026-01-01",
    "period_end": "2026-03-31",
    "text": "第一季度共资助 12 人，支出 18 万元。",
    "figures": {"funds_raised_fen": 50000000, "funds_used_fen": 18000000, "beneficiaries": 12}
}))]
pub struct CreateDisclosure {
    pub kind: DisclosureKind,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The statement (no personal data).
    #[validate(length(min = 1, max = 20000))]
    pub text: String,
    #[serde(default)]
    #[validate(nested)]
    pub figures: Figures,
    /// For a `correction`: the statement it corrects.
    pub corrects_id: Option<Uuid>,
    /// For a `correction`: what it corrects (更正说明).
    #[validate(length(max = 2000))]
    pub correction_note: Option<String>,
}

fn input(body: JsonBody) -> Result<StatementInput, ApiError> {
    let (b, mut errors) = body.parse::<CreateDisclosure>()?;
    check_not_blank("text", Some(&b.text), &mut errors);
    check_free_text("text", Some(&b.text), &mut errors);
    check_free_text("correction_note", b.correction_note.as_deref(), &mut errors);
    check_year("period_start", Some(b.period_start), &mut errors);
    check_year("period_end", Some(b.period_end), &mut errors);
    if b.period_end < b.period_start {
        errors.push(FieldError::new(
            "period_end",
            "before_start",
            "the period ends before it starts",
        ));
    }
    let minutes = match b.figures.service_hours {
        Some(0.0) => Some(0),
        Some(h) => match minutes_from_hours(h) {
            Some(m) => Some(i64::from(m)),
            None => {
                errors.push(FieldError::new(
                    "figures.service_hours",
                    "range",
                    "hours are between 0 and 10000",
                ));
                None
            }
        },
        None => None,
    };
    ApiError::check(errors)?;
    Ok(StatementInput {
        kind: b.kind,
        period_start: b.period_start,
        period_end: b.period_end,
        body: b.text,
        funds_raised_fen: b.figures.funds_raised_fen,
        funds_used_fen: b.figures.funds_used_fen,
        beneficiaries: b.figures.beneficiaries,
        service_minutes: minutes,
        corrects_id: b.corrects_id,
        correction_note: b.correction_note,
    })
}

fn created(row: DisclosureRow) -> HttpResponse {
    let location = match (row.project_id, row.fund_id) {
        (Some(p), _) => format!("/api/v1/projects/{p}/disclosures"),
        (_, Some(f)) => format!("/api/v1/funds/{f}/disclosures"),
        _ => String::new(),
    };
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(Disclosure::of(row, &[]))
}

/// Publish a statement about a project (项目信息公开). The owning charity; never changed
/// afterwards: a correction is a new statement naming the old one, with a correction note.
#[utoipa::path(
    tag = "disclosure",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    request_body = CreateDisclosure,
    responses(
        (status = 201, description = "Published", body = Disclosure),
        (status = 404, description = "No such project"),
        (status = 409, description = "The project is a draft"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/projects/{id}/disclosures")]
async fn disclose_project(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let input = input(body)?;
    let row = disclosures::publish(
        &state.ctx,
        &caller,
        Subject::Project(id.into_inner()),
        input,
    )
    .await?;
    Ok(created(row))
}

/// A project's statements, oldest first, corrections linked both ways.
#[utoipa::path(
    tag = "disclosure",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "The statements", body = Vec<Disclosure>),
        (status = 404, description = "No such project"),
    )
)]
#[get("/projects/{id}/disclosures")]
async fn project_disclosures(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<Disclosure>>, ApiError> {
    let rows = disclosures::list(&state.ctx, &caller, Subject::Project(id.into_inner())).await?;
    Ok(web::Json(Disclosure::all(rows)))
}

/// Publish a statement about a fund (基金信息公开). The owning charity.
#[utoipa::path(
    tag = "disclosure",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Fund id")),
    request_body = CreateDisclosure,
    responses(
        (status = 201, description = "Published", body = Disclosure),
        (status = 404, description = "No such fund"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/funds/{id}/disclosures")]
async fn disclose_fund(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let input = input(body)?;
    let row =
        disclosures::publish(&state.ctx, &caller, Subject::Fund(id.into_inner()), input).await?;
    Ok(created(row))
}

/// A fund's statements, oldest first, corrections linked both ways.
#[utoipa::path(
    tag = "disclosure",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Fund id")),
    responses(
        (status = 200, description = "The statements", body = Vec<Disclosure>),
        (status = 404, description = "No such fund"),
    )
)]
#[get("/funds/{id}/disclosures")]
async fn fund_disclosures(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<Disclosure>>, ApiError> {
    let rows = disclosures::list(&state.ctx, &caller, Subject::Fund(id.into_inner())).await?;
    Ok(web::Json(Disclosure::all(rows)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// The day to judge (Asia/Shanghai date); today by default.
    pub as_of: Option<NaiveDate>,
    /// Region code prefix of the charities (civil-affairs staff and auditors).
    pub region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureDue {
    pub organization_id: Uuid,
    pub organization_name: String,
    pub project_id: Uuid,
    pub project_name: String,
    pub obligation: Obligation,
    pub due_on: NaiveDate,
    /// `due` (within 30 days) or `late`.
    pub status: String,
    /// Days past `due_on`; 0 while not late.
    pub days_late: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DueList {
    pub as_of: NaiveDate,
    /// Latest first.
    pub items: Vec<DisclosureDue>,
}

/// Disclosures due or late (信息公开提醒): a project over six months every three months and a
/// close-out within three months of its end; without public-fundraising qualification, the prior
/// year's projects by 31 May. Charities: their own; civil-affairs staff: charities of their
/// region; auditors: all.
#[utoipa::path(
    tag = "disclosure",
    security(("bearer" = []), ("oauth2" = [])),
    params(DueQuery),
    responses((status = 200, description = "What is due or late", body = DueList))
)]
#[get("/disclosures/due")]
async fn disclosures_due(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<DueQuery>,
) -> Result<web::Json<DueList>, ApiError> {
    check_region_param(q.region.as_deref())?;
    if let Some(d) = q.as_of {
        let mut errors = Vec::new();
        check_year("as_of", Some(d), &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::bad_parameter(
                "invalid_query",
                "as_of",
                "out_of_range",
                errors.remove(0).message,
            ));
        }
    }
    let (as_of, rows) =
        disclosures::due_list(&state.ctx, &caller, q.region.as_deref(), q.as_of).await?;
    Ok(web::Json(DueList {
        as_of,
        items: rows
            .into_iter()
            .map(|r| DisclosureDue {
                organization_id: r.duty.organization_id,
                organization_name: r.duty.organization_name,
                project_id: r.duty.project_id,
                project_name: r.duty.project_name,
                obligation: r.due.obligation,
                due_on: r.due.due_on,
                status: if r.due.days_late > 0 { "late" } else { "due" }.to_owned(),
                days_late: r.due.days_late,
            })
            .collect(),
    }))
}
