//! Secrets that must survive restarts but need no operator in embedded/demo mode: generated
//! once into the data folder (mode 0600) when configuration does not give them.

use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::privacy::DataKeys;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GeneratedSecrets {
    #[serde(default)]
    pub jwt_keys: String,
    /// `AIDBRIDGE_DATA_KEYS` form: `id:base64key`.
    #[serde(default)]
    pub data_keys: String,
    #[serde(default)]
    pub hmac_key: String,
    /// `AIDBRIDGE_AUDIT_KEY` form (base64).
    #[serde(default)]
    pub audit_key: String,
    /// `AIDBRIDGE_AUDIT_SIGNING_KEY` form (base64 Ed25519 seed).
    #[serde(default)]
    pub audit_signing_key: String,
}

/// Loads `secrets.json` from the data folder, generating only what is missing. Only a missing
/// file counts as missing: any other read or parse error stops the start, because a key
/// generated over existing data would make that data unreadable.
pub fn load_or_generate(data_dir: &Path) -> Result<GeneratedSecrets, String> {
    let path = data_dir.join("secrets.json");
    let mut secrets: GeneratedSecrets = match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: {e} (fix or restore the file; it holds the data keys)",
                path.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => GeneratedSecrets::default(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut changed = false;
    if secrets.jwt_keys.is_empty() {
        secrets.jwt_keys = crate::auth::token::TokenKeys::generate_config();
        changed = true;
    }
    let (keys, hmac) = DataKeys::generate_config();
    if secrets.data_keys.is_empty() {
        secrets.data_keys = keys;
        changed = true;
    }
    if secrets.hmac_key.is_empty() {
        secrets.hmac_key = hmac;
        changed = true;
    }
    if secrets.audit_key.is_empty() {
        secrets.audit_key = random_key_b64();
        changed = true;
    }
    if secrets.audit_signing_key.is_empty() {
        secrets.audit_signing_key = random_key_b64();
        changed = true;
    }
    if changed {
        write_private(data_dir, &path, &secrets)?;
    }
    Ok(secrets)
}

/// 32 random bytes, base64.
fn random_key_b64() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes the file readable by its owner only from the first byte, and atomically (a crash
/// leaves the old file or the new one, never half of one).
fn write_private(dir: &Path, path: &Path, secrets: &GeneratedSecrets) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(secrets).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(".secrets.json.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("create {}: {e}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("write {}: {e}", tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    fs::rename(&tmp, path).map_err(|e| format!("write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("aidbridge-secrets-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn generates_only_what_is_missing_and_keeps_the_rest() {
        let d = dir();
        let first = load_or_generate(&d).expect("generated");
        let mode = fs::metadata(d.join("secrets.json"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The HMAC key goes missing: only it is made again, the data key stays.
        let mut partial = first.clone();
        partial.hmac_key.clear();
        fs::write(
            d.join("secrets.json"),
            serde_json::to_string(&partial).expect("json"),
        )
        .expect("write");
        let second = load_or_generate(&d).expect("loaded");
        assert_eq!(second.data_keys, first.data_keys);
        assert_eq!(second.jwt_keys, first.jwt_keys);
        assert!(!second.hmac_key.is_empty());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_that_cannot_be_read_stops_the_start_instead_of_new_keys() {
        let d = dir();
        fs::write(d.join("secrets.json"), "{ not json").expect("write");
        assert!(load_or_generate(&d).is_err());
        // Still there, untouched.
        assert_eq!(
            fs::read_to_string(d.join("secrets.json")).expect("read"),
            "{ not json"
        );
        let _ = fs::remove_dir_all(&d);
    }
}
