//! Local time for domain rules: ages, validity dates and deadlines are counted in Asia/Shanghai.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// China Standard Time, UTC+8 all year (no daylight saving since 1991).
pub fn china_standard_time() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// The calendar date in Asia/Shanghai at instant `at`.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_standard_time()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_local_date_turns_at_sixteen_hundred_utc() {
        let before = Utc
            .with_ymd_and_hms(2025, 12, 31, 15, 59, 59)
            .single()
            .expect("valid test value");
        let after = Utc
            .with_ymd_and_hms(2025, 12, 31, 16, 0, 0)
            .single()
            .expect("valid test value");
        assert_eq!(
            local_date(before),
            NaiveDate::from_ymd_opt(2025, 12, 31).expect("valid test value")
        );
        assert_eq!(
            local_date(after),
            NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid test value")
        );
    }
}
