//! The users of an organisation: create, list, change.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::User;
use crate::api::extract::{JsonBody, Precondition};
use crate::api::v1::versioned;
use crate::api::AppState;
use crate::auth::Caller;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::organizations::{self as orgs, NewUserInput, UserUpdate};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "username": "harbin.li",
    "display_name": "李明",
    "password": "correct-horse-battery",
    "roles": ["civil_affairs"]
}))]
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
pub(super) async fn create_user(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<CreateUser>()?;
    crate::api::v1::check_not_blank("display_name", Some(&body.display_name), &mut errors);
    let input = NewUserInput {
        username: body.username,
        display_name: body.display_name,
        password: body.password,
        roles: body.roles,
        region_code: body.region_code,
    };
    let row = orgs::create_user(&state.ctx, &caller, id.into_inner(), input, errors).await?;
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
pub(super) async fn list_users(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<User>>, ApiError> {
    let rows = orgs::users_of(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(User::from).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "李明（社会救助科）"}))]
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
pub(super) async fn update_user(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
    Precondition(if_match): Precondition,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::Admin])?;
    let (body, mut errors) = body.parse::<UpdateUser>()?;
    crate::api::v1::check_not_blank("display_name", body.display_name.as_deref(), &mut errors);
    let (org_id, user_id) = path.into_inner();
    let update = UserUpdate {
        display_name: body.display_name,
        roles: body.roles,
        enabled: body.enabled,
        password: body.password,
    };
    let row = orgs::update_user(
        &state.ctx, &caller, org_id, user_id, update, errors, if_match,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &User::from(row.clone()),
    ))
}
