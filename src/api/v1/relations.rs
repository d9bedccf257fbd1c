//! Conflict-of-interest declarations (优亲厚友): staff declare their relatives.

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::api::extract::JsonBody;
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::relations::RelationRow;
use crate::domain::person::Relation;
use crate::domain::resident_id::ResidentId;
use crate::error::{ApiError, FieldError};
use crate::service::conflicts;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(declare_relation)
        .service(my_relations)
        .service(remove_relation)
        .service(organization_relations);
}

/// A declaration; the relative's ID number is never shown (it is kept only as a keyed hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct RelationDeclaration {
    pub id: Uuid,
    pub user_id: Uuid,
    pub relation: String,
    pub declared_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

impl From<RelationRow> for RelationDeclaration {
    fn from(r: RelationRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            relation: r.relation,
            declared_at: r.declared_at,
            removed_at: r.removed_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id_number": "11010519491231002X", "relation": "sibling"}))]
pub struct DeclareRelation {
    /// The relative's resident ID number (kept only as a keyed hash).
    #[validate(length(max = 32))]
    pub id_number: String,
    pub relation: Relation,
}

/// Declare a relative (申报近亲属). Any signed-in user, for themselves: their actions on the
/// relative's cases are then refused (403 `conflict_of_interest`).
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = DeclareRelation,
    responses(
        (status = 201, description = "Declared", body = RelationDeclaration),
        (status = 409, description = "Already declared"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/me/relations")]
async fn declare_relation(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, errors) = body.parse::<DeclareRelation>()?;
    ApiError::check(errors)?;
    let today = crate::domain::time::local_date(state.ctx.clock.now());
    let id = ResidentId::parse(&b.id_number, today).map_err(|e| {
        ApiError::validation(vec![FieldError::new(
            "id_number",
            "invalid_id_number",
            e.to_string(),
        )])
    })?;
    let row = conflicts::declare(&state.ctx, &caller, id.expose(), b.relation).await?;
    Ok(HttpResponse::Created().json(RelationDeclaration::from(row)))
}

/// The caller's own active declarations.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, description = "The declarations", body = Vec<RelationDeclaration>))
)]
#[get("/me/relations")]
async fn my_relations(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<RelationDeclaration>>, ApiError> {
    let rows = conflicts::mine(&state.ctx, &caller).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Remove one of the caller's declarations (kept on record for supervision).
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Declaration id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such active declaration of the caller's"),
    )
)]
#[delete("/me/relations/{id}")]
async fn remove_relation(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    conflicts::remove(&state.ctx, &caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An organisation's declarations, removed ones included. Auditors (recorded).
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "The declarations", body = Vec<RelationDeclaration>),
        (status = 404, description = "No such organisation"),
    )
)]
#[get("/organizations/{id}/relations")]
async fn organization_relations(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<RelationDeclaration>>, ApiError> {
    let rows = conflicts::of_organization(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}
