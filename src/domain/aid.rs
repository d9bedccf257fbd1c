//! Aid records (帮扶记录), special funds' ledger entries and the duplicate-aid rule (一人多头
//!救助): the same person helped in the same category by two sources in overlapping periods.

use chrono::NaiveDate;

use super::need::NeedCategory;
use super::person::Programme;
use super::project::AidForm;

text_enum! {
    /// What was given.
    AidRecordForm {
        Cash = "cash",
        /// 实物
        InKind = "in_kind",
        Service = "service",
    }
}

text_enum! {
    /// Kinds of service (服务类帮扶).
    ServiceType {
        /// 探访照料
        VisitCare = "visit_care",
        /// 心理疏导
        Psychological = "psychological",
        /// 康复
        Rehabilitation = "rehabilitation",
        /// 技能培训
        Skills = "skills",
    }
}

text_enum! {
    /// A fund ledger entry: income (`donation`), expenditure (`aid`, `grant`) or the reversal of
    /// an earlier entry.
    EntryKind {
        Donation = "donation",
        Aid = "aid",
        Grant = "grant",
        Reversal = "reversal",
    }
}

text_enum! {
    FundStatus {
        Active = "active",
        Closed = "closed",
    }
}

/// What an entry does to the balance: `+amount` for income, `-amount` for expenditure; a
/// reversal undoes the entry it reverses (`reversed_delta`).
pub fn delta(kind: EntryKind, amount_fen: i64, reversed_delta: Option<i64>) -> Option<i64> {
    match kind {
        EntryKind::Donation => Some(amount_fen),
        EntryKind::Aid | EntryKind::Grant => Some(-amount_fen),
        EntryKind::Reversal => reversed_delta.map(|d| -d),
    }
}

/// Whether a record of `form` fits a project that gives `project_form`.
pub fn form_fits(form: AidRecordForm, project_form: AidForm) -> bool {
    match form {
        AidRecordForm::Cash | AidRecordForm::InKind => project_form != AidForm::Service,
        AidRecordForm::Service => project_form != AidForm::Material,
    }
}

/// The need categories a government programme serves (for the duplicate-aid rule and the
/// statistics by category).
pub fn programme_categories(p: Programme) -> &'static [NeedCategory] {
    use NeedCategory as C;
    match p {
        Programme::SubsistenceAllowance => &[C::Living],
        Programme::ExtremePovertySupport => &[C::Living, C::CareService],
        Programme::DisasterRelief => &[C::Emergency, C::Housing],
        Programme::MedicalAid => &[C::Medical],
        Programme::EducationAid => &[C::Education],
        Programme::HousingAid => &[C::Housing],
        Programme::EmploymentAid => &[C::Employment, C::Skills],
        Programme::TemporaryAid => &[C::Emergency, C::Living],
    }
}

/// Closed date ranges that share at least one day.
pub fn overlaps(a: (NaiveDate, NaiveDate), b: (NaiveDate, NaiveDate)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// Another source's help that a new record may duplicate.
#[derive(Debug, Clone)]
pub enum OtherAid {
    Government {
        programme: Programme,
        period: (NaiveDate, NaiveDate),
    },
    Charity {
        organization_id: uuid::Uuid,
        category: NeedCategory,
        period: (NaiveDate, NaiveDate),
    },
}

/// Whether a record by `organization` of `category` over `period` duplicates `other`: the
/// same category from another source (a government programme, or another charity) in an
/// overlapping period. The same charity's records are one source.
pub fn duplicates(
    organization: uuid::Uuid,
    category: NeedCategory,
    period: (NaiveDate, NaiveDate),
    other: &OtherAid,
) -> bool {
    match other {
        OtherAid::Government {
            programme,
            period: p,
        } => programme_categories(*programme).contains(&category) && overlaps(period, *p),
        OtherAid::Charity {
            organization_id,
            category: c,
            period: p,
        } => *organization_id != organization && *c == category && overlaps(period, *p),
    }
}

/// Service hours as stored (whole minutes) from hours given with up to two decimals.
pub fn minutes_from_hours(hours: f64) -> Option<i32> {
    if !hours.is_finite() || hours <= 0.0 || hours > 10_000.0 {
        return None;
    }
    Some((hours * 60.0).round() as i32).filter(|m| *m > 0)
}

/// Hours for display, to two decimals.
pub fn hours_from_minutes(minutes: i64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a test date")
    }

    #[test]
    fn ledger_deltas() {
        assert_eq!(delta(EntryKind::Donation, 500, None), Some(500));
        assert_eq!(delta(EntryKind::Aid, 500, None), Some(-500));
        assert_eq!(delta(EntryKind::Grant, 500, None), Some(-500));
        assert_eq!(delta(EntryKind::Reversal, 500, Some(-500)), Some(500));
        assert_eq!(delta(EntryKind::Reversal, 500, Some(500)), Some(-500));
        assert_eq!(delta(EntryKind::Reversal, 500, None), None);
    }

    #[test]
    fn forms_fit_projects() {
        assert!(form_fits(AidRecordForm::Cash, AidForm::Material));
        assert!(form_fits(AidRecordForm::InKind, AidForm::Both));
        assert!(!form_fits(AidRecordForm::Cash, AidForm::Service));
        assert!(form_fits(AidRecordForm::Service, AidForm::Service));
        assert!(!form_fits(AidRecordForm::Service, AidForm::Material));
    }

    #[test]
    fn duplicate_aid_cases() {
        let me = Uuid::from_u128(1);
        let other = Uuid::from_u128(2);
        let june = (day("2026-06-01"), day("2026-06-30"));
        let gov = |programme, from: &str, to: &str| OtherAid::Government {
            programme,
            period: (day(from), day(to)),
        };
        let charity = |organization_id, category, from: &str, to: &str| OtherAid::Charity {
            organization_id,
            category,
            period: (day(from), day(to)),
        };
        let cases = [
            (
                "medical aid in June",
                gov(Programme::MedicalAid, "2026-06-15", "2026-06-15"),
                true,
            ),
            (
                "medical aid in May",
                gov(Programme::MedicalAid, "2026-05-01", "2026-05-31"),
                false,
            ),
            (
                "a shared last day",
                gov(Programme::MedicalAid, "2026-05-01", "2026-06-01"),
                true,
            ),
            (
                "education aid",
                gov(Programme::EducationAid, "2026-06-01", "2026-06-30"),
                false,
            ),
            (
                "another charity",
                charity(other, NeedCategory::Medical, "2026-06-10", "2026-07-10"),
                true,
            ),
            (
                "same charity",
                charity(me, NeedCategory::Medical, "2026-06-10", "2026-07-10"),
                false,
            ),
            (
                "another category",
                charity(other, NeedCategory::Living, "2026-06-10", "2026-06-10"),
                false,
            ),
        ];
        for (name, other, expected) in cases {
            assert_eq!(
                duplicates(me, NeedCategory::Medical, june, &other),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn hours_and_minutes() {
        assert_eq!(minutes_from_hours(1.5), Some(90));
        assert_eq!(minutes_from_hours(0.01), Some(1));
        assert_eq!(minutes_from_hours(0.0), None);
        assert_eq!(minutes_from_hours(f64::NAN), None);
        assert_eq!(minutes_from_hours(20_000.0), None);
        assert_eq!(hours_from_minutes(90), 1.5);
        assert_eq!(hours_from_minutes(1), 0.02);
    }
}

text_enum! {
    PairingStatus {
        Active = "active",
        Ended = "ended",
    }
}

text_enum! {
    /// What a volunteer's visit was (关爱陪伴).
    VisitKind {
        /// 入户探访
        HomeVisit = "home_visit",
        /// 电话问候
        PhoneCall = "phone_call",
        /// 陪同就医、办事
        Accompany = "accompany",
        Other = "other",
    }
}
