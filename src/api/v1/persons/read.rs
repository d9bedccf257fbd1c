//! Reading people: the list, one person as far as the caller may see, and lookup by ID number.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{consented_view, full_view, Person};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::v1::{check_region_param, versioned, Page};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::persons::PersonFilter;
use crate::domain::consent::Purpose;
use crate::domain::person::{Circumstance, Tier};
use crate::domain::resident_id::ResidentId;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::access::PersonAccess;
use crate::service::persons;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// Region code prefix; civil-affairs staff are limited to their own region.
    pub region: Option<String>,
    pub tier: Option<Tier>,
    pub circumstance: Option<Circumstance>,
    /// Only people with government aid records and at least one open need (政府救助后仍有困难).
    pub after_government_aid: Option<bool>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List people (困难群众列表), masked. Civil-affairs staff (their region) and auditors.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(PersonQuery),
    responses(
        (status = 200, description = "A page of people", body = Page<Person>),
        (status = 400, description = "Bad query parameter"),
    )
)]
#[get("/persons")]
pub(super) async fn list_persons(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<PersonQuery>,
) -> Result<web::Json<Page<Person>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let filter = PersonFilter {
        region_prefix: String::new(),
        tier: q.tier,
        circumstance: q.circumstance,
        after_government_aid: q.after_government_aid.unwrap_or(false),
        after: q.cursor,
        limit: limit + 1,
    };
    let rows = persons::list(&state.ctx, &caller, q.region.as_deref(), filter).await?;
    let today = state.ctx.clock.today();
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        |r| full_view(&r, None, today),
    )))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// What a charity reads for (required for consent recipients): the consent must cover this
    /// purpose, and the audit trail records it.
    pub purpose: Option<Purpose>,
}

/// One person (困难群众详情): staff see everything with identifiers masked; auditors the same
/// (audited); a charity only what a consent covering its `purpose` allows (audited); others 404.
/// No masked view carries the birth date (an age band instead); full identifiers come only from
/// `POST /persons/{id}/reveal`.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id"), ReadQuery),
    responses(
        (status = 200, description = "The person, as far as the caller may see", body = Person),
        (status = 404, description = "No such person within the caller's reach"),
        (status = 422, description = "A consent recipient named no `purpose`"),
    )
)]
#[get("/persons/{id}")]
pub(super) async fn get_person(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<ReadQuery>,
) -> Result<HttpResponse, ApiError> {
    let today = state.ctx.clock.today();
    let read = persons::read(&state.ctx, &caller, id.into_inner(), q.purpose).await?;
    let view = match &read.access {
        PersonAccess::Staff | PersonAccess::Auditor => full_view(&read.person, None, today),
        PersonAccess::Recipient(cov) => consented_view(
            &read.person,
            cov,
            read.phone.clone(),
            read.open_need_categories.clone(),
            today,
        ),
    };
    Ok(versioned(HttpResponse::Ok(), read.person.version, &view))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id_number": "230102199003070015"}))]
pub struct PersonLookup {
    /// The resident ID number to find; in the body so it stays out of URLs and access logs.
    #[schema(example = "230102199003070015", pattern = r"^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
}

/// Find a person by exact ID number (按身份证号查找). Civil-affairs staff, within their region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = PersonLookup,
    responses(
        (status = 200, description = "The person (masked)", body = Person),
        (status = 404, description = "No such person within the caller's region"),
        (status = 422, description = "Not a valid ID number"),
    )
)]
#[post("/persons/lookup")]
pub(super) async fn lookup_person(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<web::Json<Person>, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let body: PersonLookup = body.valid()?;
    let today = state.ctx.clock.today();
    let id = ResidentId::parse(&body.id_number, today)
        .map_err(|e| ApiError::field("id_number", e.code(), e.to_string()))?;
    let person = persons::lookup(&state.ctx, &caller, &id).await?;
    Ok(web::Json(full_view(&person, None, today)))
}
