//! Service endpoints: liveness, readiness and Prometheus metrics.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::ApiError;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(jwks)
        .service(authorization_server);
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Newest migration applied to the database.
    #[schema(example = "20240123000001")]
    pub migration: String,
}

/// Liveness (存活): the process is up.
#[utoipa::path(tag = "service", responses((status = 200, description = "Alive", body = Health)))]
#[get("/healthz")]
async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness (就绪): the database answers and every migration of this build is applied.
#[utoipa::path(tag = "service", responses(
    (status = 200, description = "Ready to serve", body = Readiness),
    (status = 503, description = "Database unreachable or migrations missing"),
))]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Readiness>, ApiError> {
    let migration = crate::service::readiness::check(&state.ctx, &state.latest_migration).await?;
    Ok(web::Json(Readiness {
        status: "ready",
        migration,
    }))
}

/// The public keys that verify access tokens (JWKS, RFC 7517; Ed25519 keys as in RFC 8037).
#[utoipa::path(tag = "auth", responses(
    (status = 200, description = "JSON Web Key Set", content_type = "application/jwk-set+json", body = Object),
))]
#[get("/.well-known/jwks.json")]
async fn jwks(keys: web::Data<crate::auth::token::TokenKeys>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "max-age=300"))
        .json(keys.jwks())
}

/// OAuth 2.0 authorization server metadata (RFC 8414): where tokens come from and how they
/// are verified. URLs are relative to this server.
#[utoipa::path(tag = "auth", responses(
    (status = 200, description = "Server metadata", body = Object),
))]
#[get("/.well-known/oauth-authorization-server")]
async fn authorization_server(req: actix_web::HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    HttpResponse::Ok().json(serde_json::json!({
        "issuer": crate::auth::token::ISSUER,
        "token_endpoint": format!("{base}/api/v1/auth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["password", "client_credentials", "refresh_token"],
        "revocation_endpoint": format!("{base}/api/v1/auth/revoke"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "service_documentation": format!("{base}/swagger-ui/"),
    }))
}

/// Whether the request carries the configured metrics token (compared as digests, so the time
/// taken says nothing about the token).
fn metrics_allowed(req: &actix_web::HttpRequest, token: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    let Some(token) = token else {
        return true;
    };
    let sent = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Sha256::digest(sent.as_bytes()) == Sha256::digest(token.as_bytes())
}

/// Prometheus metrics (监控指标): requests by route and status, latency histogram, pool usage.
/// With `AIDBRIDGE_METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
#[utoipa::path(tag = "service", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
    (status = 401, description = "The metrics token is configured and was not sent"),
))]
#[get("/metrics")]
async fn metrics(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    use prometheus::Encoder;
    if !metrics_allowed(&req, state.ctx.config.metrics_token.as_deref()) {
        return Err(ApiError::unauthorized(
            "missing_token",
            "send the metrics token: Authorization: Bearer <token>",
        ));
    }
    let status = state.ctx.pool.status();
    let in_use = status.size.saturating_sub(status.available);
    for (label, value) in [
        ("max", status.max_size),
        ("open", status.size),
        ("idle", status.available),
        ("in_use", in_use),
        ("waiting", status.waiting),
    ] {
        state
            .pool_gauge
            .with_label_values(&[label])
            .set(value as i64);
    }
    let mut buf = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&state.registry.gather(), &mut buf)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(buf))
}
