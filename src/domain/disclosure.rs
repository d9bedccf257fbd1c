//! Public disclosure (信息公开) by charities and its deadlines under the 2026 rules
//! (民政部令第81号; DOMAIN-CN §5). All dates are Asia/Shanghai dates.

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

text_enum! {
    DisclosureKind {
        /// 资助标准、工作流程和工作规范
        Procedures = "procedures",
        /// 项目进展
        Progress = "progress",
        /// 财务（募得与使用）
        Financial = "financial",
        /// 项目成果
        Results = "results",
        /// 项目结束后的全面公开
        CloseOut = "close_out",
        /// 剩余财产
        LeftoverProperty = "leftover_property",
        /// 更正
        Correction = "correction",
    }
}

text_enum! {
    /// What a deadline is for.
    Obligation {
        /// A project running over six months: a statement at least every three months.
        Periodic = "periodic",
        /// Full disclosure within three months after a project over six months ends.
        CloseOut = "close_out",
        /// Charities without public-fundraising qualification: the prior year's projects by 31 May.
        Annual = "annual",
    }
}

/// A project's facts that deadlines depend on.
#[derive(Debug, Clone)]
pub struct ProjectTerms {
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// The charity holds public-fundraising qualification (公开募捐资格).
    pub public_fundraising: bool,
}

/// A published statement about the project.
#[derive(Debug, Clone)]
pub struct Statement {
    pub kind: DisclosureKind,
    pub published_on: NaiveDate,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

/// One disclosure that is due (within the warning window) or late.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Due {
    pub obligation: Obligation,
    pub due_on: NaiveDate,
    /// Days past `due_on` (0 while not yet late).
    pub days_late: i64,
}

/// How many days ahead a coming deadline is listed.
pub const WARNING_DAYS: i64 = 30;

fn months(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_months(Months::new(n))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether the project runs over six months.
pub fn long_running(t: &ProjectTerms) -> bool {
    t.ends_on > months(t.starts_on, 6)
}

fn listed(obligation: Obligation, due_on: NaiveDate, as_of: NaiveDate) -> Option<Due> {
    let days = (as_of - due_on).num_days();
    (days > -WARNING_DAYS).then_some(Due {
        obligation,
        due_on,
        days_late: days.max(0),
    })
}

/// Whether a statement reports on the project's course (what the three-monthly rule asks for):
/// procedures, leftover property and corrections do not.
fn reports_progress(kind: DisclosureKind) -> bool {
    matches!(
        kind,
        DisclosureKind::Progress
            | DisclosureKind::Financial
            | DisclosureKind::Results
            | DisclosureKind::CloseOut
    )
}

/// What `project` owes the public on `as_of`, given its published statements. `ends_on` is the
/// day the project actually ended (its planned end, or the day it was closed if earlier).
pub fn due(t: &ProjectTerms, statements: &[Statement], as_of: NaiveDate) -> Vec<Due> {
    let mut out = Vec::new();
    let counted = || {
        statements
            .iter()
            .filter(|s| reports_progress(s.kind) && s.published_on <= as_of)
    };
    if long_running(t) && as_of >= t.starts_on {
        let last = counted()
            .filter(|s| s.published_on >= t.starts_on)
            .map(|s| s.published_on)
            .max()
            .unwrap_or(t.starts_on);
        let next = months(last, 3);
        // While the project runs; after its end the close-out (a full account) takes over.
        if next <= t.ends_on && as_of <= t.ends_on {
            out.extend(listed(Obligation::Periodic, next, as_of));
        }
        let close_out = months(t.ends_on, 3);
        // A close-out accounts for the whole project: published once it has ended.
        let closed_out =
            counted().any(|s| s.kind == DisclosureKind::CloseOut && s.published_on >= t.ends_on);
        if as_of > t.ends_on && !closed_out {
            // Owed from the day after the end, not only in the warning window.
            out.push(Due {
                obligation: Obligation::CloseOut,
                due_on: close_out,
                days_late: (as_of - close_out).num_days().max(0),
            });
        }
    }
    if !t.public_fundraising {
        let prior = as_of.year() - 1;
        let (jan1, dec31) = (
            NaiveDate::from_ymd_opt(prior, 1, 1),
            NaiveDate::from_ymd_opt(prior, 12, 31),
        );
        let may31 = NaiveDate::from_ymd_opt(as_of.year(), 5, 31);
        if let (Some(jan1), Some(dec31), Some(may31)) = (jan1, dec31, may31) {
            let ran_last_year = t.starts_on <= dec31 && t.ends_on >= jan1;
            let reported = counted().any(|s| {
                matches!(s.kind, DisclosureKind::Results | DisclosureKind::CloseOut)
                    && s.period_start <= dec31
                    && s.period_end >= jan1
            });
            if ran_last_year && !reported {
                // Listed from the new year on, not only in the warning window.
                out.push(Due {
                    obligation: Obligation::Annual,
                    due_on: may31,
                    days_late: (as_of - may31).num_days().max(0),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a test date")
    }

    fn year_long(public_fundraising: bool) -> ProjectTerms {
        ProjectTerms {
            starts_on: day("2026-01-01"),
            ends_on: day("2026-12-31"),
            public_fundraising,
        }
    }

    fn statement(kind: DisclosureKind, on: &str) -> Statement {
        Statement {
            kind,
            published_on: day(on),
            period_start: day("2026-01-01"),
            period_end: day(on),
        }
    }

    #[test]
    fn a_short_project_owes_no_periodic_statement() {
        let t = ProjectTerms {
            starts_on: day("2026-01-01"),
            ends_on: day("2026-07-01"),
            public_fundraising: true,
        };
        assert!(!long_running(&t));
        assert!(due(&t, &[], day("2026-06-01")).is_empty());
    }

    #[test]
    fn every_three_months_while_running() {
        let t = year_long(true);
        assert!(due(&t, &[], day("2026-02-28")).is_empty());
        assert_eq!(
            due(&t, &[], day("2026-03-15")),
            [Due {
                obligation: Obligation::Periodic,
                due_on: day("2026-04-01"),
                days_late: 0
            }]
        );
        assert_eq!(due(&t, &[], day("2026-04-11"))[0].days_late, 10);
        let one = [statement(DisclosureKind::Progress, "2026-03-20")];
        assert!(due(&t, &one, day("2026-04-11")).is_empty());
        assert_eq!(
            due(&t, &one, day("2026-06-25"))[0].due_on,
            day("2026-06-20")
        );
        // Procedures are not a report on the project's course.
        let procedures = [statement(DisclosureKind::Procedures, "2026-03-20")];
        assert_eq!(due(&t, &procedures, day("2026-04-11"))[0].days_late, 10);
        // A correction is not a new statement.
        let corrected = [
            statement(DisclosureKind::Progress, "2026-03-20"),
            statement(DisclosureKind::Correction, "2026-06-01"),
        ];
        assert_eq!(due(&t, &corrected, day("2026-06-25"))[0].days_late, 5);
    }

    #[test]
    fn close_out_within_three_months_of_the_end() {
        let t = year_long(true);
        // A statement missed while running is not listed after the end: the close-out is.
        let missed = due(&t, &[], day("2027-01-05"));
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].obligation, Obligation::CloseOut);
        let late_stmt = [statement(DisclosureKind::Progress, "2026-12-01")];
        assert!(due(&t, &late_stmt, day("2026-12-31")).is_empty());
        let d = due(&t, &late_stmt, day("2027-01-05"));
        assert_eq!(d[0].obligation, Obligation::CloseOut);
        assert_eq!(d[0].due_on, day("2027-03-31"));
        assert_eq!(d[0].days_late, 0);
        assert_eq!(due(&t, &late_stmt, day("2027-04-03"))[0].days_late, 3);
        let closed = [
            statement(DisclosureKind::Progress, "2026-12-01"),
            statement(DisclosureKind::CloseOut, "2027-02-01"),
        ];
        assert!(due(&t, &closed, day("2027-04-03")).is_empty());
    }

    #[test]
    fn without_qualification_the_prior_year_by_31_may() {
        let t = ProjectTerms {
            starts_on: day("2026-02-01"),
            ends_on: day("2026-05-01"),
            public_fundraising: false,
        };
        let on_may31 = due(&t, &[], day("2027-05-31"));
        assert_eq!(
            on_may31,
            [Due {
                obligation: Obligation::Annual,
                due_on: day("2027-05-31"),
                days_late: 0
            }]
        );
        assert_eq!(due(&t, &[], day("2027-06-01"))[0].days_late, 1);
        let results = [Statement {
            kind: DisclosureKind::Results,
            published_on: day("2027-03-01"),
            period_start: day("2026-02-01"),
            period_end: day("2026-05-01"),
        }];
        assert!(due(&t, &results, day("2027-06-01")).is_empty());
        // With the qualification the annual rule is not this one's.
        let qualified = ProjectTerms {
            public_fundraising: true,
            ..t
        };
        assert!(due(&qualified, &[], day("2027-06-01")).is_empty());
    }
}
