//! The audit ledger's rules: what an event's content is (canonically), how a seal chains it to
//! the one before under a key kept outside the database, and what a checkpoint signs.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::Value;
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

/// Serialises JSON with object keys sorted at every depth, whatever map the JSON was read
/// into (a dependency enabling serde_json's `preserve_order` must not change the seals).
struct Sorted<'a>(&'a Value);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.iter().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = s.serialize_map(Some(keys.len()))?;
                for (k, v) in keys {
                    out.serialize_entry(k, &Sorted(v))?;
                }
                out.end()
            }
            Value::Array(a) => {
                let mut out = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    out.serialize_element(&Sorted(v))?;
                }
                out.end()
            }
            other => other.serialize(s),
        }
    }
}

/// The fields in the order of their names: the canonical text's key order.
#[derive(serde::Serialize)]
struct CanonicalEvent<'a> {
    action: &'a str,
    actor_id: Option<Uuid>,
    actor_kind: &'a str,
    actor_organization_id: Option<Uuid>,
    details: Sorted<'a>,
    entity_id: Option<Uuid>,
    entity_type: &'a str,
    id: Uuid,
    ip: Option<&'a str>,
    occurred_at: String,
    reason: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// The canonical text of an event: compact JSON, keys sorted, microsecond UTC time. Written
/// straight from the fields (the sealer does this for every event), never through a `Value`.
pub fn canonical(e: &EventContent) -> String {
    let event = CanonicalEvent {
        action: e.action,
        actor_id: e.actor_id,
        actor_kind: e.actor_kind,
        actor_organization_id: e.actor_organization_id,
        details: Sorted(e.details),
        entity_id: e.entity_id,
        entity_type: e.entity_type,
        id: e.id,
        ip: e.ip,
        occurred_at: e
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        reason: e.reason,
        request_id: e.request_id,
    };
    serde_json::to_string(&event).expect("strings, numbers and string-keyed maps serialise")
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

/// The seal of a run of events at `position`: HMAC-SHA256 over the position, the previous MAC,
/// the run's length and each event's `seq` and SHA-256 in chain order, so neither an event nor
/// the list of events a seal covers can change unnoticed. One seal per run instead of one per
/// event: a seal row cost PostgreSQL about as much as the event it seals, and audited reads
/// append an event each. Framed so no run's message equals another's or a single seal's
/// (those start with the position, these with `run`).
pub fn seal_run_mac<'a>(
    key: &[u8],
    position: i64,
    prev_mac: &str,
    events: impl ExactSizeIterator<Item = (i64, &'a str)>,
) -> String {
    use sha2::Digest;
    let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("run\n{position}\n{prev_mac}\n{}\n", events.len()).as_bytes());
    for (seq, canonical) in events {
        m.update(format!("{seq} ").as_bytes());
        m.update(hex::encode(Sha256::digest(canonical.as_bytes())).as_bytes());
        m.update(b"\n");
    }
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
    use serde_json::json;

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
    fn the_canonical_text_is_fixed() {
        // Seals already written depend on this exact text: it may never change.
        let d = json!({"b": {"d": 3, "c": [{"z": 1, "y": "é\"\n"}]}, "a": 1.5});
        assert_eq!(
            canonical(&content(&d)),
            r#"{"action":"x","actor_id":null,"actor_kind":"system","actor_organization_id":null,"details":{"a":1.5,"b":{"c":[{"y":"é\"\n","z":1}],"d":3}},"entity_id":null,"entity_type":"person","id":"00000000-0000-0000-0000-000000000000","ip":null,"occurred_at":"2023-11-14T22:13:20.000123Z","reason":null,"request_id":null}"#
        );
    }

    #[test]
    fn a_run_seal_depends_on_every_event_its_order_and_its_place() {
        let (a, b) = ((7, "{\"a\":1}"), (9, "{\"b\":2}"));
        let mac = |key: &[u8], pos, prev: &str, run: &[(i64, &str)]| {
            seal_run_mac(key, pos, prev, run.iter().copied())
        };
        let base = mac(b"k", 3, GENESIS, &[a, b]);
        assert_eq!(base, mac(b"k", 3, GENESIS, &[a, b]));
        assert_ne!(base, mac(b"k", 3, GENESIS, &[b, a]));
        assert_ne!(base, mac(b"k", 3, GENESIS, &[a]));
        assert_ne!(
            base,
            mac(b"k", 3, GENESIS, &[a, (8, b.1)]),
            "the seqs are sealed"
        );
        assert_ne!(base, mac(b"k", 4, GENESIS, &[a, b]));
        assert_ne!(base, mac(b"k", 3, &base, &[a, b]));
        assert_ne!(base, mac(b"j", 3, GENESIS, &[a, b]));
        // A run of one is not the single seal of the same event.
        assert_ne!(mac(b"k", 1, GENESIS, &[a]), seal_mac(b"k", 1, GENESIS, a.1));
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
