//! Organisation kinds and statuses (组织).

use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;

/// What an organisation is; decides which staff roles its members may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    /// 民政部门 civil-affairs bureau (province, city, county)
    CivilAffairsBureau,
    /// 乡镇人民政府（街道办事处） township or street office
    TownshipOffice,
    /// 慈善组织 charity
    Charity,
    /// 慈善总会 charity federation
    CharityFederation,
    /// 红十字会 Red Cross
    RedCross,
    /// 社会工作服务机构 social-work agency
    SocialWorkAgency,
    /// 企业 enterprise
    Enterprise,
    /// 其他 other (including the platform operator and supervision bodies)
    Other,
}

impl OrganizationKind {
    /// Organisations that receive people's data as charities (consent recipients, referral
    /// targets): charities, federations, the Red Cross, social-work agencies.
    pub fn is_charity(self) -> bool {
        matches!(
            self,
            Self::Charity | Self::CharityFederation | Self::RedCross | Self::SocialWorkAgency
        )
    }

    pub const ALL: [OrganizationKind; 8] = [
        Self::CivilAffairsBureau,
        Self::TownshipOffice,
        Self::Charity,
        Self::CharityFederation,
        Self::RedCross,
        Self::SocialWorkAgency,
        Self::Enterprise,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CivilAffairsBureau => "civil_affairs_bureau",
            Self::TownshipOffice => "township_office",
            Self::Charity => "charity",
            Self::CharityFederation => "charity_federation",
            Self::RedCross => "red_cross",
            Self::SocialWorkAgency => "social_work_agency",
            Self::Enterprise => "enterprise",
            Self::Other => "other",
        }
    }

    /// Every kind but `other` is a registered body with a unified social credit code.
    pub fn requires_uscc(self) -> bool {
        !matches!(self, Self::Other)
    }

    /// Public-fundraising qualification (公开募捐资格) is a charity's attribute.
    pub fn can_hold_public_fundraising(self) -> bool {
        matches!(
            self,
            Self::Charity | Self::CharityFederation | Self::RedCross
        )
    }
}

impl FromStr for OrganizationKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationStatus {
    Active,
    Suspended,
}

impl OrganizationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

impl FromStr for OrganizationStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            _ => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_rules() {
        for k in OrganizationKind::ALL {
            assert_eq!(k.as_str().parse::<OrganizationKind>(), Ok(k));
        }
        assert!(!OrganizationKind::Other.requires_uscc());
        assert!(OrganizationKind::Charity.requires_uscc());
        assert!(OrganizationKind::RedCross.can_hold_public_fundraising());
        assert!(!OrganizationKind::CivilAffairsBureau.can_hold_public_fundraising());
    }
}
