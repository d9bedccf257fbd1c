//! Mainland mobile numbers: normalised (spaces, dashes, +86/0086 removed) and checked.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct MobilePhone(String);

impl fmt::Debug for MobilePhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MobilePhone({})", mask(&self.0))
    }
}

impl MobilePhone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut s: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        for prefix in ["+86", "0086"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest.to_owned();
            }
        }
        if s.len() == 13 && s.starts_with("86") {
            s = s[2..].to_owned();
        }
        let b = s.as_bytes();
        let ok = b.len() == 11
            && b.iter().all(u8::is_ascii_digit)
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1]);
        if ok {
            Ok(Self(s))
        } else {
            Err("a mainland mobile number has 11 digits and starts with 13–19".into())
        }
    }

    /// The normalised number; encrypt before storing, never log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// `138****5678`.
pub fn mask(number: &str) -> String {
    if number.len() != 11 {
        return "*".repeat(number.len());
    }
    format!("{}****{}", &number[..3], &number[7..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_accepts_valid_numbers() {
        for raw in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+8613812345678",
            "008613812345678",
            "8613812345678",
        ] {
            assert_eq!(
                MobilePhone::parse(raw).expect("valid test value").expose(),
                "13812345678",
                "{raw}"
            );
        }
        assert!(MobilePhone::parse("19212345678").is_ok());
    }

    #[test]
    fn rejects_invalid_numbers() {
        for raw in [
            "12812345678",
            "1381234567",
            "1440000000001",
            "0451-12345678",
            "abc",
        ] {
            assert!(MobilePhone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(
            MobilePhone::parse("13812345678")
                .expect("valid test value")
                .masked(),
            "138****5678"
        );
    }
}
