//! Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters with two check characters.

use std::fmt;

const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// GB 11714 weights for the organisation code (positions 9–16, check at 17).
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uscc(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsccError {
    Length(usize),
    Character(usize, char),
    OrganizationCodeCheck,
    CheckCharacter { expected: char },
}

impl fmt::Display for UsccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "a unified social credit code has 18 characters; got {n}"),
            Self::Character(pos, c) => write!(
                f,
                "character {c:?} at position {pos} is not allowed (digits and A-Z without I, O, S, V, Z)"
            ),
            Self::OrganizationCodeCheck => {
                write!(f, "the organisation code's check character (position 17) is wrong")
            }
            Self::CheckCharacter { expected } => {
                write!(f, "the check character is wrong (expected {expected})")
            }
        }
    }
}

fn value(c: u8) -> Option<u32> {
    CHARSET.iter().position(|&x| x == c).map(|p| p as u32)
}

/// The GB 32100 check character for the first 17 characters (which must be valid charset).
fn check_character(first17: &[u8]) -> Option<char> {
    let mut sum = 0;
    for (i, &c) in first17.iter().enumerate() {
        sum += value(c)? * WEIGHTS[i];
    }
    Some(CHARSET[((31 - sum % 31) % 31) as usize] as char)
}

/// GB 11714 check over positions 9–16: 11 − S mod 11, 10 → X, 11 → 0.
/// GB 11714 values letters by the full alphabet (A = 10 … Z = 35), unlike GB 32100.
fn organization_check(body: &[u8]) -> Option<char> {
    let mut sum = 0;
    for (i, &c) in body.iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return None,
        };
        sum += v * ORG_WEIGHTS[i];
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10)?,
    })
}

impl Uscc {
    pub fn parse(raw: &str) -> Result<Self, UsccError> {
        let code = raw.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        if code.chars().count() != 18 {
            return Err(UsccError::Length(code.chars().count()));
        }
        if let Some((i, &c)) = bytes.iter().enumerate().find(|(_, &c)| value(c).is_none()) {
            return Err(UsccError::Character(i + 1, c as char));
        }
        // Position 17 uses X for 10 in GB 11714 although X is also in the GB 32100 charset.
        if organization_check(&bytes[8..16]) != Some(bytes[16] as char) {
            return Err(UsccError::OrganizationCodeCheck);
        }
        let expected = check_character(&bytes[..17]).ok_or(UsccError::Length(18))?;
        if expected != bytes[17] as char {
            return Err(UsccError::CheckCharacter { expected });
        }
        Ok(Self(code))
    }

    /// Completes 16 leading characters with both check characters; used for demo data.
    pub fn complete(first16: &str) -> Option<String> {
        let b = first16.as_bytes();
        if b.len() != 16 {
            return None;
        }
        let mut s = first16.to_owned();
        s.push(organization_check(&b[8..16])?);
        let check = check_character(s.as_bytes())?;
        s.push(check);
        Some(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_valid_codes() {
        assert!(Uscc::parse("53230000MJ000123XE").is_ok());
        assert!(Uscc::parse("91350100M000100Y43").is_ok());
        assert_eq!(
            Uscc::parse("53230000mj000123xe")
                .expect("valid test value")
                .as_str(),
            "53230000MJ000123XE"
        );
    }

    #[test]
    fn rejects_wrong_check_character() {
        assert_eq!(
            Uscc::parse("53230000MJ000123XF"),
            Err(UsccError::CheckCharacter { expected: 'E' })
        );
    }

    #[test]
    fn rejects_length_charset_and_org_check() {
        assert_eq!(Uscc::parse("5323"), Err(UsccError::Length(4)));
        assert_eq!(
            Uscc::parse("53230000MJ00012IXE"),
            Err(UsccError::Character(16, 'I'))
        );
        assert_eq!(
            Uscc::parse("53230000MJ0001235E"),
            Err(UsccError::OrganizationCodeCheck)
        );
    }

    #[test]
    fn completes_demo_codes() {
        assert_eq!(
            Uscc::complete("53230000MJ000123").as_deref(),
            Some("53230000MJ000123XE")
        );
        let made = Uscc::complete("51230100MJ000777").expect("valid test value");
        assert!(Uscc::parse(&made).is_ok());
    }
}
