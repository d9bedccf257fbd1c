//! Database access, the only SQL: the pool, embedded migrations, typed rows and one repository
//! module per aggregate. Errors are [`Error`]; transactions are begun by the service layer
//! through [`transaction`].

pub mod aid;
pub mod audit;
pub mod bulk;
pub mod consents;
pub mod disclosures;
pub mod error;
pub mod events;
pub mod feedback;
pub mod funds;
pub mod idempotency;
pub mod imports;
pub mod keys;
pub mod leads;
pub mod needs;
pub mod organizations;
pub mod pairings;
pub mod persons;
pub mod projects;
pub mod referrals;
pub mod refresh;
pub mod relations;
pub mod schema;
pub mod stats;
pub mod throttle;
pub mod types;
pub mod users;
pub mod webhooks;

pub use error::{Error, Result};

use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use futures_util::future::BoxFuture;
use std::time::Duration;

pub type Pool = deadpool::Pool<AsyncPgConnection>;
pub type Conn = AsyncPgConnection;
/// A connection borrowed from the pool; derefs to [`Conn`].
pub type Pooled = deadpool::Object<AsyncPgConnection>;

/// Borrows a connection (unavailable when the pool cannot give one in time).
pub async fn connect(pool: &Pool) -> Result<Pooled> {
    Ok(pool.get().await?)
}

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Serialises migration runs of several instances starting at once.
const MIGRATION_LOCK: i64 = 0x0A1D_B21D_6E00_0001;

pub fn build_pool(database_url: &str, size: usize) -> std::result::Result<Pool, String> {
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
) -> std::result::Result<AsyncConnectionWrapper<AsyncPgConnection>, BoxError> {
    use diesel::Connection;
    Ok(AsyncConnectionWrapper::<AsyncPgConnection>::establish(
        database_url,
    )?)
}

/// Applies pending migrations (blocking; call from `spawn_blocking` inside a runtime).
pub fn run_migrations_blocking(database_url: &str) -> std::result::Result<Vec<String>, BoxError> {
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
pub fn revert_all_migrations_blocking(database_url: &str) -> std::result::Result<usize, BoxError> {
    let mut conn = blocking_connection(database_url)?;
    Ok(conn.revert_all_migrations(MIGRATIONS)?.len())
}

pub async fn run_migrations(database_url: &str) -> std::result::Result<Vec<String>, String> {
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

/// Runs `f` in one transaction on a pooled connection, generic over the caller's error type:
/// every multi-row change goes through here, so a failure anywhere (the audit append included)
/// leaves nothing written.
pub async fn transaction<R, E, F>(pool: &Pool, f: F) -> std::result::Result<R, E>
where
    F: for<'r> FnOnce(&'r mut Conn) -> BoxFuture<'r, std::result::Result<R, E>> + Send,
    E: From<Error> + Send,
    R: Send,
{
    use diesel_async::AsyncConnection;
    let mut pooled = pool.get().await.map_err(|e| E::from(Error::from(e)))?;
    let conn: &mut Conn = &mut pooled;
    let outcome = conn
        .transaction::<R, Failure<E>, _>(async move |c| f(c).await.map_err(Failure::Caller))
        .await;
    match outcome {
        Ok(v) => Ok(v),
        Err(Failure::Caller(e)) => Err(e),
        Err(Failure::Database(e)) => Err(E::from(Error::from(e))),
    }
}

/// Runs `f` inside the caller's transaction as a savepoint: what `f` wrote is undone when it
/// fails (an SQL error included) and the transaction goes on.
pub async fn savepoint<R, E, F>(conn: &mut Conn, f: F) -> std::result::Result<R, E>
where
    F: for<'r> FnOnce(&'r mut Conn) -> BoxFuture<'r, std::result::Result<R, E>> + Send,
    E: From<Error> + Send,
    R: Send,
{
    use diesel_async::AsyncConnection;
    let outcome = conn
        .transaction::<R, Failure<E>, _>(async move |c| f(c).await.map_err(Failure::Caller))
        .await;
    match outcome {
        Ok(v) => Ok(v),
        Err(Failure::Caller(e)) => Err(e),
        Err(Failure::Database(e)) => Err(E::from(Error::from(e))),
    }
}

/// Why a transaction ended: the caller's own error, or the database's (begin, commit, rollback).
enum Failure<E> {
    Caller(E),
    Database(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for Failure<E> {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e)
    }
}

/// A statement written as SQL text (`diesel::sql_query`) that is prepared once per connection
/// and reused, like diesel's own typed queries. Diesel never caches `sql_query`, because its
/// text may be built from values; wrap only statements whose text is fixed (values bound), or
/// every distinct text would stay in the connection's cache. Without it each call pays a
/// parse and plan in PostgreSQL and an extra round trip.
pub struct Prepared<Q>(pub Q);

impl<Q: diesel::query_builder::QueryFragment<Pg>> diesel::query_builder::QueryFragment<Pg>
    for Prepared<Q>
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    // The cache key is then the statement's text and its bind types (no static query id).
    fn is_safe_to_cache_prepared(&self, _: &Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

diesel::define_sql_function! {
    /// `max(version)` of diesel's migration table.
    fn max(x: diesel::sql_types::Text) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

diesel::table! {
    __diesel_schema_migrations (version) {
        version -> Text,
    }
}

/// The newest migration applied to the database (`None` before the first).
pub async fn applied_migration(conn: &mut Conn) -> Result<Option<String>> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    Ok(__diesel_schema_migrations::table
        .select(max(__diesel_schema_migrations::version))
        .get_result(conn)
        .await?)
}
