//! Field encryption for personal identifiers: AES-256-GCM with a key id stored beside each
//! ciphertext (so keys can rotate), and an HMAC-SHA256 keyed hash for exact lookup and
//! de-duplication without decrypting.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;

/// Which column a value belongs to; bound into the ciphertext so values cannot be swapped.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    IdNumber,
    Phone,
    GuardianIdNumber,
    /// An answer kept for an idempotent retry (it may carry personal data).
    StoredResponse,
    /// A webhook subscription's signing secret.
    WebhookSecret,
}

impl Field {
    fn aad(self) -> &'static [u8] {
        match self {
            Field::IdNumber => b"aidbridge:id_number",
            Field::Phone => b"aidbridge:phone",
            Field::GuardianIdNumber => b"aidbridge:guardian_id_number",
            Field::StoredResponse => b"aidbridge:stored_response",
            Field::WebhookSecret => b"aidbridge:webhook_secret",
        }
    }
}

#[derive(Clone)]
pub struct DataKeys {
    active_id: String,
    ciphers: HashMap<String, Aes256Gcm>,
    hmac_key: Vec<u8>,
    /// One-way fingerprints of each data key, by id (for the key check in the database).
    fingerprints: HashMap<String, String>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DataKeys(active={}, keys={})",
            self.active_id,
            self.ciphers.len()
        )
    }
}

#[derive(Debug)]
pub struct CryptoError(pub String);

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl DataKeys {
    /// `keys`: `id:base64key,id:base64key` (the first encrypts; all decrypt); `hmac_key`: base64.
    pub fn from_config(keys: &str, hmac_key: &str) -> Result<Self, String> {
        let mut ciphers = HashMap::new();
        let mut fingerprints = HashMap::new();
        let mut active_id = None;
        for part in keys.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, key) = part
                .split_once(':')
                .ok_or("AIDBRIDGE_DATA_KEYS entries look like id:base64key")?;
            if id.is_empty() || id.contains(':') {
                return Err("AIDBRIDGE_DATA_KEYS: a key id must be non-empty".into());
            }
            let bytes = B64
                .decode(key)
                .map_err(|_| format!("AIDBRIDGE_DATA_KEYS: key {id} is not base64"))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| format!("AIDBRIDGE_DATA_KEYS: key {id} must be 32 bytes"))?;
            active_id.get_or_insert_with(|| id.to_owned());
            ciphers.insert(id.to_owned(), cipher);
            fingerprints.insert(id.to_owned(), fingerprint(&bytes));
        }
        let active_id = active_id.ok_or("AIDBRIDGE_DATA_KEYS has no key")?;
        let hmac_key = B64
            .decode(hmac_key.trim())
            .map_err(|_| "AIDBRIDGE_HMAC_KEY is not base64".to_owned())?;
        if hmac_key.len() < 32 {
            return Err("AIDBRIDGE_HMAC_KEY must be at least 32 bytes".into());
        }
        Ok(Self {
            active_id,
            ciphers,
            hmac_key,
            fingerprints,
        })
    }

    /// The id of the key that encrypts (the first configured).
    pub fn active_id(&self) -> &str {
        &self.active_id
    }

    /// Fingerprints of the data keys by id, and of the lookup-hash key: they tell whether a
    /// key is the one data was written with, and nothing about the key itself.
    pub fn fingerprints(&self) -> (Vec<(String, String)>, String) {
        let mut data: Vec<_> = self
            .fingerprints
            .iter()
            .map(|(id, fp)| (id.clone(), fp.clone()))
            .collect();
        data.sort();
        (data, fingerprint(&self.hmac_key))
    }

    /// A fresh random key set, as `(keys, hmac_key)` configuration strings.
    /// Generates a configuration: `(AIDBRIDGE_DATA_KEYS, AIDBRIDGE_HMAC_KEY)`.
    pub fn generate_config() -> (String, String) {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        let hmac = Aes256Gcm::generate_key(&mut OsRng);
        (format!("k1:{}", B64.encode(key)), B64.encode(hmac))
    }

    /// `v1:<key id>:<base64(nonce ‖ ciphertext)>`.
    pub fn encrypt(&self, field: Field, plaintext: &str) -> Result<String, CryptoError> {
        let cipher = &self.ciphers[&self.active_id];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: field.aad(),
                },
            )
            .map_err(|_| CryptoError("encryption failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!("v1:{}:{}", self.active_id, B64.encode(blob)))
    }

    pub fn decrypt(&self, field: Field, stored: &str) -> Result<String, CryptoError> {
        let mut parts = stored.splitn(3, ':');
        let (Some("v1"), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError("unknown ciphertext format".into()));
        };
        let cipher = self
            .ciphers
            .get(id)
            .ok_or_else(|| CryptoError(format!("no key {id} configured")))?;
        let blob = B64
            .decode(data)
            .map_err(|_| CryptoError("corrupt ciphertext".into()))?;
        if blob.len() < 12 {
            return Err(CryptoError("corrupt ciphertext".into()));
        }
        let (nonce, ct) = blob.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| CryptoError("corrupt ciphertext".into()))?;
        let pt = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: field.aad(),
                },
            )
            .map_err(|_| CryptoError("ciphertext does not authenticate".into()))?;
        String::from_utf8(pt).map_err(|_| CryptoError("corrupt plaintext".into()))
    }

    /// Keyed hash of a normalised value, hex: equal inputs match, the value cannot be recovered.
    pub fn blind_index(&self, normalised: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hmac_key)
            .expect("HMAC takes any key length");
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// SHA-256 of a domain-separated key, hex: a key's identity, not a way back to it.
fn fingerprint(key: &[u8]) -> String {
    use sha2::Digest;
    let mut h = Sha256::new();
    h.update(b"aidbridge key fingerprint v1\n");
    h.update(key);
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> DataKeys {
        let (k, h) = DataKeys::generate_config();
        DataKeys::from_config(&k, &h).expect("valid test value")
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let k = keys();
        let c = k
            .encrypt(Field::IdNumber, "230102199003070015")
            .expect("valid test value");
        assert!(c.starts_with("v1:k1:"));
        assert!(!c.contains("230102199003070015"));
        assert_eq!(
            k.decrypt(Field::IdNumber, &c).expect("valid test value"),
            "230102199003070015"
        );
        assert_ne!(
            c,
            k.encrypt(Field::IdNumber, "230102199003070015")
                .expect("valid test value"),
            "fresh nonce"
        );
    }

    #[test]
    fn a_value_cannot_move_to_another_column() {
        let k = keys();
        let c = k
            .encrypt(Field::Phone, "13812345678")
            .expect("valid test value");
        assert!(k.decrypt(Field::IdNumber, &c).is_err());
    }

    #[test]
    fn old_keys_still_decrypt_after_rotation() {
        let (old, h) = DataKeys::generate_config();
        let before = DataKeys::from_config(&old, &h).expect("valid test value");
        let c = before
            .encrypt(Field::Phone, "13812345678")
            .expect("valid test value");
        let (new, _) = DataKeys::generate_config();
        let rotated = DataKeys::from_config(&format!("{},{}", new.replace("k1:", "k2:"), old), &h)
            .expect("valid test value");
        assert_eq!(
            rotated.decrypt(Field::Phone, &c).expect("valid test value"),
            "13812345678"
        );
        assert!(rotated
            .encrypt(Field::Phone, "1")
            .expect("valid test value")
            .starts_with("v1:k2:"));
        assert_eq!(before.blind_index("x"), rotated.blind_index("x"));
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(DataKeys::from_config("", "AAAA").is_err());
        assert!(DataKeys::from_config("k1:AAAA", &B64.encode([0u8; 32])).is_err());
        let (k, _) = DataKeys::generate_config();
        assert!(DataKeys::from_config(&k, "short").is_err());
    }
}
