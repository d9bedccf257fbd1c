//! Configuration from environment variables; every key has a default so the server runs with no setup.
//! Secrets are held here but never printed (`Debug` redacts them).

use std::fmt;
use std::path::PathBuf;

use chrono::Duration;

use crate::domain::referral::Deadlines;

#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`; unset means the embedded private PostgreSQL cluster.
    pub database_url: Option<String>,
    /// `AIDBRIDGE_READ_DATABASE_URL`: a streaming replica for the reads that may lag (public
    /// disclosure, statistics, the event feed); unset means the primary serves them too.
    pub read_database_url: Option<String>,
    pub bind: String,
    pub data_dir: PathBuf,
    pub pool_size: usize,
    pub workers: Option<usize>,
    /// Ed25519 token signing keys, `kid:base64seed[,…]` (first signs, all verify).
    pub jwt_keys: Option<String>,
    pub token_ttl_seconds: i64,
    /// How long a refresh token of the password grant lasts (each is used once).
    pub refresh_ttl_seconds: i64,
    /// AES-256-GCM keys for ID numbers and phones, `id:base64,id:base64` (first encrypts).
    pub data_keys: Option<String>,
    /// HMAC-SHA256 key (base64) for the ID-number lookup hash.
    pub hmac_key: Option<String>,
    /// HMAC-SHA256 key (base64, >= 32 bytes) that seals the audit ledger; kept outside the
    /// database so that nobody with only database access can rewrite history unnoticed.
    pub audit_key: Option<String>,
    /// Ed25519 key (base64 of the 32-byte seed) that signs the ledger's checkpoints.
    pub audit_signing_key: Option<String>,
    pub admin_password: Option<String>,
    pub login_max_failures: i32,
    pub login_window_seconds: i64,
    pub login_lockout_seconds: i64,
    pub max_body_bytes: usize,
    pub pg_bin: Option<PathBuf>,
    /// Browser origins allowed to call the API (`AIDBRIDGE_CORS_ORIGINS`, comma-separated, or
    /// `*` for any origin without credentials); empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`AIDBRIDGE_TRUSTED_PROXIES`, CIDRs);
    /// from any other peer the header is ignored and the peer's address is recorded.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// When set, `/metrics` answers only with `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Referral and lead deadlines (`AIDBRIDGE_RESPONSE_HOURS` "normal,urgent,emergency",
    /// `AIDBRIDGE_FEEDBACK_DAYS`, `AIDBRIDGE_LEAD_ACK_HOURS`, `AIDBRIDGE_EMERGENCY_CONSENT_HOURS`).
    pub deadlines: Deadlines,
    /// How long the event feed keeps events (`AIDBRIDGE_EVENT_RETENTION_DAYS`, at least 30).
    pub event_retention_days: i64,
    /// Webhooks may go to plain `http://localhost` (`AIDBRIDGE_WEBHOOK_ALLOW_LOOPBACK=true`; for
    /// tests and local relays only: otherwise https alone).
    pub webhook_allow_loopback: bool,
    /// Seed demo organisations and users (always in embedded mode; `--demo` otherwise).
    pub demo: bool,
}

#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: std::str::FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("{name}: cannot parse {v:?}"))),
    }
}

/// Parses trusted proxy networks: CIDRs or single addresses, comma-separated.
pub fn trusted_proxies(raw: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    ConfigError(format!(
                        "AIDBRIDGE_TRUSTED_PROXIES: {p:?} is not an address or CIDR"
                    ))
                })
        })
        .collect()
}

/// Parses the allowed browser origins: `*` alone, or `scheme://host[:port]` values.
pub fn cors_origins(raw: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = raw
        .unwrap_or("")
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.iter().any(|o| o == "*") {
        return if origins.len() == 1 {
            Ok(origins)
        } else {
            Err(ConfigError(
                "AIDBRIDGE_CORS_ORIGINS: `*` stands alone (any origin, no credentials)".into(),
            ))
        };
    }
    for o in &origins {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty() && !r.contains('/') && r.chars().all(|c| c.is_ascii_graphic())
        });
        if !ok {
            return Err(ConfigError(format!(
                "AIDBRIDGE_CORS_ORIGINS: {o:?} is not an origin (scheme://host[:port])"
            )));
        }
    }
    Ok(origins)
}

/// Positive whole hours from the environment.
fn hours(name: &str, default: i64) -> Result<Duration, ConfigError> {
    let h: i64 = parsed(name, default)?;
    if !(1..=24 * 366).contains(&h) {
        return Err(ConfigError(format!("{name}: between 1 and 8784 hours")));
    }
    Ok(Duration::hours(h))
}

/// "normal,urgent,emergency" hours: each at least 1, none longer than the one before.
fn response_hours(v: &str) -> Result<[Duration; 3], ConfigError> {
    let parts: Vec<i64> = v
        .split(',')
        .map(|p| p.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ConfigError(format!("AIDBRIDGE_RESPONSE_HOURS: cannot parse {v:?}")))?;
    match parts[..] {
        [n, u, e] if n >= u && u >= e && e >= 1 && n <= 24 * 366 => {
            Ok([Duration::hours(n), Duration::hours(u), Duration::hours(e)])
        }
        _ => Err(ConfigError(
            "AIDBRIDGE_RESPONSE_HOURS: three hours \"normal,urgent,emergency\", each at least 1 and no longer than the one before".into(),
        )),
    }
}

fn deadlines() -> Result<Deadlines, ConfigError> {
    let d = Deadlines::default();
    let response = match var("AIDBRIDGE_RESPONSE_HOURS") {
        None => [d.normal, d.urgent, d.emergency],
        Some(v) => response_hours(&v)?,
    };
    let feedback_days: i64 = parsed("AIDBRIDGE_FEEDBACK_DAYS", d.feedback.num_days())?;
    if !(1..=366).contains(&feedback_days) {
        return Err(ConfigError(
            "AIDBRIDGE_FEEDBACK_DAYS: between 1 and 366".into(),
        ));
    }
    Ok(Deadlines {
        normal: response[0],
        urgent: response[1],
        emergency: response[2],
        feedback: Duration::days(feedback_days),
        lead_acknowledge: hours("AIDBRIDGE_LEAD_ACK_HOURS", d.lead_acknowledge.num_hours())?,
        emergency_consent: hours(
            "AIDBRIDGE_EMERGENCY_CONSENT_HOURS",
            d.emergency_consent.num_hours(),
        )?,
    })
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let cfg = Self {
            database_url: var("DATABASE_URL"),
            read_database_url: var("AIDBRIDGE_READ_DATABASE_URL"),
            bind: var("AIDBRIDGE_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir: var("AIDBRIDGE_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("./data")),
            pool_size: parsed("AIDBRIDGE_DB_POOL_SIZE", 16)?,
            workers: var("AIDBRIDGE_WORKERS")
                .map(|v| {
                    v.parse()
                        .map_err(|_| ConfigError(format!("AIDBRIDGE_WORKERS: cannot parse {v:?}")))
                })
                .transpose()?,
            jwt_keys: var("AIDBRIDGE_JWT_KEYS"),
            token_ttl_seconds: parsed("AIDBRIDGE_TOKEN_TTL_SECONDS", 900)?,
            refresh_ttl_seconds: parsed("AIDBRIDGE_REFRESH_TTL_SECONDS", 12 * 3600)?,
            data_keys: var("AIDBRIDGE_DATA_KEYS"),
            hmac_key: var("AIDBRIDGE_HMAC_KEY"),
            audit_key: var("AIDBRIDGE_AUDIT_KEY"),
            audit_signing_key: var("AIDBRIDGE_AUDIT_SIGNING_KEY"),
            admin_password: var("AIDBRIDGE_ADMIN_PASSWORD"),
            login_max_failures: parsed("AIDBRIDGE_LOGIN_MAX_FAILURES", 5)?,
            login_window_seconds: parsed("AIDBRIDGE_LOGIN_WINDOW_SECONDS", 900)?,
            login_lockout_seconds: parsed("AIDBRIDGE_LOGIN_LOCKOUT_SECONDS", 900)?,
            max_body_bytes: parsed("AIDBRIDGE_MAX_BODY_BYTES", 1024 * 1024)?,
            pg_bin: var("PG_BIN").map(PathBuf::from),
            cors_origins: cors_origins(var("AIDBRIDGE_CORS_ORIGINS").as_deref())?,
            metrics_token: var("AIDBRIDGE_METRICS_TOKEN"),
            trusted_proxies: trusted_proxies(var("AIDBRIDGE_TRUSTED_PROXIES").as_deref())?,
            deadlines: deadlines()?,
            event_retention_days: parsed("AIDBRIDGE_EVENT_RETENTION_DAYS", 180)?,
            webhook_allow_loopback: parsed("AIDBRIDGE_WEBHOOK_ALLOW_LOOPBACK", false)?,
            demo: false,
        };
        if cfg.pool_size == 0 {
            return Err(ConfigError(
                "AIDBRIDGE_DB_POOL_SIZE must be at least 1".into(),
            ));
        }
        if !(30..=3660).contains(&cfg.event_retention_days) {
            return Err(ConfigError(
                "AIDBRIDGE_EVENT_RETENTION_DAYS must be between 30 and 3660".into(),
            ));
        }
        if cfg.token_ttl_seconds < 30 {
            return Err(ConfigError(
                "AIDBRIDGE_TOKEN_TTL_SECONDS must be at least 30".into(),
            ));
        }
        if let Some(k) = &cfg.jwt_keys {
            crate::auth::token::TokenKeys::from_config(k, cfg.token_ttl_seconds)
                .map_err(ConfigError)?;
        }
        Ok(cfg)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("database_url", &redact(&self.database_url))
            .field("read_database_url", &redact(&self.read_database_url))
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("pool_size", &self.pool_size)
            .field("workers", &self.workers)
            .field("jwt_keys", &redact(&self.jwt_keys))
            .field("token_ttl_seconds", &self.token_ttl_seconds)
            .field("data_keys", &redact(&self.data_keys))
            .field("hmac_key", &redact(&self.hmac_key))
            .field("audit_key", &redact(&self.audit_key))
            .field("audit_signing_key", &redact(&self.audit_signing_key))
            .field("admin_password", &redact(&self.admin_password))
            .field("login_max_failures", &self.login_max_failures)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("cors_origins", &self.cors_origins)
            .field("metrics_token", &redact(&self.metrics_token))
            .field("trusted_proxies", &self.trusted_proxies)
            .field("deadlines", &self.deadlines)
            .field("demo", &self.demo)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn response_hours_are_three_shrinking_positive_numbers() {
        use chrono::Duration;
        assert_eq!(
            super::response_hours("48, 12,2").expect("three shrinking hours"),
            [Duration::hours(48), Duration::hours(12), Duration::hours(2)]
        );
        for bad in [
            "72,24",
            "72,24,4,1",
            "4,24,72",
            "72,24,0",
            "a,b,c",
            "9000,24,4",
            "",
        ] {
            assert!(super::response_hours(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn cors_origins_are_origins_or_a_lone_wildcard() {
        assert_eq!(cors_origins(None).expect("empty"), Vec::<String>::new());
        assert_eq!(
            cors_origins(Some(" https://portal.example.org/ , http://127.0.0.1:3000"))
                .expect("two origins"),
            vec!["https://portal.example.org", "http://127.0.0.1:3000"]
        );
        assert_eq!(cors_origins(Some("*")).expect("any"), vec!["*"]);
        assert!(cors_origins(Some("*,https://a.example")).is_err());
        assert!(cors_origins(Some("portal.example.org")).is_err());
        assert!(cors_origins(Some("https://a.example/path")).is_err());
    }
}
