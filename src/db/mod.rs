//! Database access: the pool, embedded migrations, and one repository module per aggregate.
//! Transactions live in the repositories and the handlers' `transaction` calls.

pub mod audit;
pub mod consents;
pub mod needs;
pub mod organizations;
pub mod persons;
pub mod schema;
pub mod throttle;
pub mod users;

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::time::Duration;

pub type Pool = deadpool::Pool<AsyncPgConnection>;
pub type Conn = AsyncPgConnection;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Serialises migration runs of several instances starting at once.
const MIGRATION_LOCK: i64 = 0x0A1D_B21D_6E00_0001;

pub fn build_pool(database_url: &str, size: usize) -> Result<Pool, String> {
    // Fast recycling: no test query on every checkout (it doubled the round trips of a simple
    // read); a connection that died is noticed as broken and replaced.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder(manager)
        .max_size(size)
        .runtime(::deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| format!("database pool: {e}"))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn blocking_connection(
    database_url: &str,
) -> Result<AsyncConnectionWrapper<AsyncPgConnection>, BoxError> {
    use diesel::Connection;
    Ok(AsyncConnectionWrapper::<AsyncPgConnection>::establish(
        database_url,
    )?)
}

/// Applies pending migrations (blocking; call from `spawn_blocking` inside a runtime).
pub fn run_migrations_blocking(database_url: &str) -> Result<Vec<String>, BoxError> {
    use diesel::connection::SimpleConnection;
    let mut conn = blocking_connection(database_url)?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|v| v.iter().map(|m| m.to_string()).collect());
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    applied
}

/// Reverts every migration (used by the migrations round-trip test and `migrate --down-all`).
pub fn revert_all_migrations_blocking(database_url: &str) -> Result<usize, BoxError> {
    let mut conn = blocking_connection(database_url)?;
    Ok(conn.revert_all_migrations(MIGRATIONS)?.len())
}

pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, String> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || run_migrations_blocking(&url).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// The newest migration version compiled into this binary; `/readyz` compares the database to it.
pub fn latest_migration_version() -> String {
    MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .ok()
        .and_then(|ms| ms.iter().map(|m| m.name().version().to_string()).max())
        .unwrap_or_default()
}

/// Runs the async closure in one transaction on a pooled connection: every multi-row change
/// goes through here, so a failure anywhere (the audit append included) leaves nothing written.
/// Use inside a function returning `Result<_, ApiError>`: `with_transaction!(pool, async move |conn| { … })`.
#[macro_export]
macro_rules! with_transaction {
    ($pool:expr, async move |$conn:ident| $body:block) => {{
        let mut pooled = $pool.get().await?;
        let c: &mut $crate::db::Conn = &mut pooled;
        diesel_async::AsyncConnection::transaction::<_, $crate::error::ApiError, _>(
            c,
            async move |$conn: &mut $crate::db::Conn| $body,
        )
        .await
    }};
}
