//! Revocation at once: a token is honoured only while its user or client is enabled and its
//! organisation active. The answer is cached for a few seconds per principal and organisation,
//! so a request costs no query while the cache is warm; changes made through this instance
//! forget the entry at once, and other instances see them within [`TTL_SECONDS`].

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

use super::{Context, Error, Result};
use crate::auth::{Caller, PrincipalKind};
use crate::db::{organizations, users};
use crate::domain::organization::OrganizationStatus;

/// How long a standing is believed without asking the database again.
pub const TTL_SECONDS: i64 = 5;
/// A bound on the cache; past it the cache starts afresh (a burst of distinct principals).
const MAX_ENTRIES: usize = 50_000;

/// Whether a principal or organisation may act, and until when that is believed.
type Standing = (bool, DateTime<Utc>);

#[derive(Clone, Default)]
pub struct StandingCache {
    entries: Arc<Mutex<HashMap<Uuid, Standing>>>,
    /// Bumped by every `forget`: a standing read from the database before a change committed
    /// must not be cached after that change was forgotten.
    forgotten: Arc<std::sync::atomic::AtomicU64>,
}

impl StandingCache {
    fn get(&self, id: Uuid, now: DateTime<Utc>) -> Option<bool> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&id)
            .filter(|(_, until)| *until > now)
            .map(|(ok, _)| *ok)
    }

    fn generation(&self) -> u64 {
        self.forgotten.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Caches a standing read at `generation`, unless something was forgotten since.
    fn put(&self, id: Uuid, ok: bool, now: DateTime<Utc>, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id, (ok, now + Duration::seconds(TTL_SECONDS)));
    }

    /// Forgets what is known of a principal or organisation (after a change to it).
    pub fn forget(&self, id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.forgotten
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.remove(&id);
    }
}

fn revoked() -> Error {
    Error::unauthorized(
        "invalid_token",
        "the account is disabled or its organisation suspended",
    )
}

/// `Ok` while the caller's account and organisation may act.
pub async fn ensure(ctx: &Context, caller: &Caller) -> Result<()> {
    let now = ctx.clock.now();
    let cache = &ctx.standing;
    let (principal, org) = (
        cache.get(caller.id, now),
        cache.get(caller.organization_id, now),
    );
    if principal == Some(false) || org == Some(false) {
        return Err(revoked());
    }
    if principal.is_some() && org.is_some() {
        return Ok(());
    }
    let generation = cache.generation();
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let principal_ok = match caller.kind {
        PrincipalKind::User => users::find_user(&mut conn, caller.id)
            .await?
            .is_some_and(|u| u.enabled && u.organization_id == caller.organization_id),
        PrincipalKind::Client => users::find_client(&mut conn, caller.id)
            .await?
            .is_some_and(|c| c.enabled && c.organization_id == caller.organization_id),
    };
    let org_ok = organizations::find(&mut conn, caller.organization_id)
        .await?
        .is_some_and(|o| o.status == OrganizationStatus::Active);
    cache.put(caller.id, principal_ok, now, generation);
    cache.put(caller.organization_id, org_ok, now, generation);
    if principal_ok && org_ok {
        Ok(())
    } else {
        Err(revoked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_read_before_a_change_is_not_cached_after_it_is_forgotten() {
        let cache = StandingCache::default();
        let (id, now) = (Uuid::new_v4(), Utc::now());
        // A request reads "enabled" from the database…
        let seen = cache.generation();
        // …meanwhile the account is disabled and forgotten…
        cache.forget(id);
        // …and the request's stale answer is not kept.
        cache.put(id, true, now, seen);
        assert_eq!(cache.get(id, now), None);
        let fresh = cache.generation();
        cache.put(id, false, now, fresh);
        assert_eq!(cache.get(id, now), Some(false));
        assert_eq!(
            cache.get(id, now + Duration::seconds(TTL_SECONDS + 1)),
            None
        );
    }
}
