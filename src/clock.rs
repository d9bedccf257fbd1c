//! The one source of "now": the system clock in production, a settable clock in tests.
//!
//! Deadlines, consent expiry and ages all read time through a [`Clock`], so tests move time
//! instead of sleeping. The domain's "today" is the date in Asia/Shanghai
//! ([`crate::domain::time::local_date`]), not UTC's.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::sync::{Arc, RwLock};

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: a fixed instant that only moves when told to.
    fixed: Option<Arc<RwLock<DateTime<Utc>>>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { fixed: None }
    }

    /// A clock that stands still at `at` until [`Clock::set`] or [`Clock::advance`] moves it.
    pub fn settable(at: DateTime<Utc>) -> Self {
        Self {
            fixed: Some(Arc::new(RwLock::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.fixed {
            None => Utc::now(),
            Some(t) => *t.read().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Today's date where the people helped live (Asia/Shanghai).
    pub fn today(&self) -> NaiveDate {
        crate::domain::time::local_date(self.now())
    }

    /// Moves a settable clock to `at`; the system clock ignores it (returns false).
    pub fn set(&self, at: DateTime<Utc>) -> bool {
        match &self.fixed {
            None => false,
            Some(t) => {
                *t.write().unwrap_or_else(|e| e.into_inner()) = at;
                true
            }
        }
    }

    /// Moves a settable clock forward by `by`.
    pub fn advance(&self, by: Duration) -> bool {
        let next = self.now() + by;
        self.set(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_settable_clock_moves_only_when_told() {
        let start = Utc
            .with_ymd_and_hms(2026, 3, 1, 15, 59, 0)
            .single()
            .expect("valid test value");
        let clock = Clock::settable(start);
        assert_eq!(clock.now(), start);
        // 23:59 in Shanghai: still 1 March there.
        assert_eq!(
            clock.today(),
            NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid test value")
        );
        assert!(clock.advance(Duration::minutes(1)));
        assert_eq!(
            clock.today(),
            NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid test value")
        );
    }

    #[test]
    fn the_system_clock_cannot_be_set() {
        assert!(!Clock::system().set(Utc::now()));
    }
}
