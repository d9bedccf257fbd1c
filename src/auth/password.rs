//! Argon2id hashing for passwords and client secrets (PHC string format).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Memory (KiB), passes and lanes of new hashes: OWASP's Argon2id baseline (19 MiB, 2, 1).
/// Hashes made with other parameters still verify and are replaced at the next sign-in.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// The outcome of checking a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Right, but hashed with older parameters: store a new hash.
    YesRehash,
}

/// Verifies against a stored hash; `None` (unknown account) still spends the same work, so
/// timing does not tell which part of the credentials was wrong.
pub fn check(secret: &str, stored: Option<&str>) -> Verified {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not a real password").unwrap_or_default());
    let target = stored.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(target) else {
        return Verified::No;
    };
    // The stored hash's own parameters verify it (argon2 reads them from the PHC string).
    let ok = Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_ok();
    if !ok || stored.is_none() {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() == MEMORY_KIB && p.t_cost() == PASSES && p.p_cost() == LANES);
    if current {
        Verified::Yes
    } else {
        Verified::YesRehash
    }
}

/// Whether `secret` matches (see [`check`]).
pub fn verify(secret: &str, stored: Option<&str>) -> bool {
    check(secret, stored) != Verified::No
}

/// A random secret for API clients and generated keys (URL-safe, 256 bits).
pub fn random_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse").expect("valid test value");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(&h)));
        assert!(!verify("wrong horse", Some(&h)));
        assert!(!verify("correct horse", None));
    }

    #[test]
    fn random_secrets_differ() {
        assert_ne!(random_secret(), random_secret());
        assert_eq!(random_secret().len(), 43);
    }

    #[test]
    fn a_hash_with_older_parameters_verifies_and_asks_for_a_new_one() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).expect("params"),
        )
        .hash_password(b"s3cret-passphrase", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        assert_eq!(check("s3cret-passphrase", Some(&weak)), Verified::YesRehash);
        assert_eq!(check("wrong", Some(&weak)), Verified::No);
        let fresh = hash("s3cret-passphrase").expect("hash");
        assert!(fresh.contains("m=19456,t=2,p=1"), "{fresh}");
        assert_eq!(check("s3cret-passphrase", Some(&fresh)), Verified::Yes);
    }
}
