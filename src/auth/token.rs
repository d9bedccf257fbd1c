//! JWT access tokens signed with Ed25519 (`EdDSA`, `kid` in the header): claims, issuing,
//! verification, and the public keys other systems verify them with (JWKS).
//!
//! Keys come as `kid:base64(32-byte seed)` entries; the first signs, all verify, so keys rotate
//! by listing a new one first and dropping the old one once its tokens have expired.

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Who issues the tokens and for whom (checked on every token).
pub const ISSUER: &str = "aidbridge";
pub const AUDIENCE: &str = "aidbridge-api";

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user's or API client's id.
    pub sub: Uuid,
    /// `user` or `client`.
    pub typ: String,
    /// The organisation it acts for.
    pub org: Uuid,
    pub roles: Vec<String>,
    /// Region scope (行政区划代码 prefix).
    pub region: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

const LEEWAY_SECONDS: i64 = 5;
/// Verified tokens remembered (by their hash) so a signature is checked once per token, not
/// once per request; past this the memory starts afresh.
const VERIFIED_CACHE: usize = 50_000;

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410), before the 32-byte seed.
const PKCS8_ED25519: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

#[derive(Clone)]
pub struct TokenKeys {
    signing_kid: String,
    encoding: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    /// `(kid, x)`: each public key, base64url, for the JWKS.
    public: Vec<(String, String)>,
    pub ttl_seconds: i64,
    verified: Arc<Mutex<HashMap<[u8; 32], Claims>>>,
}

#[derive(Debug, PartialEq)]
pub enum TokenError {
    Expired,
    Invalid,
}

impl TokenKeys {
    /// Reads `kid:base64seed[,kid:base64seed…]`.
    pub fn from_config(keys: &str, ttl_seconds: i64) -> Result<Self, String> {
        let mut signing = None;
        let mut verifying = HashMap::new();
        let mut public = Vec::new();
        for part in keys.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kid, seed) = part
                .split_once(':')
                .ok_or("AIDBRIDGE_JWT_KEYS entries look like kid:base64seed")?;
            if kid.is_empty() || verifying.contains_key(kid) {
                return Err(format!(
                    "AIDBRIDGE_JWT_KEYS: key id {kid:?} is empty or repeated"
                ));
            }
            let seed: [u8; 32] = B64
                .decode(seed)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    format!("AIDBRIDGE_JWT_KEYS: key {kid} must be base64 of 32 bytes")
                })?;
            let public_key = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            let x = B64URL.encode(public_key);
            verifying.insert(
                kid.to_owned(),
                DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?,
            );
            public.push((kid.to_owned(), x));
            if signing.is_none() {
                let mut der = PKCS8_ED25519.to_vec();
                der.extend_from_slice(&seed);
                signing = Some((kid.to_owned(), EncodingKey::from_ed_der(&der)));
            }
        }
        let (signing_kid, encoding) = signing.ok_or("AIDBRIDGE_JWT_KEYS has no key")?;
        Ok(Self {
            signing_kid,
            encoding,
            verifying,
            public,
            ttl_seconds,
            verified: Default::default(),
        })
    }

    /// A fresh configuration value with one key.
    pub fn generate_config() -> String {
        use rand::RngCore;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        format!("k1:{}", B64.encode(seed))
    }

    pub fn issue(
        &self,
        sub: Uuid,
        typ: &str,
        org: Uuid,
        roles: Vec<String>,
        region: String,
        now: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now.timestamp();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub,
            typ: typ.to_owned(),
            org,
            roles,
            region,
            iat: now,
            exp: now + self.ttl_seconds,
            jti: Uuid::new_v4(),
        };
        self.sign(&claims)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        encode(&header, claims, &self.encoding)
    }

    /// Checks the signature (by `kid`), issuer and audience, then expiry against `now` (the
    /// server's clock, not the library's). A token already verified is not checked again.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .cloned();
        let claims = match known {
            Some(c) => c,
            None => {
                let c = self.verify_signature(token)?;
                let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= VERIFIED_CACHE {
                    cache.clear();
                }
                cache.insert(digest, c.clone());
                c
            }
        };
        // Short-lived tokens: a few seconds of clock skew between instances, no more.
        if claims.exp + LEEWAY_SECONDS < now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::Invalid)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.validate_exp = false;
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[AUDIENCE]);
        v.set_required_spec_claims(&["exp", "sub", "iat", "iss", "aud"]);
        decode::<Claims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)
    }

    /// The public keys as a JSON Web Key Set (RFC 7517, RFC 8037).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .public
            .iter()
            .map(|(kid, x)| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kid: &str, byte: u8) -> TokenKeys {
        TokenKeys::from_config(&format!("{kid}:{}", B64.encode([byte; 32])), 900)
            .expect("valid test keys")
    }

    #[test]
    fn issued_tokens_verify_and_carry_issuer_audience_and_kid() {
        let k = keys("a", 1);
        let t = k
            .issue(
                Uuid::new_v4(),
                "user",
                Uuid::new_v4(),
                vec!["admin".into()],
                "23".into(),
                Utc::now(),
            )
            .expect("valid test value");
        assert_eq!(decode_header(&t).expect("header").kid.as_deref(), Some("a"));
        let c = k.verify(&t, Utc::now()).expect("valid test value");
        assert_eq!((c.iss.as_str(), c.aud.as_str()), (ISSUER, AUDIENCE));
        assert_eq!(c.roles, vec!["admin".to_string()]);
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn expired_foreign_and_misaddressed_tokens_fail() {
        let k = keys("a", 1);
        let now = Utc::now().timestamp();
        let base = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: Uuid::new_v4(),
            typ: "user".into(),
            org: Uuid::new_v4(),
            roles: vec![],
            region: "23".into(),
            iat: now - 1000,
            exp: now - 100,
            jti: Uuid::new_v4(),
        };
        assert_eq!(
            k.verify(&k.sign(&base).expect("signed"), Utc::now()),
            Err(TokenError::Expired)
        );
        let fresh = Claims {
            exp: now + 600,
            ..base.clone()
        };
        // Another key under the same id, and another audience: both invalid.
        let other = keys("a", 2);
        assert_eq!(
            k.verify(&other.sign(&fresh).expect("signed"), Utc::now()),
            Err(TokenError::Invalid)
        );
        let elsewhere = Claims {
            aud: "someone-else".into(),
            ..fresh.clone()
        };
        assert_eq!(
            k.verify(&k.sign(&elsewhere).expect("signed"), Utc::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn keys_rotate_by_listing_a_new_one_first() {
        let seed = |b: u8| B64.encode([b; 32]);
        let old = TokenKeys::from_config(&format!("old:{}", seed(1)), 900).expect("old");
        let rotated =
            TokenKeys::from_config(&format!("new:{},old:{}", seed(2), seed(1)), 900).expect("both");
        let t = old
            .issue(
                Uuid::new_v4(),
                "user",
                Uuid::new_v4(),
                vec![],
                "23".into(),
                Utc::now(),
            )
            .expect("issued");
        assert!(
            rotated.verify(&t, Utc::now()).is_ok(),
            "old tokens still verify"
        );
        let t2 = rotated
            .issue(
                Uuid::new_v4(),
                "user",
                Uuid::new_v4(),
                vec![],
                "23".into(),
                Utc::now(),
            )
            .expect("issued");
        assert_eq!(
            decode_header(&t2).expect("header").kid.as_deref(),
            Some("new")
        );
        assert_eq!(rotated.jwks()["keys"].as_array().map(Vec::len), Some(2));
    }
}
