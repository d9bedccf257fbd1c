//! Referrals (转介) and their status machine (DESIGN §3):
//! pending → accepted → in_progress → completed; pending → declined | expired;
//! pending, accepted, in_progress → cancelled.

use chrono::{DateTime, Duration, Utc};

use super::consent::{Coverage, DataCategory};
use super::need::Urgency;

text_enum! {
    ReferralStatus {
        Pending = "pending",
        Accepted = "accepted",
        InProgress = "in_progress",
        Completed = "completed",
        Declined = "declined",
        Expired = "expired",
        Cancelled = "cancelled",
    }
}

text_enum! {
    /// Why data may go to the charity: the person's consent, or PIPL art. 13(4) (an emergency
    /// threatening life or health), which supervision follows up.
    LegalBasis {
        Consent = "consent",
        Emergency = "emergency",
    }
}

text_enum! {
    DeclineReason {
        NoCapacity = "no_capacity",
        NotEligible = "not_eligible",
        Unreachable = "unreachable",
        Duplicate = "duplicate",
        OutsideScope = "outside_scope",
        Other = "other",
    }
}

text_enum! {
    /// Which referrals a list shows.
    Direction {
        /// Sent by the caller's bureau.
        Sent = "sent",
        /// Addressed to or owned by the caller's charity, or open to its region.
        Received = "received",
    }
}

text_enum! {
    /// How a referral ended for the person.
    Outcome {
        GotHelp = "got_help",
        PartlyHelped = "partly_helped",
        CouldNotHelp = "could_not_help",
        Unreachable = "unreachable",
        DeclinedByPerson = "declined_by_person",
    }
}

impl Outcome {
    /// Whether the needs were met (they move to `met`; otherwise back to `open` for the next
    /// attempt, partly helped included).
    pub fn helped(self) -> bool {
        self == Self::GotHelp
    }
}

/// Whether a referral may move from `from` to `to`.
pub fn can_transition(from: ReferralStatus, to: ReferralStatus) -> bool {
    use ReferralStatus::*;
    matches!(
        (from, to),
        (Pending, Accepted)
            | (Pending, Declined)
            | (Pending, Expired)
            | (Accepted, InProgress)
            | (InProgress, Completed)
            | (Pending, Cancelled)
            | (Accepted, Cancelled)
            | (InProgress, Cancelled)
    )
}

/// Whether the referral has ended (its needs go back to the pool unless helped).
pub fn is_final(s: ReferralStatus) -> bool {
    use ReferralStatus::*;
    matches!(s, Completed | Declined | Expired | Cancelled)
}

/// What a charity reading for purpose `referral` sees, given its consent coverage and the legal
/// bases of the person's open referrals addressed to it or owned by it: without an open
/// referral only the masked summary; under a consent what the consent names; on the emergency
/// basis alone (PIPL art. 13(4)) the least it needs to reach the person — identity and contact.
pub fn coverage_under_referral(cov: Coverage, open: &[LegalBasis]) -> Coverage {
    if open.is_empty() {
        return Coverage {
            categories: Default::default(),
            summary_only: cov.sees_anything(),
        };
    }
    let mut cov = cov;
    if open.contains(&LegalBasis::Emergency) && !open.contains(&LegalBasis::Consent) {
        cov.categories.insert(DataCategory::Identity);
        cov.categories.insert(DataCategory::Contact);
    }
    cov
}

/// The workflow's deadlines (configurable; defaults from the opinions' practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// How long the charity has to answer a referral, by urgency.
    pub normal: Duration,
    pub urgent: Duration,
    /// 救急难.
    pub emergency: Duration,
    /// How long after accepting the charity has to report back.
    pub feedback: Duration,
    /// How long the bureau has to acknowledge a lead.
    pub lead_acknowledge: Duration,
    /// How long a referral on the emergency basis may wait for the person's consent before it
    /// is cancelled (`no_consent`).
    pub emergency_consent: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            normal: Duration::hours(72),
            urgent: Duration::hours(24),
            emergency: Duration::hours(4),
            feedback: Duration::days(30),
            lead_acknowledge: Duration::hours(72),
            emergency_consent: Duration::hours(72),
        }
    }
}

impl Deadlines {
    /// When the charity must have answered: by default 72 h, 24 h or 4 h (救急难) after the
    /// referral.
    pub fn response_due(&self, urgency: Urgency, at: DateTime<Utc>) -> DateTime<Utc> {
        at + match urgency {
            Urgency::Normal => self.normal,
            Urgency::Urgent => self.urgent,
            Urgency::Emergency => self.emergency,
        }
    }

    /// When the charity must report back after accepting.
    pub fn feedback_due(&self, accepted_at: DateTime<Utc>) -> DateTime<Utc> {
        accepted_at + self.feedback
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;

    #[test]
    fn the_status_machine() {
        for (from, to, ok) in [
            (Pending, Accepted, true),
            (Pending, Declined, true),
            (Pending, Expired, true),
            (Accepted, InProgress, true),
            (InProgress, Completed, true),
            (Accepted, Cancelled, true),
            (Accepted, Declined, false),
            (Accepted, Completed, false),
            (Completed, Cancelled, false),
            (Declined, Accepted, false),
            (Expired, Accepted, false),
            (Pending, Pending, false),
        ] {
            assert_eq!(can_transition(from, to), ok, "{from} → {to}");
        }
        assert!(is_final(Declined) && !is_final(InProgress));
    }

    #[test]
    fn a_referral_read_needs_an_open_referral() {
        let named = Coverage {
            categories: [DataCategory::Identity, DataCategory::Health].into(),
            summary_only: false,
        };
        let ended = coverage_under_referral(named.clone(), &[]);
        assert!(ended.categories.is_empty() && ended.summary_only);
        assert!(!coverage_under_referral(Coverage::default(), &[]).sees_anything());
        assert_eq!(
            coverage_under_referral(named.clone(), &[LegalBasis::Consent]),
            named
        );
        let emergency = coverage_under_referral(Coverage::default(), &[LegalBasis::Emergency]);
        assert_eq!(
            emergency.categories,
            [DataCategory::Identity, DataCategory::Contact].into()
        );
        // A consent in force decides when there is one.
        assert_eq!(
            coverage_under_referral(named.clone(), &[LegalBasis::Emergency, LegalBasis::Consent]),
            named
        );
    }

    #[test]
    fn deadlines_follow_urgency() {
        let t: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().expect("a time");
        let d = Deadlines::default();
        assert_eq!(
            d.response_due(Urgency::Emergency, t),
            t + Duration::hours(4)
        );
        assert_eq!(d.response_due(Urgency::Urgent, t), t + Duration::hours(24));
        assert_eq!(d.response_due(Urgency::Normal, t), t + Duration::hours(72));
        assert_eq!(d.feedback_due(t), t + Duration::days(30));
    }
}
