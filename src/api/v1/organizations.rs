//! Admin endpoints: organisations (组织), their users (用户) and API clients (接入系统).

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::Page;
use crate::api::extract::{JsonBody, QueryParams, RequestMeta};
use crate::api::AppState;
use crate::auth::{password, Caller};
use crate::db::audit::{self, NewAuditEvent};
use crate::db::organizations::{
    self as orgs, NewOrganization, OrganizationChanges, OrganizationRow,
};
use crate::db::users::{self, ClientRow, NewClient, NewUser, UserChanges, UserRow};
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::region::RegionCode;
use crate::domain::role::{role_allowed_for, Role};
use crate::domain::uscc::Uscc;
use crate::error::{ApiError, FieldError};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_organization)
        .service(list_organizations)
        .service(get_organization)
        .service(update_organization)
        .service(create_user)
        .service(list_users)
        .service(update_user)
        .service(create_client)
        .service(list_clients)
        .service(update_client);
}

/// An organisation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub kind: OrganizationKind,
    pub name: String,
    /// Unified social credit code (统一社会信用代码).
    pub uscc: Option<String>,
    pub region_code: String,
    pub status: OrganizationStatus,
    /// Holds public-fundraising qualification (公开募捐资格).
    pub public_fundraising: bool,
    /// The federation or bureau it belongs to, if any.
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind.parse().unwrap_or(OrganizationKind::Other),
            name: r.name,
            uscc: r.uscc,
            region_code: r.region_code,
            status: r.status.parse().unwrap_or(OrganizationStatus::Suspended),
            public_fundraising: r.public_fundraising,
            parent_id: r.parent_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
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
    if body.public_fundraising && !body.kind.can_hold_public_fundraising() {
        errors.push(FieldError::new(
            "public_fundraising",
            "not_applicable",
            "only charities, charity federations and the Red Cross hold public-fundraising qualification",
        ));
    }
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
async fn create_organization(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<CreateOrganization>()?;
    let (uscc, region) = check_new_organization(&body, &mut errors);
    ApiError::check(errors)?;
    let row = crate::with_transaction!(&state.pool, async move |conn| {
        let row = orgs::insert(
            conn,
            &NewOrganization {
                id: Uuid::now_v7(),
                kind: body.kind.as_str(),
                name: body.name.trim(),
                uscc: uscc.as_deref(),
                region_code: &region,
                public_fundraising: body.public_fundraising,
                parent_id: body.parent_id,
            },
        )
        .await?;
        audit::append(
            conn,
            NewAuditEvent::by(
                &caller,
                &meta,
                "organization.create",
                "organization",
                row.id,
            )
            .details(json!({"kind": row.kind, "region_code": row.region_code})),
        )
        .await?;
        Ok(row)
    })?;
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
    pub status: Option<OrganizationStatus>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List organisations (组织列表). Admin and auditor.
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
async fn list_organizations(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<OrganizationQuery>,
) -> Result<web::Json<Page<Organization>>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor])?;
    let limit = q.limit.unwrap_or(50);
    let mut conn = state.pool.get().await?;
    let rows = orgs::list(
        &mut conn,
        &orgs::OrganizationFilter {
            kind: q.kind.map(|k| k.as_str().to_owned()),
            region_prefix: q.region,
            status: q.status.map(|s| s.as_str().to_owned()),
            after: q.cursor,
            limit: limit + 1,
        },
    )
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        Organization::from,
    )))
}

async fn load_organization(state: &AppState, id: Uuid) -> Result<OrganizationRow, ApiError> {
    let mut conn = state.pool.get().await?;
    orgs::find(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))
}

/// One organisation. Admin, auditor, or its own members.
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
async fn get_organization(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Organization>, ApiError> {
    let id = id.into_inner();
    if caller.organization_id != id {
        caller.require_any(&[Role::Admin, Role::Auditor])?;
    }
    Ok(web::Json(load_organization(&state, id).await?.into()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
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
async fn update_organization(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<web::Json<Organization>, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<UpdateOrganization>()?;
    let id = id.into_inner();
    let current = load_organization(&state, id).await?;
    let kind: OrganizationKind = current.kind.parse().unwrap_or(OrganizationKind::Other);
    if body.public_fundraising == Some(true) && !kind.can_hold_public_fundraising() {
        errors.push(FieldError::new(
            "public_fundraising",
            "not_applicable",
            "only charities, charity federations and the Red Cross hold public-fundraising qualification",
        ));
    }
    ApiError::check(errors)?;
    let changes = OrganizationChanges {
        name: body.name.as_ref().map(|n| n.trim().to_owned()),
        status: body.status.map(|s| s.as_str().to_owned()),
        public_fundraising: body.public_fundraising,
        parent_id: None,
        updated_at: Some(Utc::now()),
    };
    let details = json!({"name": body.name, "status": body.status.map(|s| s.as_str()), "public_fundraising": body.public_fundraising});
    let row = crate::with_transaction!(&state.pool, async move |conn| {
        let row = orgs::update(conn, id, &changes).await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "organization.update", "organization", id)
                .details(details),
        )
        .await?;
        Ok(row)
    })?;
    Ok(web::Json(row.into()))
}

/// A user account as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// Region scope: the organisation's region or a part of it.
    pub region_code: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            username: r.username,
            display_name: r.display_name,
            roles: r.roles.iter().filter_map(|x| x.parse().ok()).collect(),
            region_code: r.region_code,
            enabled: r.enabled,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Lower-case letters, digits, `_ . -`; 3–64 characters.
    #[validate(length(min = 3, max = 64), custom(function = "username_format"))]
    #[schema(example = "harbin.li", pattern = r"^[a-z0-9][a-z0-9_.-]{2,63}$")]
    pub username: String,
    #[validate(length(min = 1, max = 100))]
    pub display_name: String,
    /// At least 12 characters.
    #[validate(length(min = 12, max = 256))]
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
    #[validate(length(min = 1, max = 5))]
    #[schema(min_items = 1, max_items = 5)]
    pub roles: Vec<Role>,
    /// Defaults to the organisation's region; must lie within it.
    pub region_code: Option<String>,
}

fn check_roles(kind: OrganizationKind, roles: &[Role], errors: &mut Vec<FieldError>) {
    for (i, role) in roles.iter().enumerate() {
        if !role_allowed_for(kind, *role) {
            errors.push(FieldError::new(
                format!("roles[{i}]"),
                "role_not_allowed",
                format!(
                    "a member of a {} cannot hold the role {role}",
                    kind.as_str()
                ),
            ));
        }
    }
}

fn username_format(username: &str) -> Result<(), validator::ValidationError> {
    let ok = username
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        && username
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(
            validator::ValidationError::new("invalid_username").with_message(
                "use lower-case letters, digits and _ . - (starting with a letter or digit)".into(),
            ),
        )
    }
}

/// Create a user in an organisation (新建用户). Admin only.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 404, description = "No such organisation"),
        (status = 409, description = "Username taken"),
        (status = 422, description = "Invalid field (role not allowed for the organisation's kind, region outside it, …)"),
    )
)]
#[post("/organizations/{id}/users")]
async fn create_user(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<CreateUser>()?;
    let org = load_organization(&state, id.into_inner()).await?;
    let kind: OrganizationKind = org.kind.parse().unwrap_or(OrganizationKind::Other);
    check_roles(kind, &body.roles, &mut errors);
    let region = body
        .region_code
        .clone()
        .unwrap_or_else(|| org.region_code.clone());
    match RegionCode::parse(&region) {
        Ok(r) if !crate::domain::region::covers(&org.region_code, r.as_str()) => {
            errors.push(FieldError::new(
                "region_code",
                "outside_organization",
                format!(
                    "must lie within the organisation's region {}",
                    org.region_code
                ),
            ))
        }
        Ok(_) => {}
        Err(e) => errors.push(FieldError::new(
            "region_code",
            "invalid_region_code",
            e.to_string(),
        )),
    }
    ApiError::check(errors)?;
    let secret = body.password.clone();
    let hash = web::block(move || password::hash(&secret))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let roles: Vec<String> = body.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let row = crate::with_transaction!(&state.pool, async move |conn| {
        let row = users::insert_user(
            conn,
            &NewUser {
                id: Uuid::now_v7(),
                organization_id: org.id,
                username: &body.username,
                display_name: body.display_name.trim(),
                password_hash: &hash,
                roles: roles.clone(),
                region_code: &region,
            },
        )
        .await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "user.create", "user", row.id).details(
                json!({"organization_id": org.id, "username": row.username, "roles": roles}),
            ),
        )
        .await?;
        Ok(row)
    })?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/organizations/{}/users/{}",
                row.organization_id, row.id
            ),
        ))
        .json(User::from(row)))
}

/// The users of an organisation. Admin and auditor.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Users", body = Vec<User>),
        (status = 404, description = "No such organisation"),
    )
)]
#[get("/organizations/{id}/users")]
async fn list_users(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<User>>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor])?;
    let org = load_organization(&state, id.into_inner()).await?;
    let mut conn = state.pool.get().await?;
    let rows = users::users_of(&mut conn, org.id).await?;
    Ok(web::Json(rows.into_iter().map(User::from).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[validate(length(min = 1, max = 100))]
    pub display_name: Option<String>,
    #[validate(length(min = 1, max = 5))]
    pub roles: Option<Vec<Role>>,
    /// `false` disables sign-in; tokens already issued expire within their lifetime.
    pub enabled: Option<bool>,
    /// Sets a new password (at least 12 characters).
    #[validate(length(min = 12, max = 256))]
    pub password: Option<String>,
}

/// Change a user's roles, name, password or enable/disable it. Admin only.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id"), ("user_id" = Uuid, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "Updated", body = User),
        (status = 404, description = "No such user in this organisation"),
        (status = 422, description = "Invalid field"),
    )
)]
#[patch("/organizations/{id}/users/{user_id}")]
async fn update_user(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody,
) -> Result<web::Json<User>, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<UpdateUser>()?;
    let (org_id, user_id) = path.into_inner();
    let org = load_organization(&state, org_id).await?;
    if let Some(roles) = &body.roles {
        check_roles(
            org.kind.parse().unwrap_or(OrganizationKind::Other),
            roles,
            &mut errors,
        );
    }
    ApiError::check(errors)?;
    let password_hash = match body.password.clone() {
        Some(p) => Some(
            web::block(move || password::hash(&p))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let changes = UserChanges {
        display_name: body.display_name.as_ref().map(|d| d.trim().to_owned()),
        password_hash,
        roles: body
            .roles
            .as_ref()
            .map(|rs| rs.iter().map(|r| r.as_str().to_owned()).collect()),
        enabled: body.enabled,
        updated_at: Some(Utc::now()),
    };
    let details = json!({
        "roles": changes.roles, "enabled": body.enabled,
        "display_name": body.display_name, "password_changed": body.password.is_some(),
    });
    let row = crate::with_transaction!(&state.pool, async move |conn| {
        match users::find_user(conn, user_id).await? {
            Some(u) if u.organization_id == org_id => {}
            _ => return Err(ApiError::not_found("user")),
        }
        let row = users::update_user(conn, user_id, &changes).await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "user.update", "user", user_id).details(details),
        )
        .await?;
        Ok(row)
    })?;
    Ok(web::Json(row.into()))
}

/// An API client (接入系统) for a municipal system or charity portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClient {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Send as `client_id` with `grant_type=client_credentials`.
    pub client_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ClientRow> for ApiClient {
    fn from(r: ClientRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            client_id: r.client_id,
            name: r.name,
            roles: r.roles.iter().filter_map(|x| x.parse().ok()).collect(),
            enabled: r.enabled,
            created_at: r.created_at,
        }
    }
}

/// A new client with its secret, shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClientCreated {
    #[serde(flatten)]
    pub client: ApiClient,
    pub client_secret: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "哈尔滨市社会救助信息系统")]
    pub name: String,
    #[validate(length(min = 1, max = 5))]
    pub roles: Vec<Role>,
}

/// Register an API client for an organisation (新建接入系统). Admin only; the secret is shown once.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    request_body = CreateClient,
    responses(
        (status = 201, description = "Created; keep `client_secret`, it is not shown again", body = ApiClientCreated),
        (status = 404, description = "No such organisation"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/organizations/{id}/clients")]
async fn create_client(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<CreateClient>()?;
    let org = load_organization(&state, id.into_inner()).await?;
    check_roles(
        org.kind.parse().unwrap_or(OrganizationKind::Other),
        &body.roles,
        &mut errors,
    );
    if body.roles.contains(&Role::Admin) {
        errors.push(FieldError::new(
            "roles",
            "role_not_allowed",
            "API clients cannot be administrators",
        ));
    }
    ApiError::check(errors)?;
    let secret = password::random_secret();
    let to_hash = secret.clone();
    let hash = web::block(move || password::hash(&to_hash))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let client_id = format!("ab_{}", Uuid::new_v4().simple());
    let roles: Vec<String> = body.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let row = crate::with_transaction!(&state.pool, async move |conn| {
        let row = users::insert_client(
            conn,
            &NewClient {
                id: Uuid::now_v7(),
                organization_id: org.id,
                client_id: &client_id,
                name: body.name.trim(),
                secret_hash: &hash,
                roles: roles.clone(),
            },
        )
        .await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "api_client.create", "api_client", row.id).details(
                json!({"organization_id": org.id, "client_id": row.client_id, "roles": roles}),
            ),
        )
        .await?;
        Ok(row)
    })?;
    Ok(HttpResponse::Created().json(ApiClientCreated {
        client: row.into(),
        client_secret: secret,
    }))
}

/// The API clients of an organisation (secrets are never shown). Admin and auditor.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "Clients", body = Vec<ApiClient>),
        (status = 404, description = "No such organisation"),
    )
)]
#[get("/organizations/{id}/clients")]
async fn list_clients(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<ApiClient>>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor])?;
    let org = load_organization(&state, id.into_inner()).await?;
    let mut conn = state.pool.get().await?;
    let rows = users::clients_of(&mut conn, org.id).await?;
    Ok(web::Json(rows.into_iter().map(ApiClient::from).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    pub enabled: bool,
}

/// Enable or disable an API client. Admin only.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id"), ("client_id" = Uuid, Path, description = "The client's id (not its client_id string)")),
    request_body = UpdateClient,
    responses(
        (status = 200, description = "Updated", body = ApiClient),
        (status = 404, description = "No such client in this organisation"),
    )
)]
#[patch("/organizations/{id}/clients/{client_id}")]
async fn update_client(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody,
) -> Result<web::Json<ApiClient>, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let body: UpdateClient = body.valid()?;
    let (org_id, id) = path.into_inner();
    let row = crate::with_transaction!(&state.pool, async move |conn| {
        if users::find_client(conn, id)
            .await?
            .is_none_or(|c| c.organization_id != org_id)
        {
            return Err(ApiError::not_found("api client"));
        }
        let row = users::set_client_enabled(conn, id, body.enabled).await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "api_client.update", "api_client", id)
                .details(json!({"enabled": body.enabled})),
        )
        .await?;
        Ok(row)
    })?;
    Ok(web::Json(row.into()))
}
