//! Webhook rules: which URLs may receive personal-data-free events, the signature a receiver
//! checks, and the retry schedule.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

text_enum! {
    DeliveryStatus {
        /// Not yet delivered (first try or a retry is due at `next_attempt_at`).
        Pending = "pending",
        Delivered = "delivered",
        /// Given up after the last attempt; `redeliver` queues it again.
        Dead = "dead",
    }
}

/// Attempts before a delivery is dead-lettered.
pub const MAX_ATTEMPTS: i32 = 8;

/// A receiver's URL: `https`; plain `http` only to this machine and only where the deployment
/// allows it (`allow_loopback`, for tests and local relays), as a loopback receiver in
/// production would let a subscriber reach the server's own local services.
pub fn check_url(raw: &str, allow_loopback: bool) -> Result<(), &'static str> {
    // The URL parser would drop these silently; a receiver's address must be what was sent.
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL contains spaces or control characters");
    }
    let url = url::Url::parse(raw).map_err(|_| "not an absolute URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries credentials");
    }
    let loopback = match url.host().ok_or("the URL names no host")? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_loopback && loopback => Ok(()),
        _ => Err("use https"),
    }
}

/// The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
/// A receiver recomputes it from the raw body and refuses old timestamps (replays).
pub fn signature(secret: &str, at: DateTime<Utc>, body: &str) -> String {
    let t = at.timestamp();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// When to try again after `attempts` failed tries: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly
/// (about two hours of tries before the dead letter, enough for a receiver's redeploy), spread by
/// `jitter` (0.0–1.0, drawn by the caller) over ±20 % so receivers coming back are not flooded.
pub fn retry_at(attempts: i32, now: DateTime<Utc>, jitter: f64) -> DateTime<Utc> {
    let base = (30.0 * 2f64.powi(attempts.clamp(1, 20) - 1)).min(3600.0);
    let spread = base * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    now + Duration::milliseconds((spread * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_https_or_this_machine() {
        for ok in [
            "https://portal.example.org/hooks",
            "https://10.1.2.3:8443/x",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
        ] {
            assert!(check_url(ok, true).is_ok(), "{ok}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(check_url("https://127.0.0.1:9000/hook", false).is_ok());
        for bad in [
            "http://portal.example.org/hooks",
            "http://127.0.0.1.evil.org/",
            "ftp://example.org/",
            "https://",
            "https://user:pw@example.org/",
            "example.org/hook",
            "https://example.org/a b",
            "https://[::1/x",
            "https://exa mple.org/",
            "https://ex%ample.org/",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_signature_covers_time_and_body() {
        let at: DateTime<Utc> = "2026-11-29T00:00:00Z".parse().expect("a time");
        let s = signature("whsec_test", at, "{\"a\":1}");
        assert!(s.starts_with(&format!("t={},v1=", at.timestamp())));
        assert_ne!(s, signature("whsec_test", at, "{\"a\":2}"));
        assert_ne!(s, signature("whsec_other", at, "{\"a\":1}"));
        assert_ne!(
            s,
            signature("whsec_test", at + Duration::seconds(1), "{\"a\":1}")
        );
        // A receiver in a few lines: the same HMAC over "t.body".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").expect("any key");
        mac.update(format!("{}.{{\"a\":1}}", at.timestamp()).as_bytes());
        assert!(s.ends_with(&hex::encode(mac.finalize().into_bytes())));
    }

    #[test]
    fn retries_back_off_to_an_hour_with_jitter() {
        let now: DateTime<Utc> = "2026-11-29T00:00:00Z".parse().expect("a time");
        assert_eq!(retry_at(1, now, 0.5), now + Duration::seconds(30));
        assert_eq!(retry_at(3, now, 0.5), now + Duration::seconds(120));
        assert_eq!(retry_at(30, now, 0.5), now + Duration::seconds(3600));
        assert_eq!(retry_at(3, now, 0.0), now + Duration::seconds(96));
        assert_eq!(retry_at(3, now, 1.0), now + Duration::seconds(144));
    }
}
