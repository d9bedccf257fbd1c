//! Builds the HTTP application on a listener: middleware, routes, Swagger UI, fallbacks.

use actix_web::dev::{Server, Service};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Logger;
use actix_web::{web, App, HttpMessage, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use std::net::TcpListener;
use std::sync::Arc;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::extract::{json_error, path_error, query_error, BodyLimit, RequestId};
use crate::api::fallback::{self, RouteTable};
use crate::api::{self, i18n, AppState};
use crate::auth::token::TokenKeys;
use crate::config::Config;
use crate::db::{self, Pool};
use crate::privacy::DataKeys;

const REQUEST_ID: &str = "x-request-id";

/// Keeps a client's request id when it is reasonable, so logs correlate across systems.
fn acceptable_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// CORS for browser-based portals: only the configured origins (or any, without credentials,
/// for `*`); the headers a client needs to send and to read.
fn cors(origins: &[String]) -> actix_cors::Cors {
    use actix_web::http::header;
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::ACCEPT_LANGUAGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            header::LOCATION,
            header::ETAG,
            header::RETRY_AFTER,
            header::CONTENT_LANGUAGE,
            HeaderName::from_static(REQUEST_ID),
            HeaderName::from_static(crate::api::idempotency::REPLAYED),
        ])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        // Any origin, and then never credentials (the CORS rules forbid the combination).
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for o in origins {
            cors = cors.allowed_origin(o);
        }
        // Public disclosure is for every site that wants to show it.
        cors = cors
            .allowed_origin_fn(|_, head| head.uri.path().starts_with(PUBLIC_PREFIX))
            .supports_credentials();
    }
    cors
}

/// The paths anyone may read without a token, from any origin.
pub const PUBLIC_PREFIX: &str = "/api/v1/public/";

/// Swagger UI as served: no call to the public validator (it would send the document to another
/// host), and the authorisation kept across reloads.
fn swagger_config() -> utoipa_swagger_ui::Config<'static> {
    utoipa_swagger_ui::Config::new(["/api-docs/openapi.json"])
        .validator_url("none")
        .persist_authorization(true)
}

/// Swagger UI's page with the API's name as its title.
async fn swagger_index() -> actix_web::HttpResponse {
    let file = utoipa_swagger_ui::serve("index.html", Arc::new(swagger_config()))
        .ok()
        .flatten();
    match file {
        Some(f) if !f.gzpipped => {
            let html = String::from_utf8_lossy(&f.bytes).replace(
                "<title>Swagger UI</title>",
                "<title>AidBridge API · 善桥</title>",
            );
            actix_web::HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(html)
        }
        _ => actix_web::HttpResponse::NotFound().finish(),
    }
}

pub struct Application {
    port: u16,
    server: Server,
}

pub struct Options {
    pub workers: usize,
    /// Stop on SIGINT/SIGTERM (the binary); tests stop the server themselves.
    pub handle_signals: bool,
    /// The one source of "now" (the system clock, or a settable one in tests).
    pub clock: crate::clock::Clock,
    /// Run the background jobs (the audit sealer); tests that drive them themselves turn it off.
    pub background_jobs: bool,
}

impl Application {
    pub fn build(
        config: Config,
        pool: Pool,
        keys: TokenKeys,
        data_keys: DataKeys,
        listener: TcpListener,
        options: Options,
    ) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let spec = crate::openapi::spec();
        let routes = web::Data::new(RouteTable::from_openapi(&spec));
        let registry = prometheus::Registry::new();
        let prom = PrometheusMetricsBuilder::new("aidbridge")
            .registry(registry.clone())
            // Paths no route matches share one label: random paths must not grow the registry.
            .mask_unmatched_patterns("UNMATCHED")
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let pool_gauge = prometheus::IntGaugeVec::new(
            prometheus::Opts::new(
                "aidbridge_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )
        .map_err(std::io::Error::other)?;
        registry
            .register(Box::new(pool_gauge.clone()))
            .map_err(std::io::Error::other)?;
        let limit = config.max_body_bytes;
        let origins = config.cors_origins.clone();
        let ledger = crate::service::ledger::LedgerKeys::from_config(
            config.audit_key.as_deref().unwrap_or_default(),
            config.audit_signing_key.as_deref().unwrap_or_default(),
        )
        .map_err(std::io::Error::other)?;
        let recorder = crate::service::audit::Recorder::start(pool.clone());
        let read_pool = match &config.read_database_url {
            // Half the primary's: it serves a minority of the requests.
            Some(url) => crate::db::build_pool(url, (config.pool_size / 2).max(2))
                .map_err(std::io::Error::other)?,
            None => pool.clone(),
        };
        let state = web::Data::new(AppState {
            ctx: crate::service::Context {
                read_pool,
                pool,
                keys: data_keys,
                clock: options.clock,
                config: Arc::new(config),
                standing: Default::default(),
                hashing: crate::service::hashing_slots(),
                ledger: std::sync::Arc::new(ledger),
                recorder: Some(recorder),
            },
            latest_migration: db::latest_migration_version(),
            registry,
            pool_gauge,
        });
        // The sealer chains committed audit events in the background (one at a time across
        // instances).
        if options.background_jobs {
            tokio::spawn(crate::service::ledger::run_sealer(state.ctx.clone()));
            tokio::spawn(crate::service::referrals::run_expiry(state.ctx.clone()));
            tokio::spawn(crate::service::events::run_relay(state.ctx.clone()));
            tokio::spawn(crate::service::idempotency::run_sweeper(state.ctx.clone()));
            tokio::spawn(crate::service::webhooks::run_sender(state.ctx.clone()));
        }
        let keys = web::Data::new(keys);
        let server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(keys.clone())
                .app_data(routes.clone())
                .app_data(BodyLimit(limit))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .app_data(
                    web::JsonConfig::default()
                        .limit(limit)
                        .error_handler(json_error),
                )
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .configure(api::configure)
                .into_app()
                .service(
                    web::resource(["/swagger-ui/", "/swagger-ui/index.html"])
                        .route(web::get().to(swagger_index)),
                )
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .url("/api-docs/openapi.json", spec.clone())
                        .config(swagger_config()),
                )
                .service(web::redirect("/swagger-ui", "/swagger-ui/"))
                .default_service(web::to(fallback::not_found))
                .wrap_fn(|req, srv| {
                    let lang = i18n::Lang::from_headers(req.headers());
                    let fut = srv.call(req);
                    async move { Ok(i18n::localize(fut.await?.map_into_boxed_body(), lang)) }
                })
                // Outside the language layer: a replay is the first answer, byte for byte.
                .wrap(actix_web::middleware::from_fn(api::idempotency::idempotent))
                .wrap(prom.clone())
                .wrap(Logger::new("%a \"%r\" %s %b %Dms req=%{x-request-id}i"))
                .wrap_fn(|mut req, srv| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| acceptable_request_id(v))
                        .map(str::to_owned)
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                    let value = HeaderValue::from_str(&id).ok();
                    if let Some(v) = &value {
                        req.headers_mut()
                            .insert(HeaderName::from_static(REQUEST_ID), v.clone());
                    }
                    req.extensions_mut().insert(RequestId(id));
                    // API answers may carry personal data: no cache, shared or private, keeps them.
                    let api = req.path().starts_with("/api/");
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(v) = value {
                            res.headers_mut()
                                .insert(HeaderName::from_static(REQUEST_ID), v);
                        }
                        if api && !res.headers().contains_key(header::CACHE_CONTROL) {
                            res.headers_mut().insert(
                                header::CACHE_CONTROL,
                                HeaderValue::from_static("no-store"),
                            );
                        }
                        Ok(res)
                    }
                })
                // Outermost, so error answers carry the CORS headers too.
                .wrap(cors(&origins))
        })
        .workers(options.workers.max(1))
        .shutdown_timeout(10)
        .listen(listener)?;
        let server = if options.handle_signals {
            server.run()
        } else {
            server.disable_signals().run()
        };
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable_request_id;

    #[test]
    fn request_ids_are_bounded_visible_ascii() {
        assert!(acceptable_request_id("abc-123"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("with space"));
        assert!(!acceptable_request_id(&"x".repeat(129)));
    }
}
