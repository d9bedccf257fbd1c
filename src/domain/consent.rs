//! Consent (知情同意, PIPL arts. 23, 29, 31): who may receive which data categories for which
//! purpose, and the coverage check used by person views and referrals.

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeSet;
use uuid::Uuid;

use super::organization::OrganizationKind;
use super::region;
use super::resident_id::age;

text_enum! {
    /// What the data may be used for (处理目的).
    Purpose {
        /// 转介
        Referral = "referral",
        /// 供需对接
        Matching = "matching",
        /// 跟踪回访
        FollowUp = "follow_up",
    }
}

text_enum! {
    /// Categories of personal data a recipient may see (数据类别).
    DataCategory {
        /// name, masked ID number (last four), sex; never the birth date
        Identity = "identity",
        /// phone
        Contact = "contact",
        /// household reference and size
        Household = "household",
        /// per-capita income and low-income status
        Income = "income",
        /// illness-related circumstances
        Health = "health",
        /// disability
        Disability = "disability",
        /// government aid received
        AidHistory = "aid_history",
    }
}

text_enum! {
    /// How consent was given.
    ConsentMethod {
        Written = "written",
        Electronic = "electronic",
        OralWitnessed = "oral_witnessed",
    }
}

text_enum! {
    /// Who gave it: the person, or a guardian (under 14 or without capacity).
    GivenBy {
        Subject = "subject",
        Guardian = "guardian",
    }
}

text_enum! {
    ConsentStatus {
        /// Recorded with a `given_at` still ahead: not yet in force.
        Pending = "pending",
        Given = "given",
        Withdrawn = "withdrawn",
        Expired = "expired",
    }
}

/// Age under which PIPL art. 31 requires a guardian's consent.
pub const GUARDIAN_AGE: u32 = 14;

/// To whom a consent lets data go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One organisation (a separate consent per recipient, art. 23).
    Organization(Uuid),
    /// Every charity within a region: for matching and open referrals; shows only a
    /// de-identified summary until a consent naming the charity is recorded.
    CharitiesIn(String),
}

/// The facts of one recorded consent that coverage depends on.
#[derive(Debug, Clone)]
pub struct ConsentFacts {
    pub recipient: Recipient,
    pub purposes: Vec<Purpose>,
    pub categories: Vec<DataCategory>,
    pub given_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

/// Status is computed from the clock, never stored: no job has to expire consents.
pub fn status(c: &ConsentFacts, now: DateTime<Utc>) -> ConsentStatus {
    if c.withdrawn_at.is_some_and(|w| w <= now) {
        ConsentStatus::Withdrawn
    } else if c.given_at > now {
        ConsentStatus::Pending
    } else if c.expires_at.is_some_and(|e| e <= now) {
        ConsentStatus::Expired
    } else {
        ConsentStatus::Given
    }
}

/// The organisation asking to see a person.
#[derive(Debug, Clone)]
pub struct Requester {
    pub organization_id: Uuid,
    pub kind: OrganizationKind,
    pub region_code: String,
}

/// What a requester may see of a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Categories named by an active consent for this very organisation.
    pub categories: BTreeSet<DataCategory>,
    /// Covered only by a region-class consent: a de-identified summary, nothing more.
    pub summary_only: bool,
}

impl Coverage {
    pub fn sees_anything(&self) -> bool {
        self.summary_only || !self.categories.is_empty()
    }

    pub fn allows(&self, c: DataCategory) -> bool {
        self.categories.contains(&c)
    }
}

/// The data categories `requester` may see under `consents` for `purpose` (any purpose when
/// `None`) at `now`. Only active consents count; a class consent gives a summary only.
pub fn coverage(
    consents: &[ConsentFacts],
    requester: &Requester,
    purpose: Option<Purpose>,
    now: DateTime<Utc>,
) -> Coverage {
    let mut out = Coverage::default();
    for c in consents {
        if status(c, now) != ConsentStatus::Given {
            continue;
        }
        if let Some(p) = purpose {
            if !c.purposes.contains(&p) {
                continue;
            }
        }
        match &c.recipient {
            Recipient::Organization(id) if *id == requester.organization_id => {
                out.categories.extend(c.categories.iter().copied());
            }
            Recipient::CharitiesIn(scope)
                if requester.kind.is_charity() && region::covers(scope, &requester.region_code) =>
            {
                out.summary_only = true;
            }
            _ => {}
        }
    }
    if !out.categories.is_empty() {
        out.summary_only = false;
    }
    out
}

/// Whether the recipient of a withdrawn consent still sees anything of the person under the
/// other consents: the same coverage rule as reads, for its organisation, or for any charity
/// of its region when it was a region-wide consent.
pub fn recipient_still_covered(
    withdrawn: &Recipient,
    recipient: Option<&Requester>,
    consents: &[ConsentFacts],
    now: DateTime<Utc>,
) -> bool {
    let requester = match (withdrawn, recipient) {
        (Recipient::Organization(_), Some(r)) => r.clone(),
        (Recipient::Organization(_), None) => return false,
        (Recipient::CharitiesIn(scope), _) => Requester {
            organization_id: Uuid::nil(),
            kind: OrganizationKind::Charity,
            region_code: scope.clone(),
        },
    };
    coverage(consents, &requester, None, now).sees_anything()
}

/// Whether consent for a person born on `birth_date` must come from a guardian on `on`.
pub fn needs_guardian(birth_date: NaiveDate, on: NaiveDate) -> bool {
    age(birth_date, on) < GUARDIAN_AGE
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
            .single()
            .expect("valid test value")
    }

    fn charity(id: Uuid, region: &str) -> Requester {
        Requester {
            organization_id: id,
            kind: OrganizationKind::Charity,
            region_code: region.into(),
        }
    }

    fn consent(
        recipient: Recipient,
        purposes: &[Purpose],
        categories: &[DataCategory],
    ) -> ConsentFacts {
        ConsentFacts {
            recipient,
            purposes: purposes.to_vec(),
            categories: categories.to_vec(),
            given_at: now() - Duration::days(1),
            expires_at: Some(now() + Duration::days(30)),
            withdrawn_at: None,
        }
    }

    #[test]
    fn an_organisation_consent_covers_exactly_its_categories() {
        let id = Uuid::new_v4();
        let c = consent(
            Recipient::Organization(id),
            &[Purpose::Referral],
            &[DataCategory::Identity, DataCategory::Health],
        );
        let cov = coverage(&[c], &charity(id, "2301"), None, now());
        assert!(cov.allows(DataCategory::Identity));
        assert!(cov.allows(DataCategory::Health));
        for other in [
            DataCategory::Contact,
            DataCategory::Household,
            DataCategory::Income,
            DataCategory::Disability,
            DataCategory::AidHistory,
        ] {
            assert!(!cov.allows(other), "{other}");
        }
        assert!(!cov.summary_only);
    }

    #[test]
    fn another_organisation_sees_nothing() {
        let c = consent(
            Recipient::Organization(Uuid::new_v4()),
            &[Purpose::Referral],
            &[DataCategory::Identity],
        );
        let cov = coverage(&[c], &charity(Uuid::new_v4(), "2301"), None, now());
        assert!(!cov.sees_anything());
    }

    #[test]
    fn purpose_must_match_when_asked() {
        let id = Uuid::new_v4();
        let c = consent(
            Recipient::Organization(id),
            &[Purpose::Matching],
            &[DataCategory::Identity],
        );
        assert!(!coverage(
            std::slice::from_ref(&c),
            &charity(id, "23"),
            Some(Purpose::Referral),
            now()
        )
        .sees_anything());
        assert!(
            coverage(&[c], &charity(id, "23"), Some(Purpose::Matching), now())
                .allows(DataCategory::Identity)
        );
    }

    #[test]
    fn a_region_class_consent_gives_charities_in_the_region_a_summary_only() {
        let c = consent(
            Recipient::CharitiesIn("2301".into()),
            &[Purpose::Matching],
            &[DataCategory::Identity],
        );
        let inside = coverage(
            std::slice::from_ref(&c),
            &charity(Uuid::new_v4(), "230102"),
            None,
            now(),
        );
        assert!(inside.summary_only);
        assert!(inside.categories.is_empty());
        let outside = coverage(
            std::slice::from_ref(&c),
            &charity(Uuid::new_v4(), "2302"),
            None,
            now(),
        );
        assert!(!outside.sees_anything());
        let bureau = Requester {
            organization_id: Uuid::new_v4(),
            kind: OrganizationKind::Enterprise,
            region_code: "2301".into(),
        };
        assert!(!coverage(&[c], &bureau, None, now()).sees_anything());
    }

    #[test]
    fn a_named_consent_beats_a_class_summary() {
        let id = Uuid::new_v4();
        let class = consent(
            Recipient::CharitiesIn("23".into()),
            &[Purpose::Matching],
            &[],
        );
        let named = consent(
            Recipient::Organization(id),
            &[Purpose::Referral],
            &[DataCategory::Contact],
        );
        let cov = coverage(&[class, named], &charity(id, "2301"), None, now());
        assert!(!cov.summary_only);
        assert!(cov.allows(DataCategory::Contact));
    }

    #[test]
    fn expiry_is_exact_and_withdrawal_ends_access() {
        let id = Uuid::new_v4();
        let mut c = consent(
            Recipient::Organization(id),
            &[Purpose::Referral],
            &[DataCategory::Identity],
        );
        c.expires_at = Some(now());
        assert_eq!(status(&c, now()), ConsentStatus::Expired);
        assert!(
            !coverage(std::slice::from_ref(&c), &charity(id, "23"), None, now()).sees_anything()
        );
        c.expires_at = Some(now() + Duration::seconds(1));
        assert_eq!(status(&c, now()), ConsentStatus::Given);
        assert!(
            coverage(std::slice::from_ref(&c), &charity(id, "23"), None, now()).sees_anything()
        );
        c.withdrawn_at = Some(now() - Duration::seconds(1));
        assert_eq!(status(&c, now()), ConsentStatus::Withdrawn);
        assert!(!coverage(&[c], &charity(id, "23"), None, now()).sees_anything());
    }

    #[test]
    fn not_yet_given_consents_do_not_count() {
        let id = Uuid::new_v4();
        let mut c = consent(
            Recipient::Organization(id),
            &[Purpose::Referral],
            &[DataCategory::Identity],
        );
        c.given_at = now() + Duration::hours(1);
        assert!(!coverage(&[c], &charity(id, "23"), None, now()).sees_anything());
    }

    #[test]
    fn minors_need_a_guardian() {
        let on = NaiveDate::from_ymd_opt(2026, 11, 28).expect("valid test value");
        assert!(needs_guardian(
            NaiveDate::from_ymd_opt(2012, 11, 29).expect("valid test value"),
            on
        ));
        assert!(!needs_guardian(
            NaiveDate::from_ymd_opt(2012, 11, 28).expect("valid test value"),
            on
        ));
        assert!(!needs_guardian(
            NaiveDate::from_ymd_opt(1990, 3, 7).expect("valid test value"),
            on
        ));
    }

    fn org_consent(id: Uuid, categories: &[DataCategory]) -> ConsentFacts {
        consent(
            Recipient::Organization(id),
            &[Purpose::Referral],
            categories,
        )
    }

    #[test]
    fn a_consent_given_ahead_of_now_is_pending_and_covers_nothing_yet() {
        let id = Uuid::new_v4();
        let mut c = org_consent(id, &[DataCategory::Identity]);
        c.given_at = now() + Duration::minutes(3);
        assert_eq!(status(&c, now()), ConsentStatus::Pending);
        let who = charity(id, "230102");
        assert!(!coverage(&[c.clone()], &who, None, now()).sees_anything());
        assert!(coverage(&[c], &who, None, now() + Duration::minutes(4)).sees_anything());
    }

    #[test]
    fn a_withdrawal_leaves_access_where_another_consent_still_covers_it() {
        let id = Uuid::new_v4();
        let who = charity(id, "230102");
        let mut own = org_consent(id, &[DataCategory::Identity]);
        own.withdrawn_at = Some(now() - Duration::minutes(1));
        let class = ConsentFacts {
            recipient: Recipient::CharitiesIn("2301".into()),
            ..org_consent(id, &[])
        };
        let own_recipient = Recipient::Organization(id);
        // The region-wide consent still shows this charity a summary.
        assert!(recipient_still_covered(
            &own_recipient,
            Some(&who),
            &[own.clone(), class.clone()],
            now()
        ));
        assert!(!recipient_still_covered(
            &own_recipient,
            Some(&who),
            &[own.clone()],
            now()
        ));
        // A region-wide withdrawal is judged for any charity of that region.
        let mut class_gone = class.clone();
        class_gone.withdrawn_at = Some(now() - Duration::minutes(1));
        let wider = ConsentFacts {
            recipient: Recipient::CharitiesIn("23".into()),
            ..class.clone()
        };
        let region = Recipient::CharitiesIn("2301".into());
        assert!(recipient_still_covered(
            &region,
            None,
            &[class_gone.clone(), wider],
            now()
        ));
        assert!(!recipient_still_covered(
            &region,
            None,
            &[class_gone],
            now()
        ));
    }
}
