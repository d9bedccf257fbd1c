//! JWT access tokens (HS256): claims, issuing and verification.

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a token says about its bearer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
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

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_seconds: i64,
}

#[derive(Debug, PartialEq)]
pub enum TokenError {
    Expired,
    Invalid,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl_seconds,
        }
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
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Checks the signature, then expiry against `now` (the server's clock, not the library's).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.set_required_spec_claims(&["exp", "sub", "iat"]);
        let claims = decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)?;
        // Short-lived tokens: a few seconds of clock skew between instances, no more.
        if claims.exp + LEEWAY_SECONDS < now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 900)
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys();
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
        let c = k.verify(&t, Utc::now()).expect("valid test value");
        assert_eq!(c.roles, vec!["admin".to_string()]);
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn expired_and_foreign_tokens_fail() {
        let k = keys();
        let now = Utc::now().timestamp();
        let c = Claims {
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
            k.verify(&k.sign(&c).expect("valid test value"), Utc::now()),
            Err(TokenError::Expired)
        );
        let other = TokenKeys::new(b"another-secret-another-secret-xx", 900);
        let t = other
            .issue(
                Uuid::new_v4(),
                "user",
                Uuid::new_v4(),
                vec![],
                "23".into(),
                Utc::now(),
            )
            .expect("valid test value");
        assert_eq!(k.verify(&t, Utc::now()), Err(TokenError::Invalid));
    }
}
