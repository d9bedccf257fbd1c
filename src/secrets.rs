//! Secrets that must survive restarts but need no operator in embedded/demo mode: generated
//! once into the data folder (mode 0600) when configuration does not give them.

use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::auth::password::random_secret;
use crate::privacy::DataKeys;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GeneratedSecrets {
    #[serde(default)]
    pub jwt_secret: String,
    /// `AIDBRIDGE_DATA_KEYS` form: `id:base64key`.
    #[serde(default)]
    pub data_keys: String,
    #[serde(default)]
    pub hmac_key: String,
}

/// Loads `secrets.json` from the data folder, generating whatever is missing.
pub fn load_or_generate(data_dir: &Path) -> Result<GeneratedSecrets, String> {
    let path = data_dir.join("secrets.json");
    let mut secrets: GeneratedSecrets = match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(_) => GeneratedSecrets::default(),
    };
    let mut changed = false;
    if secrets.jwt_secret.is_empty() {
        secrets.jwt_secret = random_secret();
        changed = true;
    }
    if secrets.data_keys.is_empty() || secrets.hmac_key.is_empty() {
        let (keys, hmac) = DataKeys::generate_config();
        secrets.data_keys = keys;
        secrets.hmac_key = hmac;
        changed = true;
    }
    if changed {
        fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
        let text = serde_json::to_string_pretty(&secrets).map_err(|e| e.to_string())?;
        fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    }
    Ok(secrets)
}
