//! Use cases. Each one owns its transaction and writes the change together with its audit event
//! (and, later, its outbox event); it returns [`Error`], which knows no HTTP. Callers are plain
//! values ([`crate::auth::Caller`] with its [`RequestMeta`]), never request types.

pub mod access;
pub mod aid;
pub mod audit;
pub mod conflicts;
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
pub mod ledger;
pub mod matching;
pub mod needs;
pub mod organizations;
pub mod pairings;
pub mod persons;
pub mod projects;
pub mod public;
pub mod readiness;
pub mod referrals;
pub mod sign_in;
pub mod standing;
pub mod stats;
pub mod webhooks;

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
    /// Reads that may lag behind the primary (public disclosure, statistics, the event feed):
    /// a replica's pool when one is configured, else the primary's. Everything a caller must
    /// see right after writing it is read from `pool`.
    pub read_pool: Pool,
    pub keys: DataKeys,
    pub clock: Clock,
    pub config: Arc<Config>,
    /// Whether principals and organisations may still act (revocation at once).
    pub standing: standing::StandingCache,
    /// Slots for password hashing (one per CPU): sign-ins beyond them wait briefly, then 503.
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// The audit ledger's sealing and signing keys.
    pub ledger: Arc<ledger::LedgerKeys>,
    /// Group commit for standalone audit events (none: each commits on its own).
    pub recorder: Option<audit::Recorder>,
}

/// The hashing slots: one per CPU.
pub fn hashing_slots() -> Arc<tokio::sync::Semaphore> {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(tokio::sync::Semaphore::new(n))
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// A client's `If-Match`: the versions (ETags) it last saw, or `*` for any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Versions(Vec<i64>),
}

impl IfMatch {
    /// `Ok` when the record's current `version` is one the client saw.
    pub fn check(&self, version: i64) -> Result<()> {
        match self {
            IfMatch::Versions(seen) if !seen.contains(&version) => {
                Err(precondition_failed(Some(version)))
            }
            _ => Ok(()),
        }
    }
}

/// The record is no longer the version the client saw (412), naming the current one if known.
pub fn precondition_failed(current: Option<i64>) -> Error {
    let e = Error::new(
        Kind::PreconditionFailed,
        "precondition_failed",
        "the record changed since you read it; reload it and apply your change again",
    );
    match current {
        Some(v) => e.with_extra("current_etag", format!("\"{v}\"")),
        None => e,
    }
}

/// A conditional update matched nothing: with `If-Match` the client's version is stale (412);
/// without it another request won the race (409).
pub fn lost_update(if_match: Option<&IfMatch>) -> Error {
    match if_match {
        Some(_) => precondition_failed(None),
        None => Error::conflict(
            "concurrent_update",
            "another request changed the same record meanwhile; reload and retry",
        ),
    }
}

/// Runs `f` in one transaction: the change and its audit event commit together or not at all.
pub async fn transaction<R, F>(pool: &Pool, f: F) -> Result<R>
where
    F: for<'r> FnOnce(&'r mut Conn) -> BoxFuture<'r, Result<R>> + Send,
    R: Send,
{
    crate::db::transaction(pool, f).await
}
