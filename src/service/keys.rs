//! The keys for personal identifiers: a start with keys the data was not written with is
//! refused, and `rotate` re-encrypts every ciphertext under the active key.

use serde_json::json;

use super::{audit, transaction, Context, Error, Result};
use crate::db::{keys, Pool};
use crate::privacy::{DataKeys, Field};

/// Compares the configured keys with those the data was written with, remembering new ones.
/// Refuses (with what to do) when the lookup-hash key differs, when a key id now names another
/// key, or when a key that still encrypts stored data is no longer configured.
pub async fn check(
    pool: &Pool,
    data_keys: &DataKeys,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<(), String> {
    let fail = |e: crate::db::Error| format!("key check: {e}");
    let mut conn = crate::db::connect(pool).await.map_err(fail)?;
    let known = keys::fingerprints(&mut conn).await.map_err(fail)?;
    let (data, hmac) = data_keys.fingerprints();
    for (kind, id, stored) in &known {
        match kind.as_str() {
            "hmac" if *stored != hmac => {
                return Err(
                    "AIDBRIDGE_HMAC_KEY is not the key this database's lookup hashes were made with: \
                     with it, ID-number lookups and duplicate checks would silently fail. Restore the \
                     original key (it must never change once data exists)."
                        .into(),
                )
            }
            "data" => match data.iter().find(|(d, _)| d == id) {
                Some((_, fp)) if fp != stored => {
                    return Err(format!(
                        "AIDBRIDGE_DATA_KEYS: key id {id} names another key than the one data was \
                         written with; give the original key under {id}, and a new key a new id"
                    ))
                }
                Some(_) => {}
                None => {
                    let n = keys::ciphertexts_under(&mut conn, id).await.map_err(fail)?;
                    if n > 0 {
                        return Err(format!(
                            "AIDBRIDGE_DATA_KEYS lacks key {id}, which still encrypts {n} stored \
                             values; keep it configured (after the new key) until `aidbridge \
                             rotate-keys` has re-encrypted them"
                        ));
                    }
                }
            },
            _ => {}
        }
    }
    keys::remember(&mut conn, "hmac", "hmac", &hmac, now)
        .await
        .map_err(fail)?;
    for (id, fp) in &data {
        keys::remember(&mut conn, "data", id, fp, now)
            .await
            .map_err(fail)?;
    }
    Ok(())
}

/// Compares the audit ledger's sealing key with the one the ledger was sealed with,
/// remembering it at the first start; refuses another (seals made with it could never be
/// verified with the chain before them).
pub async fn check_audit_key(
    pool: &Pool,
    ledger: &super::ledger::LedgerKeys,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<(), String> {
    let fail = |e: crate::db::Error| format!("key check: {e}");
    let mut conn = crate::db::connect(pool).await.map_err(fail)?;
    let fingerprint = ledger.fingerprint();
    let known = keys::fingerprints(&mut conn).await.map_err(fail)?;
    if known
        .iter()
        .any(|(kind, _, stored)| kind == "audit" && *stored != fingerprint)
    {
        return Err(
            "AIDBRIDGE_AUDIT_KEY is not the key this database's audit ledger was sealed with: \
             seals made with it would break the chain, and verify would report the ledger \
             broken. Restore the original key (it must never change once the ledger exists)."
                .into(),
        );
    }
    keys::remember(&mut conn, "audit", "audit", &fingerprint, now)
        .await
        .map_err(fail)
}

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    pub persons: usize,
    pub guardians: usize,
}

/// Re-encrypts every stored identifier under the active key, in batches of `batch` rows, each
/// batch one transaction with its audit event. Resumable: it picks up whatever is not yet under
/// the active key, and several runs at once share the work (rows locked by one are skipped).
pub async fn rotate(ctx: &Context, batch: i64) -> Result<Rotation> {
    let active = ctx.keys.active_id().to_owned();
    let mut done = Rotation::default();
    loop {
        let (keys_, active_) = (ctx.keys.clone(), active.clone());
        let ev = audit::anonymous(
            ctx,
            "system",
            &Default::default(),
            "keys.rotate",
            "person",
            None,
        );
        let moved = transaction(&ctx.pool, |conn| {
            Box::pin(async move {
                let rows = keys::persons_to_rotate(conn, &active_, batch).await?;
                for (id, id_number, phone) in &rows {
                    let id_number = reencrypt(&keys_, Field::IdNumber, id_number)?;
                    let phone = match phone {
                        Some(p) => Some(reencrypt(&keys_, Field::Phone, p)?),
                        None => None,
                    };
                    keys::set_person_ciphertexts(conn, *id, &id_number, phone.as_deref()).await?;
                }
                let guardians = keys::consents_to_rotate(conn, &active_, batch).await?;
                for (id, c) in &guardians {
                    let c = reencrypt(&keys_, Field::GuardianIdNumber, c)?;
                    keys::set_guardian_ciphertext(conn, *id, &c).await?;
                }
                if !rows.is_empty() || !guardians.is_empty() {
                    audit::append(
                        conn,
                        ev.details(json!({
                            "to_key": active_,
                            "persons": rows.len(),
                            "guardians": guardians.len(),
                        })),
                    )
                    .await?;
                }
                Ok((rows.len(), guardians.len()))
            })
        })
        .await?;
        done.persons += moved.0;
        done.guardians += moved.1;
        if moved == (0, 0) {
            return Ok(done);
        }
    }
}

fn reencrypt(keys: &DataKeys, field: Field, stored: &str) -> Result<String> {
    let plain = keys.decrypt(field, stored).map_err(Error::internal)?;
    keys.encrypt(field, &plain).map_err(Error::internal)
}
