//! Charity projects (慈善项目): what charities offer, to whom, with how many places and how much
//! money, and the procedures and standards the public is told.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, check_not_blank, check_region_param, check_year, versioned, Page};
use crate::api::extract::{JsonBody, Precondition, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::projects::{ProjectFields, ProjectFilter, ProjectRow, VersionRow};
use crate::domain::need::NeedCategory;
use crate::domain::person::{Circumstance, Tier};
use crate::domain::project::{AidForm, ProjectScope, ProjectStatus};
use crate::domain::region::RegionCode;
use crate::error::{ApiError, FieldError};
use crate::service::projects::{self, ProjectChanges};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_project)
        .service(list_projects)
        .service(get_project)
        .service(update_project)
        .service(publish_project)
        .service(close_project)
        .service(project_versions)
        .service(project_matches);
}

/// Who a project is for; empty lists and absent bounds set no condition.
#[derive(Debug, Serialize, ToSchema)]
pub struct Eligibility {
    /// Region-code prefixes the person must live under (at least one).
    pub region_prefixes: Vec<String>,
    /// Any of these low-income tiers…
    pub tiers: Vec<Tier>,
    /// …or, when true, a person under relapse monitoring (防止返贫监测对象).
    pub relapse_monitoring: bool,
    /// Any of these circumstances.
    pub circumstances: Vec<Circumstance>,
    pub min_age: Option<i32>,
    pub max_age: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Project {
    pub id: Uuid,
    /// The charity that runs it.
    pub organization_id: Uuid,
    pub name: String,
    pub categories: Vec<NeedCategory>,
    pub aid_form: AidForm,
    pub eligibility: Eligibility,
    /// Most one person may receive, in fen.
    pub per_person_cap_fen: Option<i64>,
    /// Places in total.
    pub capacity: i32,
    /// Places not yet taken by aid records (and, later, accepted referrals).
    pub places_left: i32,
    pub budget_fen: i64,
    pub spent_fen: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// 工作流程 (disclosed).
    pub procedures: String,
    /// 资助标准 (disclosed).
    pub standards: String,
    /// How to reach the project (disclosed).
    pub contact: String,
    pub status: ProjectStatus,
    pub published_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            name: r.name,
            categories: r.categories,
            aid_form: r.aid_form,
            eligibility: Eligibility {
                region_prefixes: r.region_prefixes,
                tiers: r.tiers,
                relapse_monitoring: r.relapse_monitoring,
                circumstances: r.circumstances,
                min_age: r.min_age,
                max_age: r.max_age,
            },
            per_person_cap_fen: r.per_person_cap_fen,
            capacity: r.capacity,
            places_left: r.places_left,
            budget_fen: r.budget_fen,
            spent_fen: r.spent_fen,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            procedures: r.procedures,
            standards: r.standards,
            contact: r.contact,
            status: r.status,
            published_at: r.published_at,
            closed_at: r.closed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EligibilityBody {
    #[validate(length(min = 1, max = 50))]
    #[schema(example = json!(["2301"]))]
    pub region_prefixes: Vec<String>,
    #[serde(default)]
    #[validate(length(max = 5))]
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub relapse_monitoring: bool,
    #[serde(default)]
    #[validate(length(max = 9))]
    pub circumstances: Vec<Circumstance>,
    #[validate(range(min = 0, max = 150))]
    pub min_age: Option<i32>,
    #[validate(range(min = 0, max = 150))]
    pub max_age: Option<i32>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "大病患者医疗费用补助",
    "categories": ["medical"],
    "aid_form": "material",
    "eligibility": {"region_prefixes": ["2301"], "tiers": ["subsistence_allowance", "marginal_low_income"],
                    "circumstances": ["major_illness"], "min_age": 18},
    "per_person_cap_fen": 2000000,
    "capacity": 50,
    "budget_fen": 50000000,
    "starts_on": "2026-01-01",
    "ends_on": "2026-12-31",
    "procedures": "经民政部门转介或本人申请，项目组三个工作日内审核并告知结果。",
    "standards": "按自付医疗费用的 50% 补助，每人每年最高 2 万元。",
    "contact": "0451-84000000"
}))]
pub struct CreateProject {
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    #[validate(length(min = 1, max = 10))]
    pub categories: Vec<NeedCategory>,
    pub aid_form: AidForm,
    #[validate(nested)]
    pub eligibility: EligibilityBody,
    #[validate(range(min = 1, max = 10_000_000_000i64))]
    pub per_person_cap_fen: Option<i64>,
    #[validate(range(min = 0, max = 1_000_000))]
    pub capacity: i32,
    #[validate(range(min = 0, max = 10_000_000_000_000i64))]
    pub budget_fen: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    #[serde(default)]
    #[validate(length(max = 20000))]
    pub procedures: String,
    #[serde(default)]
    #[validate(length(max = 20000))]
    pub standards: String,
    #[serde(default)]
    #[validate(length(max = 500))]
    pub contact: String,
}

/// Region prefixes in their normal form (`230100` is `2301`), each checked and named.
fn region_prefixes(list: &[String], field: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        match RegionCode::parse(raw) {
            Ok(code) if !out.contains(&code.as_str().to_owned()) => out.push(code.into_string()),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "invalid_region_code",
                e.to_string(),
            )),
        }
    }
    out
}

fn dedup<T: Ord + Copy>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// The public texts must not carry personal identifiers (they are shown to anyone).
fn check_texts(texts: &[(&str, Option<&str>)], errors: &mut Vec<FieldError>) {
    for (field, text) in texts {
        check_free_text(field, *text, errors);
    }
}

/// Create a project (登记慈善项目), as a draft. Charity staff, for their own charity.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created as a draft", body = Project),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/projects")]
async fn create_project(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateProject>()?;
    check_not_blank("name", Some(&b.name), &mut errors);
    check_texts(
        &[
            ("name", Some(&b.name)),
            ("procedures", Some(&b.procedures)),
            ("standards", Some(&b.standards)),
        ],
        &mut errors,
    );
    check_year("starts_on", Some(b.starts_on), &mut errors);
    check_year("ends_on", Some(b.ends_on), &mut errors);
    let prefixes = region_prefixes(
        &b.eligibility.region_prefixes,
        "eligibility.region_prefixes",
        &mut errors,
    );
    ApiError::check(errors)?;
    let fields = ProjectFields {
        name: b.name.trim().to_owned(),
        categories: dedup(b.categories),
        aid_form: b.aid_form,
        region_prefixes: prefixes,
        tiers: dedup(b.eligibility.tiers),
        relapse_monitoring: b.eligibility.relapse_monitoring,
        circumstances: dedup(b.eligibility.circumstances),
        min_age: b.eligibility.min_age,
        max_age: b.eligibility.max_age,
        per_person_cap_fen: b.per_person_cap_fen,
        capacity: b.capacity,
        budget_fen: b.budget_fen,
        starts_on: b.starts_on,
        ends_on: b.ends_on,
        procedures: b.procedures,
        standards: b.standards,
        contact: b.contact,
    };
    let row = projects::create(&state.ctx, &caller, fields).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/projects/{}", row.id)));
    Ok(versioned(res, row.version, &Project::from(row)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// `published` (default), `mine` or `members`.
    #[param(inline)]
    pub scope: Option<ProjectScope>,
    /// Region code prefix: projects serving any part of it.
    pub region: Option<String>,
    pub category: Option<NeedCategory>,
    pub status: Option<ProjectStatus>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List projects (项目列表). Any signed-in caller: published and closed ones; a charity also
/// its own drafts (`scope=mine`), a federation its members' (`scope=members`).
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(ProjectQuery),
    responses(
        (status = 200, description = "A page of projects", body = Page<Project>),
    )
)]
#[get("/projects")]
async fn list_projects(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<ProjectQuery>,
) -> Result<web::Json<Page<Project>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let scope = q.scope.unwrap_or(ProjectScope::Published);
    let filter = ProjectFilter {
        region_prefix: q.region,
        category: q.category,
        status: q.status,
        after: q.cursor,
        limit: limit + 1,
        ..ProjectFilter::default()
    };
    let rows = projects::list(&state.ctx, &caller, scope, filter).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        Project::from,
    )))
}

/// One project. Published and closed ones: any signed-in caller; drafts: the charity and its
/// federation.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = Project),
        (status = 404, description = "No such project, or a draft the caller may not see"),
    )
)]
#[get("/projects/{id}")]
async fn get_project(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = projects::get(&state.ctx, &caller, id.into_inner()).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Project::from(row),
    ))
}

/// Absent stays absent, `null` becomes `Some(None)` (clear), a value `Some(Some(v))`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EligibilityChanges {
    #[validate(length(min = 1, max = 50))]
    pub region_prefixes: Option<Vec<String>>,
    #[validate(length(max = 5))]
    pub tiers: Option<Vec<Tier>>,
    pub relapse_monitoring: Option<bool>,
    #[validate(length(max = 9))]
    pub circumstances: Option<Vec<Circumstance>>,
    /// `null` removes the bound.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub min_age: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub max_age: Option<Option<i32>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"capacity": 60, "reason": "追加 10 个名额"}))]
pub struct UpdateProject {
    #[validate(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[validate(length(min = 1, max = 10))]
    pub categories: Option<Vec<NeedCategory>>,
    pub aid_form: Option<AidForm>,
    #[validate(nested)]
    pub eligibility: Option<EligibilityChanges>,
    /// `null` removes the cap.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub per_person_cap_fen: Option<Option<i64>>,
    #[validate(range(min = 0, max = 1_000_000))]
    pub capacity: Option<i32>,
    #[validate(range(min = 0, max = 10_000_000_000_000i64))]
    pub budget_fen: Option<i64>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    #[validate(length(max = 20000))]
    pub procedures: Option<String>,
    #[validate(length(max = 20000))]
    pub standards: Option<String>,
    #[validate(length(max = 500))]
    pub contact: Option<String>,
    /// Why (kept with the version and in the audit trail).
    #[validate(length(max = 500))]
    pub reason: Option<String>,
}

fn check_bound<T: PartialOrd + Copy>(
    field: &str,
    v: Option<Option<T>>,
    min: T,
    max: T,
    errors: &mut Vec<FieldError>,
) {
    if let Some(Some(x)) = v {
        if x < min || x > max {
            errors.push(FieldError::new(field, "range", "out of range"));
        }
    }
}

/// Change a project (修改项目). The owning charity; published projects keep every version.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "Changed", body = Project),
        (status = 404, description = "No such project"),
        (status = 409, description = "Closed, or changed concurrently"),
    )
)]
#[patch("/projects/{id}")]
async fn update_project(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Precondition(if_match): Precondition,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<UpdateProject>()?;
    check_not_blank("name", b.name.as_deref(), &mut errors);
    check_texts(
        &[
            ("name", b.name.as_deref()),
            ("procedures", b.procedures.as_deref()),
            ("standards", b.standards.as_deref()),
            ("reason", b.reason.as_deref()),
        ],
        &mut errors,
    );
    check_year("starts_on", b.starts_on, &mut errors);
    check_year("ends_on", b.ends_on, &mut errors);
    check_bound(
        "per_person_cap_fen",
        b.per_person_cap_fen,
        1,
        10_000_000_000,
        &mut errors,
    );
    let e = b.eligibility.unwrap_or(EligibilityChanges {
        region_prefixes: None,
        tiers: None,
        relapse_monitoring: None,
        circumstances: None,
        min_age: None,
        max_age: None,
    });
    check_bound("eligibility.min_age", e.min_age, 0, 150, &mut errors);
    check_bound("eligibility.max_age", e.max_age, 0, 150, &mut errors);
    let prefixes = e
        .region_prefixes
        .map(|p| region_prefixes(&p, "eligibility.region_prefixes", &mut errors));
    ApiError::check(errors)?;
    let changes = ProjectChanges {
        name: b.name.map(|n| n.trim().to_owned()),
        categories: b.categories.map(dedup),
        aid_form: b.aid_form,
        region_prefixes: prefixes,
        tiers: e.tiers.map(dedup),
        relapse_monitoring: e.relapse_monitoring,
        circumstances: e.circumstances.map(dedup),
        min_age: e.min_age,
        max_age: e.max_age,
        per_person_cap_fen: b.per_person_cap_fen,
        capacity: b.capacity,
        budget_fen: b.budget_fen,
        starts_on: b.starts_on,
        ends_on: b.ends_on,
        procedures: b.procedures,
        standards: b.standards,
        contact: b.contact,
    };
    let row = projects::update(
        &state.ctx,
        &caller,
        id.into_inner(),
        changes,
        b.reason,
        if_match,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Project::from(row),
    ))
}

/// Publish a project (发布项目): it becomes public and open to matching. The owning charity;
/// needs procedures and standards, and an end date not past.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "Published", body = Project),
        (status = 404, description = "No such project"),
        (status = 409, description = "Not a draft (names both states)"),
        (status = 422, description = "Procedures or standards missing, or already ended"),
    )
)]
#[post("/projects/{id}/publish")]
async fn publish_project(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Precondition(if_match): Precondition,
) -> Result<HttpResponse, ApiError> {
    let row = projects::change_status(
        &state.ctx,
        &caller,
        id.into_inner(),
        ProjectStatus::Published,
        if_match,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Project::from(row),
    ))
}

/// Close a project (结束项目): no more aid is recorded or matched. The owning charity.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "Closed", body = Project),
        (status = 404, description = "No such project"),
        (status = 409, description = "Already closed"),
    )
)]
#[post("/projects/{id}/close")]
async fn close_project(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Precondition(if_match): Precondition,
) -> Result<HttpResponse, ApiError> {
    let row = projects::change_status(
        &state.ctx,
        &caller,
        id.into_inner(),
        ProjectStatus::Closed,
        if_match,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Project::from(row),
    ))
}

/// A version of a project as it stood after a change, from publication on.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectVersion {
    pub version: i64,
    pub changed_at: DateTime<Utc>,
    /// The account that made the change.
    pub changed_by: Uuid,
    pub reason: Option<String>,
    /// The project as it stood (its stored fields, eligibility flattened).
    #[schema(value_type = Object)]
    pub project: serde_json::Value,
}

impl From<VersionRow> for ProjectVersion {
    fn from(r: VersionRow) -> Self {
        Self {
            version: r.version,
            changed_at: r.changed_at,
            changed_by: r.changed_by,
            reason: r.reason,
            project: r.snapshot,
        }
    }
}

/// A project's version history (版本记录), from publication on, oldest first.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "The versions", body = Vec<ProjectVersion>),
        (status = 404, description = "No such project"),
    )
)]
#[get("/projects/{id}/versions")]
async fn project_versions(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<ProjectVersion>>, ApiError> {
    let rows = projects::versions(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// The person behind a match, as far as a consent naming the charity allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedPerson {
    pub id: Uuid,
    /// With the `identity` category only.
    pub name: Option<String>,
}

/// An open need that fits the project. Under a region-wide consent only a de-identified summary
/// (category, urgency, region, age band); under a consent naming the charity, the person too.
#[derive(Debug, Serialize, ToSchema)]
pub struct NeedForProject {
    /// Only under a consent naming the charity.
    pub need_id: Option<Uuid>,
    pub category: NeedCategory,
    pub urgency: crate::domain::need::Urgency,
    /// The need's region; only the county unless the consent names `household`.
    pub region_code: String,
    pub age_band: crate::domain::person::AgeBand,
    pub person: Option<MatchedPerson>,
    /// Why it fits, judged only on data the consent names.
    pub reasons: Vec<crate::domain::project::MatchReason>,
}

/// Needs for a project (项目对接需求): open needs that fit, only of people whose consent for
/// `matching` covers this charity; every rule is judged only on data the consent names (a rule
/// it cannot judge leaves the person out), most urgent first. The owning charity, published
/// projects; every call is recorded with the rules asked.
#[utoipa::path(
    tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, description = "Fitting needs, most urgent first", body = Vec<NeedForProject>),
        (status = 404, description = "No such project"),
        (status = 409, description = "The project is not published"),
    )
)]
#[get("/projects/{id}/matches")]
async fn project_matches(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<NeedForProject>>, ApiError> {
    use crate::domain::consent::DataCategory;
    let matches =
        crate::service::matching::for_project(&state.ctx, &caller, id.into_inner()).await?;
    let view = matches
        .into_iter()
        .map(|m| NeedForProject {
            need_id: m.person.as_ref().map(|_| m.need.id),
            category: m.need.category,
            urgency: m.need.urgency,
            region_code: m.region_code,
            age_band: crate::domain::person::age_band(m.age),
            person: m.person.as_ref().map(|(p, cov)| MatchedPerson {
                id: p.id,
                name: cov.allows(DataCategory::Identity).then(|| p.name.clone()),
            }),
            reasons: m.reasons,
        })
        .collect();
    Ok(web::Json(view))
}
