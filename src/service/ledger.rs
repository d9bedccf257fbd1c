//! The audit ledger: the sealer chains committed events with an HMAC under a key kept outside
//! the database and signs checkpoints of the head with Ed25519; `verify` walks the chain and
//! compares it with the newest checkpoint, so rewriting an event (even recomputing every later
//! MAC with SQL) and deleting the newest events are both found.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::Duration;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{access, transaction, Context, Result};
use crate::auth::Caller;
use crate::db::audit::{self, AuditRow, CheckpointRow, SealRow};
use crate::domain::ledger::{
    canonical, checkpoint_message, seal_mac, seal_run_mac, EventContent, GENESIS,
};
use std::collections::HashMap;

/// A checkpoint is signed when the head has moved and the last one is at least this old.
pub const CHECKPOINT_EVERY_SECONDS: i64 = 10;
/// Events per seal, at most.
const SEAL_BATCH: i64 = 1000;
/// Seals read at a time by verify, and events read at a time (about).
const VERIFY_PAGE: i64 = 2000;
const VERIFY_EVENTS: usize = 2000;
/// How far behind the newest seal a pass looks for events whose transaction committed late:
/// every pass a short way (cheap), every [`DEEP_EVERY`]th pass far. Verify reports anything
/// older than a minute that is still unsealed.
const SHALLOW_WINDOW: i64 = 10_000;
const DEEP_WINDOW: i64 = 100_000;
const DEEP_EVERY: u64 = 30;

/// How far back a sealing pass looks.
#[derive(Debug, Clone, Copy)]
pub enum Depth {
    Shallow,
    Deep,
}

/// The ledger's keys: the sealing MAC key and the checkpoint signing key.
pub struct LedgerKeys {
    mac_key: Vec<u8>,
    signing: SigningKey,
    key_id: String,
}

impl LedgerKeys {
    pub fn from_config(mac_key: &str, signing_seed: &str) -> std::result::Result<Self, String> {
        let mac_key = B64
            .decode(mac_key.trim())
            .map_err(|_| "AIDBRIDGE_AUDIT_KEY is not base64".to_owned())?;
        if mac_key.len() < 32 {
            return Err("AIDBRIDGE_AUDIT_KEY must be at least 32 bytes".into());
        }
        let seed: [u8; 32] = B64
            .decode(signing_seed.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("AIDBRIDGE_AUDIT_SIGNING_KEY must be the base64 of 32 bytes")?;
        let signing = SigningKey::from_bytes(&seed);
        let key_id = hex::encode(&Sha256::digest(signing.verifying_key().as_bytes())[..8]);
        Ok(Self {
            mac_key,
            signing,
            key_id,
        })
    }

    /// A fingerprint of the sealing key (SHA-256 with a label; the key cannot be recovered from
    /// it), remembered by the database at the first start.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"aidbridge audit key fingerprint v1\n");
        h.update(&self.mac_key);
        hex::encode(h.finalize())
    }

    /// The checkpoints' public key (base64 of the 32-byte Ed25519 key) and its id.
    pub fn public_key(&self) -> (String, String) {
        (
            B64.encode(self.signing.verifying_key().as_bytes()),
            self.key_id.clone(),
        )
    }
}

fn content(r: &AuditRow) -> String {
    canonical(&EventContent {
        id: r.id,
        occurred_at: r.occurred_at,
        actor_kind: &r.actor_kind,
        actor_id: r.actor_id,
        actor_organization_id: r.actor_organization_id,
        action: &r.action,
        entity_type: &r.entity_type,
        entity_id: r.entity_id,
        ip: r.ip.as_deref(),
        request_id: r.request_id.as_deref(),
        reason: r.reason.as_deref(),
        details: &r.details,
    })
}

/// Seals every committed, unsealed event; one sealer at a time across instances (the others
/// return at once). Returns how many were sealed.
pub async fn seal(ctx: &Context) -> Result<usize> {
    seal_within(ctx, Depth::Deep).await
}

/// Seals what one pass of `depth` finds.
pub async fn seal_within(ctx: &Context, depth: Depth) -> Result<usize> {
    let window = match depth {
        Depth::Shallow => SHALLOW_WINDOW,
        Depth::Deep => DEEP_WINDOW,
    };
    let keys = ctx.ledger.clone();
    let now = ctx.clock.now();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            if !audit::try_seal_lock(conn).await? {
                return Ok(0);
            }
            let last = audit::last_seal(conn).await?;
            let (mut position, mut prev) = last
                .map(|s| (s.position, s.mac))
                .unwrap_or((0, GENESIS.to_owned()));
            let mut after = audit::newest_sealed_seq(conn).await? - window;
            let mut sealed = 0;
            loop {
                let rows = audit::unsealed(conn, after, SEAL_BATCH).await?;
                let Some(newest) = rows.last() else {
                    break;
                };
                // Found oldest first: the next batch starts behind this one.
                after = newest.seq;
                // One seal for the run: rows are in `seq` order, and that is the chain order.
                position += 1;
                let contents: Vec<String> = rows.iter().map(content).collect();
                let mac = seal_run_mac(
                    &keys.mac_key,
                    position,
                    &prev,
                    rows.iter().zip(&contents).map(|(r, c)| (r.seq, c.as_str())),
                );
                audit::insert_seal(
                    conn,
                    &audit::SealRow {
                        position,
                        seq: newest.seq,
                        prev_mac: std::mem::replace(&mut prev, mac.clone()),
                        mac,
                        sealed_at: now,
                        seqs: Some(rows.iter().map(|r| r.seq).collect()),
                    },
                )
                .await?;
                sealed += rows.len();
                if (rows.len() as i64) < SEAL_BATCH {
                    break;
                }
            }
            if position > 0 {
                let newest = audit::checkpoints(conn, 1).await?;
                let due = match newest.first() {
                    None => true,
                    Some(c) => {
                        c.position < position
                            && now - c.signed_at >= Duration::seconds(CHECKPOINT_EVERY_SECONDS)
                    }
                };
                if due {
                    let signature = keys
                        .signing
                        .sign(checkpoint_message(position, &prev, now).as_bytes());
                    audit::insert_checkpoint(
                        conn,
                        &CheckpointRow {
                            position,
                            head_mac: prev.clone(),
                            signed_at: now,
                            key_id: keys.key_id.clone(),
                            signature: B64.encode(signature.to_bytes()),
                        },
                    )
                    .await?;
                }
            }
            Ok(sealed)
        })
    })
    .await
}

/// Where the ledger first fails, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub position: i64,
    /// The event found wrong, when one is known (a missing event; the event of a seal that
    /// covers one).
    pub seq: Option<i64>,
    /// The events the seal at `position` covers, in chain order.
    pub covers: Vec<i64>,
    /// `prev_mismatch` (a seal before it was removed or altered), `mac_mismatch` (the event or
    /// its seal was altered), `covers_mismatch` (a seal's list of events is out of order or
    /// its `seq` is not the highest of them), `event_missing`, `position_gap`, `truncated`
    /// (the chain is shorter than a signed checkpoint), `checkpoint_mismatch`,
    /// `checkpoint_signature` or
    /// `unsealed_event` (no seal covers an event older than a minute).
    pub problem: &'static str,
}

#[derive(Debug, Clone)]
pub struct LedgerReport {
    /// Events whose seal was verified.
    pub checked: u64,
    pub first_broken: Option<Broken>,
    /// The newest signed checkpoint the chain was compared with.
    pub checkpoint: Option<CheckpointRow>,
    /// Events not sealed yet (just committed) or whose seal is missing.
    pub unsealed: i64,
}

fn verify_checkpoint(keys: &LedgerKeys, c: &CheckpointRow) -> bool {
    let Ok(bytes) = B64.decode(&c.signature) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&bytes) else {
        return false;
    };
    let key: VerifyingKey = keys.signing.verifying_key();
    key.verify(
        checkpoint_message(c.position, &c.head_mac, c.signed_at).as_bytes(),
        &sig,
    )
    .is_ok()
}

/// Checks one seal against the one before it (`position`, `prev`) and its events.
fn check_seal(
    keys: &LedgerKeys,
    seal: &SealRow,
    position: i64,
    prev: &str,
    events: &HashMap<i64, AuditRow>,
) -> std::result::Result<(), Broken> {
    let covers = seal.covers();
    let fail = |problem, seq: Option<i64>| Broken {
        position: seal.position,
        // A seal of one event names it.
        seq: seq.or((covers.len() == 1).then(|| covers[0])),
        covers: covers.clone(),
        problem,
    };
    if seal.position != position + 1 {
        return Err(fail("position_gap", None));
    }
    if seal.prev_mac != prev {
        return Err(fail("prev_mismatch", None));
    }
    // A run lists its events in rising order and `seq` is the highest: the sealer finds what
    // is unsealed by it, so a lowered `seq` would let events be sealed twice.
    if !covers.windows(2).all(|w| w[0] < w[1]) || covers.last() != Some(&seal.seq) {
        return Err(fail("covers_mismatch", None));
    }
    let mut contents = Vec::with_capacity(covers.len());
    for seq in &covers {
        match events.get(seq) {
            Some(e) => contents.push(content(e)),
            None => return Err(fail("event_missing", Some(*seq))),
        }
    }
    let mac = match seal.seqs {
        // A seal of one event, as written before seals covered runs.
        None => seal_mac(&keys.mac_key, seal.position, &seal.prev_mac, &contents[0]),
        Some(_) => seal_run_mac(
            &keys.mac_key,
            seal.position,
            &seal.prev_mac,
            covers.iter().zip(&contents).map(|(s, c)| (*s, c.as_str())),
        ),
    };
    if mac != seal.mac {
        return Err(fail("mac_mismatch", None));
    }
    Ok(())
}

/// Seals what is pending, then walks the whole chain and compares it with the newest
/// checkpoint. Auditors only.
pub async fn verify(ctx: &Context, caller: &Caller) -> Result<LedgerReport> {
    access::require_auditor(caller)?;
    seal(ctx).await?;
    let keys = &ctx.ledger;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    // The checkpoint first: seals committed while the walk runs only lengthen the chain, so
    // they cannot make an intact ledger look cut back.
    let checkpoint = audit::checkpoints(&mut conn, 1).await?.into_iter().next();
    let mut prev = GENESIS.to_owned();
    let mut position = 0i64;
    let mut checked = 0u64;
    let mut broken = None;
    'walk: loop {
        let seals = audit::seals_after(&mut conn, position, VERIFY_PAGE).await?;
        if seals.is_empty() {
            break;
        }
        // The page's seals in parts of about VERIFY_EVENTS events, each part's events read
        // with one query (runs hold up to a thousand, old seals one).
        let mut rest = &seals[..];
        while !rest.is_empty() {
            let mut take = 0;
            let mut events_in_part = 0;
            while take < rest.len() && (take == 0 || events_in_part < VERIFY_EVENTS) {
                events_in_part += rest[take].size();
                take += 1;
            }
            let (part, next) = rest.split_at(take);
            rest = next;
            let wanted: Vec<i64> = part.iter().flat_map(SealRow::covers).collect();
            let events: HashMap<i64, AuditRow> = audit::events(&mut conn, &wanted)
                .await?
                .into_iter()
                .map(|e| (e.seq, e))
                .collect();
            for seal in part {
                if let Err(b) = check_seal(keys, seal, position, &prev, &events) {
                    broken = Some(b);
                    break 'walk;
                }
                checked += seal.size() as u64;
                prev.clone_from(&seal.mac);
                position = seal.position;
            }
        }
    }
    if broken.is_none() {
        if let Some(c) = &checkpoint {
            let problem = if !verify_checkpoint(keys, c) {
                Some("checkpoint_signature")
            } else if c.position > position {
                Some("truncated")
            } else {
                match audit::seal_at(&mut conn, c.position).await? {
                    Some(s) if s.mac == c.head_mac => None,
                    _ => Some("checkpoint_mismatch"),
                }
            };
            broken = problem.map(|problem| Broken {
                position: c.position,
                seq: None,
                covers: Vec::new(),
                problem,
            });
        }
    }
    let unsealed = audit::unsealed_count(&mut conn).await?;
    // An event the sealer has had time to chain but did not (committed far behind the others,
    // or inserted around the application) is itself a finding.
    if broken.is_none() {
        let stale =
            audit::unsealed_before(&mut conn, ctx.clock.now() - Duration::minutes(1)).await?;
        if let Some(seq) = stale {
            broken = Some(Broken {
                position,
                seq: Some(seq),
                covers: Vec::new(),
                problem: "unsealed_event",
            });
        }
    }
    Ok(LedgerReport {
        checked,
        first_broken: broken,
        checkpoint,
        unsealed,
    })
}

/// The newest signed checkpoints, for anyone keeping a copy outside the system. Auditors only.
pub async fn checkpoints(ctx: &Context, caller: &Caller, limit: i64) -> Result<Vec<CheckpointRow>> {
    access::require_auditor(caller)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(audit::checkpoints(&mut conn, limit).await?)
}

/// Runs the sealer about every second until the process ends.
pub async fn run_sealer(ctx: Context) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut passes = 0u64;
    loop {
        tick.tick().await;
        passes += 1;
        let depth = if passes.is_multiple_of(DEEP_EVERY) {
            Depth::Deep
        } else {
            Depth::Shallow
        };
        if let Err(e) = seal_within(&ctx, depth).await {
            log::warn!("audit sealer: {e}");
        }
    }
}
