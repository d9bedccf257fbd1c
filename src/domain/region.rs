//! Region codes (行政区划代码): 2/4/6/9/12 digits, Heilongjiang only (prefix `23`).

use std::fmt;

/// Heilongjiang's province code; every region this deployment serves starts with it.
pub const PROVINCE_PREFIX: &str = "23";
const VALID_LENGTHS: [usize; 5] = [2, 4, 6, 9, 12];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegionCode(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionCodeError {
    NotDigits,
    BadLength(usize),
    OutsideProvince,
}

impl fmt::Display for RegionCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDigits => write!(f, "a region code has only digits"),
            Self::BadLength(n) => write!(
                f,
                "a region code has 2, 4, 6, 9 or 12 digits (province, city, county, township, village); got {n}"
            ),
            Self::OutsideProvince => write!(
                f,
                "region code must be in Heilongjiang (start with {PROVINCE_PREFIX})"
            ),
        }
    }
}

impl RegionCode {
    pub fn parse(raw: &str) -> Result<Self, RegionCodeError> {
        let code = raw.trim();
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionCodeError::NotDigits);
        }
        if !VALID_LENGTHS.contains(&code.len()) {
            return Err(RegionCodeError::BadLength(code.len()));
        }
        if !code.starts_with(PROVINCE_PREFIX) {
            return Err(RegionCodeError::OutsideProvince);
        }
        Ok(Self(normalise(code).to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// A scope covers every code it prefixes (230100 covers 230102 and 230102001).
    pub fn covers(&self, other: &str) -> bool {
        covers(&self.0, other)
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// GB/T 2260 writes a province as `230000` and a city as `230100`; as scopes they mean `23`
/// and `2301`, so the padding is dropped (a code then prefixes exactly what it contains).
fn normalise(code: &str) -> &str {
    if code.len() == 6 && code.ends_with("0000") {
        &code[..2]
    } else if code.len() == 6 && code.ends_with("00") {
        &code[..4]
    } else {
        code
    }
}

/// Whether the scope `scope` (a caller's region) includes `code`.
pub fn covers(scope: &str, code: &str) -> bool {
    !scope.is_empty() && code.starts_with(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_level() {
        for c in ["23", "2301", "230102", "230102001", "230102001201"] {
            assert_eq!(RegionCode::parse(c).expect("valid test value").as_str(), c);
        }
    }

    #[test]
    fn six_digit_province_and_city_codes_become_prefixes() {
        assert_eq!(
            RegionCode::parse("230000")
                .expect("valid test value")
                .as_str(),
            "23"
        );
        assert_eq!(
            RegionCode::parse("230100")
                .expect("valid test value")
                .as_str(),
            "2301"
        );
        assert_eq!(
            RegionCode::parse("230102")
                .expect("valid test value")
                .as_str(),
            "230102"
        );
    }

    #[test]
    fn rejects_bad_lengths_and_other_provinces() {
        assert_eq!(RegionCode::parse("230"), Err(RegionCodeError::BadLength(3)));
        assert_eq!(
            RegionCode::parse("2301020012"),
            Err(RegionCodeError::BadLength(10))
        );
        assert_eq!(
            RegionCode::parse("110105"),
            Err(RegionCodeError::OutsideProvince)
        );
        assert_eq!(RegionCode::parse("23a1"), Err(RegionCodeError::NotDigits));
        assert_eq!(RegionCode::parse(""), Err(RegionCodeError::NotDigits));
    }

    #[test]
    fn scope_covers_by_prefix() {
        let harbin = RegionCode::parse("2301").expect("valid test value");
        assert!(harbin.covers("230102"));
        assert!(harbin.covers("2301"));
        assert!(!harbin.covers("230202"));
        assert!(!covers("", "23"));
    }
}
