//! Leads (线索): reverse referral and grassroots discovery (DESIGN §3 Lead):
//! submitted → acknowledged → assessing → closed, with an outcome. A bureau may close from any
//! open state (a duplicate is often seen at once), but never reopen.

text_enum! {
    LeadStatus {
        Submitted = "submitted",
        Acknowledged = "acknowledged",
        Assessing = "assessing",
        Closed = "closed",
    }
}

text_enum! {
    /// How the bureau answered the lead.
    LeadOutcome {
        /// Government aid was granted (with the programme and period, recorded as government aid).
        AidGranted = "aid_granted",
        NotEligible = "not_eligible",
        /// Another lead already reported the person (named).
        Duplicate = "duplicate",
        Unreachable = "unreachable",
    }
}

/// Whether a lead may move from `from` to `to`.
pub fn can_transition(from: LeadStatus, to: LeadStatus) -> bool {
    use LeadStatus::*;
    matches!(
        (from, to),
        (Submitted, Acknowledged)
            | (Acknowledged, Assessing)
            | (Submitted, Closed)
            | (Acknowledged, Closed)
            | (Assessing, Closed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use LeadStatus::*;

    #[test]
    fn the_status_machine() {
        for (from, to, ok) in [
            (Submitted, Acknowledged, true),
            (Acknowledged, Assessing, true),
            (Assessing, Closed, true),
            (Submitted, Closed, true),
            (Acknowledged, Closed, true),
            (Submitted, Assessing, false),
            (Assessing, Acknowledged, false),
            (Closed, Submitted, false),
            (Closed, Assessing, false),
            (Closed, Closed, false),
            (Acknowledged, Acknowledged, false),
        ] {
            assert_eq!(can_transition(from, to), ok, "{from} → {to}");
        }
    }
}
