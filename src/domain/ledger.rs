//! The audit ledger's rules: what an event's content is (canonically), how a seal chains it to
//! the one before under a key kept outside the database, and what a checkpoint signs.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

/// The MAC before the first seal.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Every recorded field of an event, as sealed.
pub struct EventContent<'a> {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: &'a str,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<Uuid>,
    pub ip: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub details: &'a Value,
}

/// Sorts object keys recursively so the MAC does not depend on how JSON was stored.
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

/// The canonical text of an event: sorted keys, microsecond UTC time.
pub fn canonical(e: &EventContent) -> String {
    let v = json!({
        "action": e.action,
        "actor_id": e.actor_id,
        "actor_kind": e.actor_kind,
        "actor_organization_id": e.actor_organization_id,
        "details": canonical_value(e.details),
        "entity_id": e.entity_id,
        "entity_type": e.entity_type,
        "id": e.id,
        "ip": e.ip,
        "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "reason": e.reason,
        "request_id": e.request_id,
    });
    canonical_value(&v).to_string()
}

/// The seal at `position`: HMAC-SHA256 over the position, the previous MAC and the event, so
/// nobody without the key can rewrite an event and recompute the chain after it.
pub fn seal_mac(key: &[u8], position: i64, prev_mac: &str, canonical: &str) -> String {
    let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(position.to_string().as_bytes());
    m.update(b"\n");
    m.update(prev_mac.as_bytes());
    m.update(b"\n");
    m.update(canonical.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// What a checkpoint signs: the chain's length, its head and when.
pub fn checkpoint_message(position: i64, head_mac: &str, signed_at: DateTime<Utc>) -> String {
    format!(
        "aidbridge audit checkpoint v1\n{position}\n{head_mac}\n{}",
        signed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(details: &Value) -> EventContent<'_> {
        EventContent {
            id: Uuid::nil(),
            occurred_at: DateTime::from_timestamp(1_700_000_000, 123_000).expect("time"),
            actor_kind: "system",
            actor_id: None,
            actor_organization_id: None,
            action: "x",
            entity_type: "person",
            entity_id: None,
            ip: None,
            request_id: None,
            reason: None,
            details,
        }
    }

    #[test]
    fn key_order_does_not_change_the_content() {
        let a = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let b: Value = serde_json::from_str(r#"{"b":{"d":3,"c":2},"a":1}"#).expect("json");
        assert_eq!(canonical(&content(&a)), canonical(&content(&b)));
    }

    #[test]
    fn a_seal_depends_on_key_position_predecessor_and_content() {
        let d = json!({"k": 1});
        let c = canonical(&content(&d));
        let base = seal_mac(b"key-one", 1, GENESIS, &c);
        assert_eq!(base, seal_mac(b"key-one", 1, GENESIS, &c));
        assert_ne!(base, seal_mac(b"key-two", 1, GENESIS, &c));
        assert_ne!(base, seal_mac(b"key-one", 2, GENESIS, &c));
        assert_ne!(base, seal_mac(b"key-one", 1, &base, &c));
        let other = json!({"k": 2});
        assert_ne!(
            base,
            seal_mac(b"key-one", 1, GENESIS, &canonical(&content(&other)))
        );
    }
}
