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

/// Prometheus metrics (监控指标): requests by route and status, latency histogram, pool usage.
#[utoipa::path(tag = "service", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String),
))]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    use prometheus::Encoder;
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
