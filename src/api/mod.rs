//! HTTP layer: extractors, service endpoints and the versioned API.

pub mod extract;
pub mod fallback;
pub mod i18n;
pub mod idempotency;
pub mod service;
pub mod v1;

/// Shared state handed to every handler.
pub struct AppState {
    /// What the use cases need: pool, keys, clock, configuration.
    pub ctx: crate::service::Context,
    /// The newest migration this binary knows, for `/readyz`.
    pub latest_migration: String,
    pub registry: prometheus::Registry,
    pub pool_gauge: prometheus::IntGaugeVec,
}

/// Registers every documented route; used by the server and by the OpenAPI generator alike.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    service::configure(cfg);
    cfg.service(utoipa_actix_web::scope("/api/v1").configure(v1::configure));
}
