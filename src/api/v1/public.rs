//! Public endpoints (信息公开), no token: published projects with their statements and figures,
//! organisations with their funds, and totals. Cacheable (`Cache-Control: public`, an `ETag` over
//! the body, `If-None-Match` → 304) and open to every origin for GET. No personal data.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::disclosures::Disclosure;
use super::projects::Eligibility;
use super::{check_region_param, Page};
use crate::api::extract::QueryParams;
use crate::api::AppState;
use crate::db::funds::FundRow;
use crate::db::projects::{ProjectFilter, ProjectRow};
use crate::domain::aid::{hours_from_minutes, AidRecordForm, FundStatus};
use crate::domain::need::NeedCategory;
use crate::domain::organization::OrganizationKind;
use crate::domain::project::{AidForm, ProjectStatus};
use crate::error::ApiError;
use crate::service::public::{self, Figures};

/// How long shared caches may keep a public answer.
const MAX_AGE_SECONDS: u32 = 60;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(public_projects)
        .service(public_project)
        .service(public_organization)
        .service(public_stats);
}

/// A cacheable answer: an ETag over the body; 304 when the client holds this very body.
fn cacheable<T: Serialize>(req: &HttpRequest, body: &T) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..16]));
    let cache = format!("public, max-age={MAX_AGE_SECONDS}");
    let held = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if held {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Language"));
    if held {
        res.finish()
    } else {
        res.content_type("application/json").body(bytes)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProject {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub categories: Vec<NeedCategory>,
    pub aid_form: AidForm,
    pub eligibility: Eligibility,
    pub per_person_cap_fen: Option<i64>,
    pub capacity: i32,
    pub places_left: i32,
    pub budget_fen: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub procedures: String,
    pub standards: String,
    pub contact: String,
    pub status: ProjectStatus,
    pub published_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// People helped, from the aid records.
    pub beneficiaries: i64,
    /// Money and goods given, from the aid records (fen).
    pub funds_used_fen: i64,
    pub service_hours: f64,
    /// The project's statements (on the single project only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosures: Option<Vec<Disclosure>>,
}

impl PublicProject {
    fn of(p: ProjectRow, f: Figures) -> Self {
        Self {
            id: p.id,
            organization_id: p.organization_id,
            name: p.name,
            categories: p.categories,
            aid_form: p.aid_form,
            eligibility: Eligibility {
                region_prefixes: p.region_prefixes,
                tiers: p.tiers,
                relapse_monitoring: p.relapse_monitoring,
                circumstances: p.circumstances,
                min_age: p.min_age,
                max_age: p.max_age,
            },
            per_person_cap_fen: p.per_person_cap_fen,
            capacity: p.capacity,
            places_left: p.places_left,
            budget_fen: p.budget_fen,
            starts_on: p.starts_on,
            ends_on: p.ends_on,
            procedures: p.procedures,
            standards: p.standards,
            contact: p.contact,
            status: p.status,
            published_at: p.published_at,
            closed_at: p.closed_at,
            beneficiaries: f.beneficiaries,
            funds_used_fen: f.funds_used_fen,
            service_hours: hours_from_minutes(f.service_minutes),
            disclosures: None,
        }
    }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicProjectQuery {
    /// Region code prefix: projects serving any part of it.
    pub region: Option<String>,
    pub category: Option<NeedCategory>,
    /// `published` or `closed` (drafts are never public).
    pub status: Option<ProjectStatus>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// Published and closed projects (公开项目), with what aid records say of them. No token.
#[utoipa::path(
    tag = "public",
    params(PublicProjectQuery),
    responses(
        (status = 200, description = "A page of projects", body = Page<PublicProject>),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
#[get("/public/projects")]
async fn public_projects(
    req: HttpRequest,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<PublicProjectQuery>,
) -> Result<HttpResponse, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let filter = ProjectFilter {
        region_prefix: q.region,
        category: q.category,
        status: q.status,
        after: q.cursor,
        limit: limit + 1,
        ..ProjectFilter::default()
    };
    let rows = public::projects(&state.ctx, filter).await?;
    let page = Page::from_rows(
        rows,
        limit,
        |(p, _)| p.id.to_string(),
        |(p, f)| PublicProject::of(p, f),
    );
    Ok(cacheable(&req, &page))
}

/// One published or closed project with its statements (corrections linked), beneficiaries,
/// funds used and service hours. No token.
#[utoipa::path(
    tag = "public",
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = PublicProject),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such published project"),
    )
)]
#[get("/public/projects/{id}")]
async fn public_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (p, f, statements) = public::project(&state.ctx, id.into_inner()).await?;
    let mut view = PublicProject::of(p, f);
    view.disclosures = Some(Disclosure::all(statements));
    Ok(cacheable(&req, &view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicFund {
    pub id: Uuid,
    pub name: String,
    pub purpose: String,
    pub status: FundStatus,
    pub balance_fen: i64,
}

impl From<FundRow> for PublicFund {
    fn from(f: FundRow) -> Self {
        Self {
            id: f.id,
            name: f.name,
            purpose: f.purpose,
            status: f.status,
            balance_fen: f.balance_fen,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProjectRef {
    pub id: Uuid,
    pub name: String,
    pub status: ProjectStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicOrganization {
    pub id: Uuid,
    pub kind: OrganizationKind,
    pub name: String,
    pub uscc: Option<String>,
    pub region_code: String,
    /// Holds public-fundraising qualification (公开募捐资格).
    pub public_fundraising: bool,
    pub funds: Vec<PublicFund>,
    pub projects: Vec<PublicProjectRef>,
}

/// An organisation's public record with its funds and balances (donors are not shown) and its
/// published projects. No token.
#[utoipa::path(
    tag = "public",
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The organisation", body = PublicOrganization),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such active organisation"),
    )
)]
#[get("/public/organizations/{id}")]
async fn public_organization(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (o, funds, projects) = public::organization(&state.ctx, id.into_inner()).await?;
    let view = PublicOrganization {
        id: o.id,
        kind: o.kind,
        name: o.name,
        uscc: o.uscc,
        region_code: o.region_code,
        public_fundraising: o.public_fundraising,
        funds: funds.into_iter().map(Into::into).collect(),
        projects: projects
            .into_iter()
            .map(|p| PublicProjectRef {
                id: p.id,
                name: p.name,
                status: p.status,
            })
            .collect(),
    };
    Ok(cacheable(&req, &view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AidTotalRow {
    pub category: NeedCategory,
    pub form: AidRecordForm,
    pub records: i64,
    pub people: i64,
    pub value_fen: i64,
    pub service_hours: f64,
}

/// Typed rows from the totals query (an unknown stored code is an error, never a default).
pub fn total_rows(rows: Vec<crate::db::aid::AidTotal>) -> Result<Vec<AidTotalRow>, ApiError> {
    rows.into_iter()
        .map(|r| {
            Ok(AidTotalRow {
                category: r
                    .category
                    .parse()
                    .map_err(|_| ApiError::internal(format!("unknown category {}", r.category)))?,
                form: r
                    .form
                    .parse()
                    .map_err(|_| ApiError::internal(format!("unknown aid form {}", r.form)))?,
                records: r.records,
                people: r.people,
                value_fen: r.value_fen,
                service_hours: hours_from_minutes(r.service_minutes),
            })
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicStats {
    /// Distinct people helped by charities; absent when fewer than 5 (no figure points at a
    /// person).
    pub people_helped: Option<i64>,
    /// By need category and form of aid; rows of fewer than 5 people are left out.
    pub by_category: Vec<AidTotalRow>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicStatsQuery {
    /// Region code prefix of the people helped, down to the county (6 digits); the whole
    /// province by default.
    pub region: Option<String>,
}

/// Charity aid totals (公开统计), province-wide or for a region. No token.
#[utoipa::path(
    tag = "public",
    params(PublicStatsQuery),
    responses(
        (status = 200, description = "Totals", body = PublicStats),
        (status = 304, description = "Not modified (If-None-Match)"),
    )
)]
#[get("/public/stats")]
async fn public_stats(
    req: HttpRequest,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<PublicStatsQuery>,
) -> Result<HttpResponse, ApiError> {
    check_region_param(q.region.as_deref())?;
    let (people_helped, rows) =
        public::totals(&state.ctx, q.region.as_deref().unwrap_or("")).await?;
    let view = PublicStats {
        people_helped,
        by_category: total_rows(rows)?,
    };
    Ok(cacheable(&req, &view))
}
