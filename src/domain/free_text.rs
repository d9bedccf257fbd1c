//! Free text (notes, reasons, descriptions, evidence references) must not carry personal
//! identifiers: ID numbers and phones have encrypted fields of their own, and text is stored and
//! shown in the clear.

use chrono::NaiveDate;

use super::resident_id::ResidentId;

/// Which identifier a text contains, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    ResidentId,
    MobilePhone,
}

/// Finds a valid resident ID number (18 characters with a correct check digit) or a mainland
/// mobile number (11 digits, 13–19) in `text`, also when written with spaces or dashes.
pub fn find_identifier(text: &str) -> Option<Identifier> {
    // Runs of digits (and X), read through the separators people type inside numbers.
    let mut runs: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let d = match c {
            '0'..='9' => Some(c),
            // Full-width digits.
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            'x' | 'X' if !current.is_empty() => Some('X'),
            _ => None,
        };
        match d {
            Some(d) => current.push(d),
            None => {
                let joins = matches!(c, ' ' | '-' | '－')
                    && !current.is_empty()
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                if !joins && !current.is_empty() {
                    runs.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    for run in &runs {
        let b = run.as_bytes();
        // Any 18-character window that is a valid number: province, real birth date and check
        // digit (a run may hold more than one number; a bank card rarely passes all three).
        let latest = NaiveDate::from_ymd_opt(2200, 1, 1).expect("a valid date");
        for w in b.windows(18) {
            let window = std::str::from_utf8(w).unwrap_or("");
            if ResidentId::parse(window, latest).is_ok() {
                return Some(Identifier::ResidentId);
            }
        }
        if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && !run.contains('X') {
            return Some(Identifier::MobilePhone);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_found_however_they_are_written() {
        assert_eq!(
            find_identifier("本人身份证 230102199003070015，已核实"),
            Some(Identifier::ResidentId)
        );
        assert_eq!(
            find_identifier("ID 230102 19900307 0015"),
            Some(Identifier::ResidentId)
        );
        assert_eq!(
            find_identifier("电话 138-1234-5678 联系家属"),
            Some(Identifier::MobilePhone)
        );
        assert_eq!(
            find_identifier("手机１３８１２３４５６７８"),
            Some(Identifier::MobilePhone)
        );
    }

    #[test]
    fn ordinary_numbers_are_not_identifiers() {
        for text in [
            "医疗救助后仍欠 30000 元",
            "scan-2026-000123",
            "2026-01-01 至 2026-12-31",
            "230102199003070016 (wrong check digit)",
            "订单 123456789012 号",
            "12345678901",
            "费用 1380000 分",
            "银行卡 6222021234567890123",
        ] {
            assert_eq!(find_identifier(text), None, "{text}");
        }
    }
}
