//! Secrets that must survive restarts but need no operator in embedded/demo mode: generated
//! once into the data folder (mode 0600) when not given by configuration.

use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::auth::password::random_secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratedSecrets {
    pub jwt_secret: String,
}

/// Loads `secrets.json` from the data folder, creating it on first use.
pub fn load_or_generate(data_dir: &Path) -> Result<GeneratedSecrets, String> {
    let path = data_dir.join("secrets.json");
    if let Ok(text) = fs::read_to_string(&path) {
        return serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
    let secrets = GeneratedSecrets {
        jwt_secret: random_secret(),
    };
    let text = serde_json::to_string_pretty(&secrets).map_err(|e| e.to_string())?;
    fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(|e| e.to_string())?;
    Ok(secrets)
}
