//! Roles carried in tokens and the authorisation rules that depend only on them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

use super::organization::OrganizationKind;

/// What a caller may do (JWT `roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 民政 staff: people and cases in their region.
    CivilAffairs,
    /// 慈善组织 staff: their organisation's projects, referrals addressed to it.
    Charity,
    /// 基层 community, grid and volunteer workers: report leads.
    Grassroots,
    /// 监督 supervision: read-only everywhere, the audit trail.
    Auditor,
    /// Platform operator: organisations, users, API clients; no case data.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::CivilAffairs,
        Role::Charity,
        Role::Grassroots,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CivilAffairs => "civil_affairs",
            Role::Charity => "charity",
            Role::Grassroots => "grassroots",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

/// Whether a member of an organisation of `kind` may hold `role`.
/// Staff roles follow the organisation's nature; grassroots workers and auditors
/// may be attached to any organisation; the platform operator sits in an `other` org.
pub fn role_allowed_for(kind: OrganizationKind, role: Role) -> bool {
    use OrganizationKind::*;
    match role {
        Role::CivilAffairs => matches!(kind, CivilAffairsBureau | TownshipOffice),
        Role::Charity => matches!(
            kind,
            Charity | CharityFederation | RedCross | SocialWorkAgency
        ),
        Role::Grassroots | Role::Auditor => true,
        Role::Admin => matches!(kind, Other),
    }
}

/// True when the caller holds at least one of the `required` roles.
pub fn has_any(held: &[Role], required: &[Role]) -> bool {
    held.iter().any(|r| required.contains(r))
}

/// Separation of duties: supervision and platform administration are never combined with
/// another role (an auditor who also writes case data would audit their own work).
pub fn separated(roles: &[Role]) -> bool {
    let exclusive = roles
        .iter()
        .any(|r| matches!(r, Role::Auditor | Role::Admin));
    let distinct: std::collections::BTreeSet<_> = roles.iter().map(|r| r.as_str()).collect();
    !exclusive || distinct.len() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn staff_roles_follow_the_organisation_kind() {
        assert!(role_allowed_for(
            OrganizationKind::CivilAffairsBureau,
            Role::CivilAffairs
        ));
        assert!(role_allowed_for(
            OrganizationKind::TownshipOffice,
            Role::CivilAffairs
        ));
        assert!(!role_allowed_for(
            OrganizationKind::Charity,
            Role::CivilAffairs
        ));
        assert!(role_allowed_for(OrganizationKind::RedCross, Role::Charity));
        assert!(!role_allowed_for(
            OrganizationKind::CivilAffairsBureau,
            Role::Charity
        ));
        assert!(role_allowed_for(
            OrganizationKind::Charity,
            Role::Grassroots
        ));
        assert!(!role_allowed_for(OrganizationKind::Charity, Role::Admin));
        assert!(role_allowed_for(OrganizationKind::Other, Role::Admin));
    }

    #[test]
    fn any_of_the_required_roles_suffices() {
        assert!(has_any(&[Role::Charity, Role::Auditor], &[Role::Auditor]));
        assert!(!has_any(&[Role::Charity], &[Role::Admin, Role::Auditor]));
        assert!(!has_any(&[], &[Role::Admin]));
    }

    #[test]
    fn auditors_and_admins_hold_no_other_role() {
        assert!(separated(&[Role::Auditor]));
        assert!(separated(&[Role::Admin, Role::Admin]));
        assert!(separated(&[Role::CivilAffairs, Role::Charity]));
        assert!(!separated(&[Role::CivilAffairs, Role::Auditor]));
        assert!(!separated(&[Role::Admin, Role::Charity]));
    }
}
