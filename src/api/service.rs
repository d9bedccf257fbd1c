//! Service endpoints: liveness, readiness and Prometheus metrics.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::ApiError;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
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
