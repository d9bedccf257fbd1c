//! `POST /persons/{id}/reveal`: the full ID number and phone, for a stated purpose, audited.
//! A POST, so the purpose stays out of URLs and access logs and nothing caches the answer.

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{full_view, Person};
use crate::api::extract::JsonBody;
use crate::api::v1::{check_free_text, versioned};
use crate::api::AppState;
use crate::auth::Caller;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::persons;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"purpose": "核实身份以办理临时救助"}))]
pub struct RevealRequest {
    /// Why the full values are needed; kept in the audit trail with the disclosure.
    #[validate(length(min = 3, max = 500))]
    #[schema(min_length = 3, max_length = 500)]
    pub purpose: String,
}

/// Reveal a person's full ID number and phone (查看完整证件号码). Civil-affairs staff of the
/// person's region; recorded with the purpose before the values are sent.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = RevealRequest,
    responses(
        (status = 200, description = "The person with full identifiers and birth date", body = Person),
        (status = 404, description = "No such person within the caller's reach"),
    )
)]
#[post("/persons/{id}/reveal")]
pub(super) async fn reveal_person(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<RevealRequest>()?;
    check_free_text("purpose", Some(&body.purpose), &mut errors);
    ApiError::check(errors)?;
    let (row, revealed) =
        persons::reveal(&state.ctx, &caller, id.into_inner(), body.purpose.trim()).await?;
    let view = full_view(&row, Some(revealed), state.ctx.clock.today());
    Ok(versioned(HttpResponse::Ok(), row.version, &view))
}
