//! Resident identity card numbers (居民身份证号码, GB 11643-1999): 18 characters, ISO 7064
//! MOD 11-2 check character; birth date and sex are derived, never typed.

use chrono::{Datelike, NaiveDate};
use std::fmt;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";
/// Province-level prefixes in use (GB/T 2260), plus 81–83 for Hong Kong, Macao and Taiwan
/// residence permits, which use the same algorithm.
const PROVINCES: [u32; 37] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91, 99,
];

text_enum! {
    /// Sex as encoded in the resident ID number (odd 17th digit: male).
    Sex {
        Male = "male",
        Female = "female",
    }
}

/// A valid, normalised resident ID number with what it encodes.
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentId {
    number: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
}

// Never print the number itself (logs, panics).
impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", mask(&self.number))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentIdError {
    FifteenDigits,
    Length(usize),
    Characters,
    Province,
    BirthDate,
    FutureBirthDate,
    CheckCharacter,
}

impl ResidentIdError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::FifteenDigits => "first_generation_id",
            Self::Length(_) => "length",
            Self::Characters => "characters",
            Self::Province => "province",
            Self::BirthDate => "birth_date",
            Self::FutureBirthDate => "birth_date_in_future",
            Self::CheckCharacter => "check_digit",
        }
    }
}

impl fmt::Display for ResidentIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FifteenDigits => write!(
                f,
                "this is a 15-digit first-generation ID number; enter the 18-digit number on the current card"
            ),
            Self::Length(n) => write!(f, "a resident ID number has 18 characters; got {n}"),
            Self::Characters => write!(f, "17 digits followed by a digit or X"),
            Self::Province => write!(f, "the first two digits are not a province code"),
            Self::BirthDate => write!(f, "characters 7–14 are not a real date of birth"),
            Self::FutureBirthDate => write!(f, "the date of birth is in the future"),
            Self::CheckCharacter => write!(f, "the check digit (last character) is wrong"),
        }
    }
}

/// The ISO 7064 MOD 11-2 check character for the first 17 digits.
pub fn check_character(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

impl ResidentId {
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Self, ResidentIdError> {
        let number: String = raw.trim().to_ascii_uppercase();
        let b = number.as_bytes();
        if number.chars().count() == 15 && b.iter().all(u8::is_ascii_digit) {
            return Err(ResidentIdError::FifteenDigits);
        }
        if number.chars().count() != 18 {
            return Err(ResidentIdError::Length(number.chars().count()));
        }
        if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(ResidentIdError::Characters);
        }
        let province: u32 = number[..2]
            .parse()
            .map_err(|_| ResidentIdError::Characters)?;
        if !PROVINCES.contains(&province) {
            return Err(ResidentIdError::Province);
        }
        let birth_date = NaiveDate::parse_from_str(&number[6..14], "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1850)
            .ok_or(ResidentIdError::BirthDate)?;
        if birth_date > today {
            return Err(ResidentIdError::FutureBirthDate);
        }
        if check_character(&b[..17]) != b[17] as char {
            return Err(ResidentIdError::CheckCharacter);
        }
        let sex = if (b[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        };
        Ok(Self {
            number,
            birth_date,
            sex,
        })
    }

    /// The normalised number; handle with care (encrypt before storing, never log).
    pub fn expose(&self) -> &str {
        &self.number
    }

    pub fn masked(&self) -> String {
        mask(&self.number)
    }

    /// Whole years of age on `on`.
    pub fn age_on(&self, on: NaiveDate) -> u32 {
        age(self.birth_date, on)
    }
}

/// Whole years between a birth date and a day.
pub fn age(birth: NaiveDate, on: NaiveDate) -> u32 {
    on.years_since(birth).unwrap_or(0)
}

/// `**************0015`: only the last four kept. The region and birth date are guessable (the
/// person's region is shown, the age band narrows the year), so keeping them would let anyone
/// rebuild the number from a few thousand candidates checked against the check digit.
pub fn mask(number: &str) -> String {
    if number.len() != 18 || !number.is_ascii() {
        return "*".repeat(18);
    }
    format!("{}{}", "*".repeat(14), &number[14..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).expect("valid test value")
    }

    #[test]
    fn accepts_the_reference_vectors() {
        let a = ResidentId::parse("230102199003070015", today()).expect("valid test value");
        assert_eq!(
            a.birth_date,
            NaiveDate::from_ymd_opt(1990, 3, 7).expect("valid test value")
        );
        assert_eq!(a.sex, Sex::Male);
        let leap = ResidentId::parse("230202200002290025", today()).expect("valid test value");
        assert_eq!(
            leap.birth_date,
            NaiveDate::from_ymd_opt(2000, 2, 29).expect("valid test value")
        );
        assert_eq!(leap.sex, Sex::Female);
        assert!(ResidentId::parse("11010519491231002X", today()).is_ok());
        assert_eq!(
            ResidentId::parse("11010519491231002x", today())
                .expect("valid test value")
                .expose(),
            "11010519491231002X"
        );
        assert!(ResidentId::parse("440524188001010014", today()).is_ok());
    }

    #[test]
    fn rejects_wrong_check_digits_and_impossible_dates() {
        assert_eq!(
            ResidentId::parse("230102199003070016", today()),
            Err(ResidentIdError::CheckCharacter)
        );
        assert_eq!(
            ResidentId::parse("230102199002300015", today()),
            Err(ResidentIdError::BirthDate)
        );
        // 2001 is not a leap year.
        assert_eq!(
            ResidentId::parse("230202200102290025", today()),
            Err(ResidentIdError::BirthDate)
        );
        assert_eq!(
            ResidentId::parse("230102203001010015", today()),
            Err(ResidentIdError::FutureBirthDate)
        );
    }

    #[test]
    fn rejects_bad_shapes_with_clear_reasons() {
        assert_eq!(
            ResidentId::parse("230102900307001", today()),
            Err(ResidentIdError::FifteenDigits)
        );
        assert_eq!(
            ResidentId::parse("2301021990", today()),
            Err(ResidentIdError::Length(10))
        );
        assert_eq!(
            ResidentId::parse("23010219900307001Y", today()),
            Err(ResidentIdError::Characters)
        );
        assert_eq!(
            ResidentId::parse("000102199003070015", today()),
            Err(ResidentIdError::Province)
        );
    }

    #[test]
    fn check_characters_follow_mod_11_2() {
        assert_eq!(check_character(b"23010219900307001"), '5');
        assert_eq!(check_character(b"11010519491231002"), 'X');
    }

    #[test]
    fn masks_and_ages() {
        let a = ResidentId::parse("230102199003070015", today()).expect("valid test value");
        assert_eq!(a.masked(), "**************0015");
        assert_eq!(a.age_on(today()), 36);
        assert_eq!(format!("{a:?}"), "ResidentId(**************0015)");
        let birth = NaiveDate::from_ymd_opt(2012, 11, 28).expect("valid test value");
        assert_eq!(age(birth, today()), 14);
        assert_eq!(
            age(birth, today().pred_opt().expect("valid test value")),
            13
        );
    }
}
