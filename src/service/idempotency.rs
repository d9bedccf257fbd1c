//! Idempotent POSTs (`Idempotency-Key`): the first request with a key claims it and runs; its
//! answer is kept (encrypted) for 24 h; the same key and request again gets that answer without
//! acting twice — also when the two race (the second waits for the first); the same key with a
//! different request is refused. Keys are per caller. Answers of server errors are not kept, so
//! a retry may act.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Context, Error, Result};
use crate::db::idempotency::{self, KeyRow};
use crate::privacy::Field;

/// How long a key is remembered.
pub const TTL_HOURS: i64 = 24;
/// How long a duplicate waits for the first request to finish.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An answer as sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Begin {
    /// The key is this request's: run it, then [`finish`] or [`abandon`].
    Run,
    /// Sent before: answer with this.
    Replay(Stored),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still running after the wait.
    InProgress,
}

/// SHA-256 of the request (method, path with query, body): what "the same request" means.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

pub async fn begin(ctx: &Context, principal: Uuid, key: &str, request_hash: &str) -> Result<Begin> {
    let now = ctx.clock.now();
    let row = KeyRow {
        principal_id: principal,
        key: key.to_owned(),
        request_hash: request_hash.to_owned(),
        status: None,
        response: None,
        created_at: now,
        expires_at: now + chrono::Duration::hours(TTL_HOURS),
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut pause = std::time::Duration::from_millis(20);
    loop {
        let found = {
            let mut conn = crate::db::connect(&ctx.pool).await?;
            if idempotency::claim(&mut conn, &row).await? {
                return Ok(Begin::Run);
            }
            idempotency::find(&mut conn, principal, key).await?
        };
        match found {
            // Released meanwhile by a failed first request: try to claim again.
            None => {}
            Some(f) if f.request_hash != request_hash => return Ok(Begin::Mismatch),
            Some(KeyRow {
                status: Some(_),
                response: Some(sealed),
                ..
            }) => {
                let json = ctx
                    .keys
                    .decrypt(Field::StoredResponse, &sealed)
                    .map_err(Error::internal)?;
                let stored = serde_json::from_str(&json).map_err(Error::internal)?;
                return Ok(Begin::Replay(stored));
            }
            Some(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Begin::InProgress);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(500));
    }
}

/// Keeps the answer for retries.
pub async fn finish(ctx: &Context, principal: Uuid, key: &str, stored: &Stored) -> Result<()> {
    let json = serde_json::to_string(stored).map_err(Error::internal)?;
    let sealed = ctx
        .keys
        .encrypt(Field::StoredResponse, &json)
        .map_err(Error::internal)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    idempotency::complete(&mut conn, principal, key, stored.status as i16, &sealed).await?;
    Ok(())
}

/// Gives the key up after a server error, so that a retry acts.
pub async fn abandon(ctx: &Context, principal: Uuid, key: &str) -> Result<()> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    idempotency::release(&mut conn, principal, key).await?;
    Ok(())
}

/// Forgets expired keys (batches of 1,000); returns how many.
pub async fn sweep(ctx: &Context) -> Result<usize> {
    let now = ctx.clock.now();
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let mut total = 0;
    loop {
        let n = idempotency::sweep(&mut conn, now, 1000).await?;
        total += n;
        if n < 1000 {
            return Ok(total);
        }
    }
}

/// Sweeps expired keys, and fails imports left without progress, every ten minutes until the
/// process ends.
pub async fn run_sweeper(ctx: Context) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sweep(&ctx).await {
            log::warn!("idempotency keys: {e}");
        }
        match super::imports::fail_stale(&ctx).await {
            Ok(0) => {}
            Ok(n) => log::warn!("{n} import(s) without progress for ten minutes marked failed"),
            Err(e) => log::warn!("stale imports: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_is_its_method_path_and_body() {
        let a = super::fingerprint("POST", "/api/v1/needs", b"{}");
        assert_eq!(a, super::fingerprint("POST", "/api/v1/needs", b"{}"));
        assert_ne!(a, super::fingerprint("POST", "/api/v1/needs", b"{ }"));
        assert_ne!(a, super::fingerprint("POST", "/api/v1/leads", b"{}"));
        // The separators keep the parts apart.
        assert_ne!(
            super::fingerprint("POST", "/a", b"b"),
            super::fingerprint("POST", "/a\0b", b"")
        );
    }
}
