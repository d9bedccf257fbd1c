//! Registering, listing, reading and changing organisations.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::Organization;
use crate::api::extract::{JsonBody, Precondition, QueryParams};
use crate::api::v1::{check_not_blank, check_region_param, versioned, Page};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::organizations::OrganizationFilter;
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::region::RegionCode;
use crate::domain::role::Role;
use crate::domain::uscc::Uscc;
use crate::error::{ApiError, FieldError};
use crate::service::organizations::{self as orgs, NewOrganizationInput, OrganizationUpdate};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "charity",
    "name": "哈尔滨市助医慈善基金会",
    "uscc": "53230100MJ0007770M",
    "region_code": "2301",
    "public_fundraising": true
}))]
pub struct CreateOrganization {
    pub kind: OrganizationKind,
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "哈尔滨市慈善总会", min_length = 1, max_length = 200)]
    pub name: String,
    /// Required for every kind but `other`; GB 32100 check characters verified.
    #[schema(
        example = "53230000MJ000123XE",
        pattern = r"^[0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy]{18}$"
    )]
    pub uscc: Option<String>,
    /// Heilongjiang region code, 2/4/6/9/12 digits.
    #[schema(
        example = "230100",
        pattern = r"^23([0-9]{2}|[0-9]{4}|[0-9]{7}|[0-9]{10})?$"
    )]
    pub region_code: String,
    #[serde(default)]
    pub public_fundraising: bool,
    pub parent_id: Option<Uuid>,
}

/// Checks the rules that span fields and the domain validators; returns every failure at once.
fn check_new_organization(
    body: &CreateOrganization,
    errors: &mut Vec<FieldError>,
) -> (Option<String>, String) {
    check_not_blank("name", Some(&body.name), errors);
    let uscc = match (&body.uscc, body.kind.requires_uscc()) {
        (Some(raw), _) => match Uscc::parse(raw) {
            Ok(u) => Some(u.into_string()),
            Err(e) => {
                errors.push(FieldError::new("uscc", "invalid_uscc", e.to_string()));
                None
            }
        },
        (None, true) => {
            errors.push(FieldError::new(
                "uscc",
                "required",
                format!(
                    "a {} needs its unified social credit code",
                    body.kind.as_str()
                ),
            ));
            None
        }
        (None, false) => None,
    };
    let region = match RegionCode::parse(&body.region_code) {
        Ok(r) => r.into_string(),
        Err(e) => {
            errors.push(FieldError::new(
                "region_code",
                "invalid_region_code",
                e.to_string(),
            ));
            String::new()
        }
    };
    errors.extend(orgs::check_public_fundraising(
        body.kind,
        body.public_fundraising,
    ));
    (uscc, region)
}

/// Register an organisation (登记组织). Admin only.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateOrganization,
    responses(
        (status = 201, description = "Created", body = Organization),
        (status = 409, description = "An organisation with this USCC exists"),
        (status = 422, description = "Invalid field (USCC, region code, …)"),
    )
)]
#[post("/organizations")]
pub(super) async fn create_organization(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<CreateOrganization>()?;
    let (uscc, region) = check_new_organization(&body, &mut errors);
    ApiError::check(errors)?;
    let input = NewOrganizationInput {
        kind: body.kind,
        name: body.name,
        uscc,
        region_code: region,
        public_fundraising: body.public_fundraising,
        parent_id: body.parent_id,
    };
    let row = orgs::create(&state.ctx, &caller, input).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/organizations/{}", row.id),
        ))
        .json(Organization::from(row)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationQuery {
    pub kind: Option<OrganizationKind>,
    /// Organisations whose region code starts with this.
    pub region: Option<String>,
    /// Administrators and auditors only; the directory lists active organisations.
    pub status: Option<OrganizationStatus>,
    /// Part of the name (any case), e.g. `慈善`.
    #[validate(length(min = 1, max = 100))]
    #[param(min_length = 1, max_length = 100, example = "慈善")]
    pub q: Option<String>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List organisations (组织列表 / 组织名录). Administrators and auditors see the whole register;
/// civil-affairs and charity staff search the directory of active organisations (to find the
/// charity a consent or referral names).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(OrganizationQuery),
    responses(
        (status = 200, description = "A page of organisations", body = Page<Organization>),
        (status = 400, description = "Bad query parameter"),
    )
)]
#[get("/organizations")]
pub(super) async fn list_organizations(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<OrganizationQuery>,
) -> Result<web::Json<Page<Organization>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let filter = OrganizationFilter {
        kind: q.kind,
        region_prefix: q.region,
        status: q.status,
        name_contains: q.q.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        after: q.cursor,
        limit: limit + 1,
    };
    let rows = orgs::list(&state.ctx, &caller, filter).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        Organization::from,
    )))
}

/// One organisation: administrators, auditors and its own members; an active one for
/// civil-affairs and charity staff (the directory).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The organisation", body = Organization),
        (status = 400, description = "Malformed id"),
        (status = 404, description = "No such organisation"),
    )
)]
#[get("/organizations/{id}")]
pub(super) async fn get_organization(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = orgs::get(&state.ctx, &caller, id.into_inner()).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Organization::from(row.clone()),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "哈尔滨市助医慈善基金会", "public_fundraising": false}))]
pub struct UpdateOrganization {
    #[validate(length(min = 1, max = 200))]
    pub name: Option<String>,
    pub status: Option<OrganizationStatus>,
    pub public_fundraising: Option<bool>,
}

/// Change an organisation's name, status or fundraising qualification. Admin only.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    request_body = UpdateOrganization,
    responses(
        (status = 200, description = "Updated", body = Organization),
        (status = 404, description = "No such organisation"),
        (status = 422, description = "Invalid field"),
    )
)]
#[patch("/organizations/{id}")]
pub(super) async fn update_organization(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Precondition(if_match): Precondition,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<UpdateOrganization>()?;
    check_not_blank("name", body.name.as_deref(), &mut errors);
    let update = OrganizationUpdate {
        name: body.name,
        status: body.status,
        public_fundraising: body.public_fundraising,
    };
    let row = orgs::update(
        &state.ctx,
        &caller,
        id.into_inner(),
        update,
        errors,
        if_match,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Organization::from(row.clone()),
    ))
}
