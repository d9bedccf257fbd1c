//! HTTP layer: extractors, service endpoints and the versioned API.

pub mod extract;
pub mod fallback;
pub mod service;
pub mod v1;

use std::sync::Arc;

use crate::config::Config;
use crate::db::Pool;

/// Shared state handed to every handler.
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    /// The newest migration this binary knows, for `/readyz`.
    pub latest_migration: String,
    pub registry: prometheus::Registry,
    pub pool_gauge: prometheus::IntGaugeVec,
    /// Encryption and lookup-hash keys for personal identifiers.
    pub data_keys: crate::privacy::DataKeys,
}

/// Registers every documented route; used by the server and by the OpenAPI generator alike.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    service::configure(cfg);
    cfg.service(utoipa_actix_web::scope("/api/v1").configure(v1::configure));
}
