//! Sign-in (OAuth 2.0 password and client-credentials grants): the secret is checked without
//! holding a database connection, failures are counted per principal, a lock-out answers until
//! it ends, and a token is issued only for an enabled principal of an active organisation.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use chrono::Duration;
use sha2::{Digest, Sha256};

use super::{audit, transaction, Context, Error, RequestMeta, Result};
use crate::auth::password::{self, Verified};
use crate::auth::token::TokenKeys;
use crate::auth::{Caller, PrincipalKind};
use crate::db::organizations::OrganizationRow;
use crate::db::{organizations, refresh, throttle, users};
use crate::domain::organization::OrganizationStatus;
use crate::domain::role::Role;

/// What the caller signs in with.
pub enum Credentials<'a> {
    User {
        username: &'a str,
        password: &'a str,
    },
    Client {
        client_id: &'a str,
        secret: &'a str,
    },
}

pub enum Outcome {
    Issued {
        access_token: String,
        roles: Vec<Role>,
        expires_in: i64,
        /// For people (the password grant): a one-time token for the next access token.
        refresh_token: Option<String>,
    },
    /// Wrong name or secret, disabled, or its organisation suspended: one answer for all.
    Refused,
    LockedOut {
        until: DateTime<Utc>,
    },
}

struct Principal {
    id: Uuid,
    kind: PrincipalKind,
    organization_id: Uuid,
    secret_hash: String,
    roles: Vec<Role>,
    region: String,
    enabled: bool,
    organization_active: bool,
}

fn is_active(org: &Option<OrganizationRow>) -> bool {
    org.as_ref()
        .is_some_and(|o| o.status == OrganizationStatus::Active)
}

async fn find_principal(
    conn: &mut crate::db::Conn,
    creds: &Credentials<'_>,
) -> Result<Option<Principal>> {
    Ok(match creds {
        Credentials::User { username, .. } => {
            let Some(u) = users::find_user_by_name(conn, username).await? else {
                return Ok(None);
            };
            let org = organizations::find(conn, u.organization_id).await?;
            Some(Principal {
                id: u.id,
                kind: PrincipalKind::User,
                organization_id: u.organization_id,
                secret_hash: u.password_hash,
                roles: u.roles,
                region: u.region_code,
                enabled: u.enabled,
                organization_active: is_active(&org),
            })
        }
        Credentials::Client { client_id, .. } => {
            let Some(c) = users::find_client_by_client_id(conn, client_id).await? else {
                return Ok(None);
            };
            // A client acts for its organisation, with that organisation's region.
            let org = organizations::find(conn, c.organization_id).await?;
            Some(Principal {
                id: c.id,
                kind: PrincipalKind::Client,
                organization_id: c.organization_id,
                secret_hash: c.secret_hash,
                roles: c.roles,
                region: org
                    .as_ref()
                    .map(|o| o.region_code.clone())
                    .unwrap_or_default(),
                enabled: c.enabled,
                organization_active: is_active(&org),
            })
        }
    })
}

/// Failures from one address across accounts (password spraying) that lock the address, as a
/// multiple of the per-account limit.
const ADDRESS_LIMIT_FACTOR: i32 = 4;
/// How long a sign-in waits for a hashing slot before it is told to come back.
const HASHING_WAIT_MS: u64 = 2000;

/// Checks the credentials and issues an access token. Failures count per account *and* client
/// address (so nobody locks another out from elsewhere) and per address across accounts; the
/// hash runs on a bounded set of slots, and a sign-in that finds none free in time is answered
/// `Unavailable` rather than queuing work that would starve every other request.
pub async fn sign_in(
    ctx: &Context,
    keys: &TokenKeys,
    creds: Credentials<'_>,
    from: &RequestMeta,
) -> Result<Outcome> {
    let address = from.ip.as_deref().unwrap_or("unknown");
    let (account_key, secret) = match &creds {
        Credentials::User { username, password } => {
            (format!("user:{username}|{address}"), *password)
        }
        Credentials::Client { client_id, secret } => {
            (format!("client:{client_id}|{address}"), *secret)
        }
    };
    let address_key = format!("address:{address}");
    let now = ctx.clock.now();
    let principal = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        for key in [&account_key, &address_key] {
            if let Some(until) = throttle::locked_until(&mut conn, key, now).await? {
                return Ok(Outcome::LockedOut { until });
            }
        }
        find_principal(&mut conn, &creds).await?
    };
    let hash = principal.as_ref().map(|p| p.secret_hash.clone());
    let plain = secret.to_owned();
    let permit = tokio::time::timeout(
        std::time::Duration::from_millis(HASHING_WAIT_MS),
        ctx.hashing.clone().acquire_owned(),
    )
    .await
    .map_err(|_| Error::unavailable("too many sign-ins at once; try again in a few seconds"))?
    .map_err(Error::internal)?;
    // The hash runs (also for unknown names, against a dummy) without a pooled connection held.
    let verified = tokio::task::spawn_blocking(move || {
        let _slot = permit;
        password::check(&plain, hash.as_deref())
    })
    .await
    .map_err(Error::internal)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let principal = match principal {
        Some(p) if verified != Verified::No && p.enabled && p.organization_active => p,
        _ => {
            let c = &ctx.config;
            for (key, max) in [
                (&account_key, c.login_max_failures),
                (&address_key, c.login_max_failures * ADDRESS_LIMIT_FACTOR),
            ] {
                throttle::record_failure(
                    &mut conn,
                    key,
                    max,
                    c.login_window_seconds,
                    c.login_lockout_seconds,
                    now,
                )
                .await?;
            }
            // Expired windows and lock-outs are swept as failures come, a few at a time.
            throttle::sweep(&mut conn, now, c.login_window_seconds, 100).await?;
            log::info!("sign-in failed for {account_key}");
            return Ok(Outcome::Refused);
        }
    };
    throttle::clear(&mut conn, &account_key).await?;
    if verified == Verified::YesRehash {
        // Hashed with older parameters: store one with the current ones.
        let secret = secret.to_owned();
        let fresh = tokio::task::spawn_blocking(move || password::hash(&secret))
            .await
            .map_err(Error::internal)?
            .map_err(Error::internal)?;
        match principal.kind {
            PrincipalKind::User => {
                users::set_password_hash(&mut conn, principal.id, &principal.secret_hash, &fresh)
                    .await?
            }
            PrincipalKind::Client => {
                users::set_client_secret_hash(
                    &mut conn,
                    principal.id,
                    &principal.secret_hash,
                    &fresh,
                )
                .await?
            }
        }
    }
    let roles: Vec<String> = principal
        .roles
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    let access_token = keys
        .issue(
            principal.id,
            principal.kind.as_str(),
            principal.organization_id,
            roles,
            principal.region,
            now,
        )
        .map_err(Error::internal)?;
    let refresh_token = match principal.kind {
        PrincipalKind::User => {
            Some(new_refresh_token(ctx, &mut conn, Uuid::now_v7(), principal.id, now).await?)
        }
        PrincipalKind::Client => None,
    };
    Ok(Outcome::Issued {
        access_token,
        roles: principal.roles,
        expires_in: keys.ttl_seconds,
        refresh_token,
    })
}

fn refresh_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Makes a refresh token of `family` for a user; only its hash is stored.
async fn new_refresh_token(
    ctx: &Context,
    conn: &mut crate::db::Conn,
    family: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = password::random_secret();
    let until = now + Duration::seconds(ctx.config.refresh_ttl_seconds);
    refresh::insert(conn, family, user, &refresh_hash(&token), now, until).await?;
    Ok(token)
}

/// The refresh-token grant: each refresh token works once and is replaced by a new one of its
/// family. A token presented twice (stolen, or replayed) revokes the whole family, recorded.
pub async fn refresh(
    ctx: &Context,
    keys: &TokenKeys,
    token: &str,
    from: &RequestMeta,
) -> Result<Outcome> {
    let now = ctx.clock.now();
    let hash = refresh_hash(token);
    let (ctx2, keys2) = (ctx.clone(), keys.clone());
    // Whoever presents a used token may be the thief: their address goes on record.
    let reuse = audit::anonymous(ctx, "system", from, "auth.refresh_reuse", "user", None);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let Some(row) = refresh::find_for_update(conn, &hash).await? else {
                return Ok(Outcome::Refused);
            };
            if row.revoked_at.is_some() || row.expires_at <= now {
                return Ok(Outcome::Refused);
            }
            if row.used_at.is_some() || !refresh::mark_used(conn, row.id, now).await? {
                let n = refresh::revoke_family(conn, row.family_id, now).await?;
                let mut ev =
                    reuse.details(serde_json::json!({"family_id": row.family_id, "revoked": n}));
                ev.entity_id = Some(row.user_id);
                audit::append(conn, ev).await?;
                return Ok(Outcome::Refused);
            }
            let Some(user) = users::find_user(conn, row.user_id).await? else {
                return Ok(Outcome::Refused);
            };
            let org = organizations::find(conn, user.organization_id).await?;
            if !user.enabled || !is_active(&org) {
                return Ok(Outcome::Refused);
            }
            let roles: Vec<String> = user.roles.iter().map(|r| r.as_str().to_owned()).collect();
            let access_token = keys2
                .issue(
                    user.id,
                    "user",
                    user.organization_id,
                    roles,
                    user.region_code.clone(),
                    now,
                )
                .map_err(Error::internal)?;
            let next = new_refresh_token(&ctx2, conn, row.family_id, user.id, now).await?;
            Ok(Outcome::Issued {
                access_token,
                roles: user.roles,
                expires_in: keys2.ttl_seconds,
                refresh_token: Some(next),
            })
        })
    })
    .await
}

/// Revokes a refresh token's family (RFC 7009). Unknown tokens are not an error.
pub async fn revoke(ctx: &Context, token: &str) -> Result<()> {
    let now = ctx.clock.now();
    let hash = refresh_hash(token);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            if let Some(row) = refresh::find_for_update(conn, &hash).await? {
                refresh::revoke_family(conn, row.family_id, now).await?;
            }
            Ok(())
        })
    })
    .await
}

/// Who the caller is: its name, display name and organisation.
pub struct Identity {
    pub name: String,
    pub display_name: String,
    pub organization: OrganizationRow,
}

/// Looks the caller up; a principal or organisation that no longer exists ends the session.
pub async fn identity(ctx: &Context, caller: &Caller) -> Result<Identity> {
    let gone = |what: &str| {
        Error::unauthorized(
            "invalid_token",
            format!("the token's {what} no longer exists"),
        )
    };
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let organization = organizations::find(&mut conn, caller.organization_id)
        .await?
        .ok_or_else(|| gone("organisation"))?;
    let (name, display_name) = match caller.kind {
        PrincipalKind::User => {
            let u = users::find_user(&mut conn, caller.id)
                .await?
                .ok_or_else(|| gone("user"))?;
            (u.username, u.display_name)
        }
        PrincipalKind::Client => {
            let c = users::find_client(&mut conn, caller.id)
                .await?
                .ok_or_else(|| gone("client"))?;
            (c.client_id, c.name)
        }
    };
    Ok(Identity {
        name,
        display_name,
        organization,
    })
}
