//! The API clients (接入系统) of an organisation: create (secret shown once), list, enable/disable.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{ApiClient, ApiClientCreated};
use crate::api::extract::{JsonBody, Precondition};
use crate::api::v1::versioned;
use crate::api::AppState;
use crate::auth::Caller;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::organizations as orgs;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "哈尔滨市社会救助信息系统", "roles": ["civil_affairs"]}))]
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
pub(super) async fn create_client(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<CreateClient>()?;
    crate::api::v1::check_not_blank("name", Some(&body.name), &mut errors);
    let (row, secret) = orgs::create_client(
        &state.ctx,
        &caller,
        id.into_inner(),
        body.name,
        body.roles,
        errors,
    )
    .await?;
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
pub(super) async fn list_clients(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<ApiClient>>, ApiError> {
    let rows = orgs::clients_of(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(ApiClient::from).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
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
pub(super) async fn update_client(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    Precondition(if_match): Precondition,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let body: UpdateClient = body.valid()?;
    let (org_id, id) = path.into_inner();
    let row =
        orgs::set_client_enabled(&state.ctx, &caller, org_id, id, body.enabled, if_match).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &ApiClient::from(row.clone()),
    ))
}
