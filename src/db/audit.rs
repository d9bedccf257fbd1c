//! The audit trail (审计日志): append-only, hash-chained events written in the caller's transaction.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::schema::audit_events;
use super::{Conn, Result};

/// Every event is chained to this before the first one.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// One chain: appends take this transaction-scoped lock so the chain stays linear.
const CHAIN_LOCK: i64 = 0x0A1D_B21D_A0D1_0001;

/// An event to append; the service layer fills it from the caller and the clock.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: &'static str,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub action: String,
    pub entity_type: &'static str,
    pub entity_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
}

impl NewAuditEvent {
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn reason(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<Uuid>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
    pub details: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Sorts object keys recursively so the hash does not depend on how JSON was stored.
fn canonical_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canonical_value(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical_value).collect()),
        other => other.clone(),
    }
}

/// The canonical content of an event: every recorded field but the chain itself.
pub fn canonical_content(r: &AuditRow) -> String {
    // Keys in a fixed (sorted) order; serde_json's map without preserve_order sorts them too.
    let v = json!({
        "action": r.action,
        "actor_id": r.actor_id,
        "actor_kind": r.actor_kind,
        "actor_organization_id": r.actor_organization_id,
        "details": canonical_value(&r.details),
        "entity_id": r.entity_id,
        "entity_type": r.entity_type,
        "id": r.id,
        "ip": r.ip,
        "occurred_at": r.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "reason": r.reason,
        "request_id": r.request_id,
    });
    canonical_value(&v).to_string()
}

pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// Appends an event. Must run inside the transaction of the change it records.
pub async fn append(conn: &mut Conn, ev: NewAuditEvent) -> Result<Uuid> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({CHAIN_LOCK})"))
        .execute(conn)
        .await?;
    let prev: Option<String> = audit_events::table
        .select(audit_events::hash)
        .order(audit_events::seq.desc())
        .first(conn)
        .await
        .optional()?;
    let prev = prev.unwrap_or_else(|| GENESIS_HASH.to_owned());
    // PostgreSQL keeps microseconds; hash what will be stored.
    let occurred_at = ev
        .occurred_at
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(ev.occurred_at);
    let mut row = AuditRow {
        seq: 0,
        id: Uuid::now_v7(),
        occurred_at,
        actor_kind: ev.actor_kind.to_owned(),
        actor_id: ev.actor_id,
        actor_organization_id: ev.actor_organization_id,
        action: ev.action,
        entity_type: ev.entity_type.to_owned(),
        entity_id: ev.entity_id,
        ip: ev.ip,
        request_id: ev.request_id,
        reason: ev.reason,
        details: ev.details,
        prev_hash: prev,
        hash: String::new(),
    };
    row.hash = chain_hash(&row.prev_hash, &canonical_content(&row));
    let AuditRow {
        id,
        occurred_at,
        actor_id,
        actor_organization_id,
        action,
        entity_id,
        ip,
        request_id,
        reason,
        details,
        prev_hash,
        hash,
        ..
    } = &row;
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(id),
            audit_events::occurred_at.eq(occurred_at),
            audit_events::actor_kind.eq(ev.actor_kind),
            audit_events::actor_id.eq(actor_id),
            audit_events::actor_organization_id.eq(actor_organization_id),
            audit_events::action.eq(action),
            audit_events::entity_type.eq(ev.entity_type),
            audit_events::entity_id.eq(entity_id),
            audit_events::ip.eq(ip),
            audit_events::request_id.eq(request_id),
            audit_events::reason.eq(reason),
            audit_events::details.eq(details),
            audit_events::prev_hash.eq(prev_hash),
            audit_events::hash.eq(hash),
        ))
        .execute(conn)
        .await?;
    Ok(*id)
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Newest first: return events with `seq` below this.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &AuditFilter) -> Result<Vec<AuditRow>> {
    let mut q = audit_events::table
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(v) = &f.entity_type {
        q = q.filter(audit_events::entity_type.eq(v.clone()));
    }
    if let Some(v) = f.entity_id {
        q = q.filter(audit_events::entity_id.eq(v));
    }
    if let Some(v) = f.actor_id {
        q = q.filter(audit_events::actor_id.eq(v));
    }
    if let Some(v) = &f.action {
        q = q.filter(audit_events::action.eq(v.clone()));
    }
    if let Some(v) = f.from {
        q = q.filter(audit_events::occurred_at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(audit_events::occurred_at.lt(v));
    }
    if let Some(v) = f.before_seq {
        q = q.filter(audit_events::seq.lt(v));
    }
    q.order(audit_events::seq.desc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Where the chain first breaks.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BrokenLink {
    pub seq: i64,
    pub id: Uuid,
    /// `prev_hash_mismatch` (an event before it was removed or altered) or `hash_mismatch` (this event was altered).
    pub problem: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub checked: u64,
    pub first_broken: Option<BrokenLink>,
}

/// Checks a run of rows in `seq` order, continuing from `prev` (the hash before the first row).
pub fn check_rows(prev: &mut String, rows: &[AuditRow], checked: &mut u64) -> Option<BrokenLink> {
    for r in rows {
        *checked += 1;
        if r.prev_hash != *prev {
            return Some(BrokenLink {
                seq: r.seq,
                id: r.id,
                problem: "prev_hash_mismatch",
            });
        }
        if chain_hash(&r.prev_hash, &canonical_content(r)) != r.hash {
            return Some(BrokenLink {
                seq: r.seq,
                id: r.id,
                problem: "hash_mismatch",
            });
        }
        prev.clone_from(&r.hash);
    }
    None
}

/// Walks the whole chain in batches and reports the first broken link.
pub async fn verify(conn: &mut Conn) -> Result<ChainReport> {
    const BATCH: i64 = 2000;
    let mut prev = GENESIS_HASH.to_owned();
    let mut checked = 0u64;
    let mut after = 0i64;
    loop {
        let rows: Vec<AuditRow> = audit_events::table
            .select(AuditRow::as_select())
            .filter(audit_events::seq.gt(after))
            .order(audit_events::seq.asc())
            .limit(BATCH)
            .load(conn)
            .await?;
        if let Some(broken) = check_rows(&mut prev, &rows, &mut checked) {
            return Ok(ChainReport {
                checked,
                first_broken: Some(broken),
            });
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == BATCH => after = last.seq,
            _ => {
                return Ok(ChainReport {
                    checked,
                    first_broken: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev: &str, action: &str) -> AuditRow {
        let mut r = AuditRow {
            seq,
            id: Uuid::now_v7(),
            occurred_at: Utc::now()
                .duration_trunc(TimeDelta::microseconds(1))
                .expect("valid test value"),
            actor_kind: "system".into(),
            actor_id: None,
            actor_organization_id: None,
            action: action.into(),
            entity_type: "organization".into(),
            entity_id: None,
            ip: None,
            request_id: None,
            reason: None,
            details: json!({"b": 1, "a": [1, {"z": 2, "y": 3}]}),
            prev_hash: prev.into(),
            hash: String::new(),
        };
        r.hash = chain_hash(prev, &canonical_content(&r));
        r
    }

    #[test]
    fn an_intact_chain_verifies() {
        let a = row(1, GENESIS_HASH, "x");
        let b = row(2, &a.hash.clone(), "y");
        let mut prev = GENESIS_HASH.to_owned();
        let mut n = 0;
        assert_eq!(check_rows(&mut prev, &[a, b], &mut n), None);
        assert_eq!(n, 2);
    }

    #[test]
    fn an_altered_or_removed_event_is_found() {
        let a = row(1, GENESIS_HASH, "x");
        let b = row(2, &a.hash.clone(), "y");
        let c = row(3, &b.hash.clone(), "z");
        let mut altered = b.clone();
        altered.action = "changed".into();
        let mut prev = GENESIS_HASH.to_owned();
        let found = check_rows(&mut prev, &[a.clone(), altered, c.clone()], &mut 0)
            .expect("valid test value");
        assert_eq!((found.seq, found.problem), (2, "hash_mismatch"));
        let mut prev = GENESIS_HASH.to_owned();
        let found = check_rows(&mut prev, &[a, c], &mut 0).expect("valid test value");
        assert_eq!((found.seq, found.problem), (3, "prev_hash_mismatch"));
    }

    #[test]
    fn key_order_does_not_change_the_content() {
        let v1 = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let v2: Value =
            serde_json::from_str(r#"{"b":{"d":3,"c":2},"a":1}"#).expect("valid test value");
        assert_eq!(
            canonical_value(&v1).to_string(),
            canonical_value(&v2).to_string()
        );
    }
}
