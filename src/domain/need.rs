//! Needs (救助需求) and their status machine: open → referred → met | closed (open → closed too).

text_enum! {
    /// What kind of help is needed.
    NeedCategory {
        Medical = "medical",
        Education = "education",
        Employment = "employment",
        Emergency = "emergency",
        Housing = "housing",
        Living = "living",
        CareService = "care_service",
        Psychological = "psychological",
        Rehabilitation = "rehabilitation",
        Skills = "skills",
    }
}

text_enum! {
    /// How urgent; `emergency` is 救急难.
    Urgency {
        Normal = "normal",
        Urgent = "urgent",
        Emergency = "emergency",
    }
}

text_enum! {
    /// Where the need was found.
    NeedSource {
        /// 主动发现 screening
        Screening = "screening",
        /// 申请 application
        Application = "application",
        /// 线索 lead
        Lead = "lead",
        /// 慈善组织报告
        CharityReport = "charity_report",
    }
}

text_enum! {
    NeedStatus {
        Open = "open",
        Referred = "referred",
        Met = "met",
        Closed = "closed",
    }
}

/// Whether a need may move from `from` to `to`.
pub fn can_transition(from: NeedStatus, to: NeedStatus) -> bool {
    use NeedStatus::*;
    matches!(
        (from, to),
        (Open, Referred) | (Open, Closed) | (Referred, Met) | (Referred, Closed) | (Referred, Open)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use NeedStatus::*;

    #[test]
    fn the_status_machine() {
        assert!(can_transition(Open, Referred));
        assert!(can_transition(Referred, Met));
        assert!(can_transition(Referred, Closed));
        assert!(can_transition(Open, Closed));
        // A declined or expired referral puts the need back in the pool.
        assert!(can_transition(Referred, Open));
        assert!(!can_transition(Open, Met));
        assert!(!can_transition(Met, Open));
        assert!(!can_transition(Closed, Referred));
        assert!(!can_transition(Met, Met));
    }
}
