//! Use cases. Each one owns its transaction and writes the change together with its audit event
//! (and, later, its outbox event); it returns [`Error`], which knows no HTTP. Callers are plain
//! values ([`crate::auth::Caller`] with its [`RequestMeta`]), never request types.

pub mod access;
pub mod audit;
pub mod consents;
pub mod error;
pub mod needs;
pub mod organizations;
pub mod persons;
pub mod readiness;
pub mod sign_in;

use futures_util::future::BoxFuture;
use std::sync::Arc;

pub use error::{Error, FieldError, Kind, Result};

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{Conn, Pool};
use crate::privacy::DataKeys;

/// What every use case may need: the database, the keys for personal identifiers, the clock.
#[derive(Clone)]
pub struct Context {
    pub pool: Pool,
    pub keys: DataKeys,
    pub clock: Clock,
    pub config: Arc<Config>,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// Runs `f` in one transaction: the change and its audit event commit together or not at all.
pub async fn transaction<R, F>(pool: &Pool, f: F) -> Result<R>
where
    F: for<'r> FnOnce(&'r mut Conn) -> BoxFuture<'r, Result<R>> + Send,
    R: Send,
{
    crate::db::transaction(pool, f).await
}
