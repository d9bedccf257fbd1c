//! People in hardship (困难群众): low-income status, special circumstances and government aid.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

text_enum! {
    /// Low-income tier (低收入人口认定), mutually exclusive.
    Tier {
        /// 低保对象
        SubsistenceAllowance = "subsistence_allowance",
        /// 特困人员
        ExtremePoverty = "extreme_poverty",
        /// 低保边缘家庭成员
        MarginalLowIncome = "marginal_low_income",
        /// 刚性支出困难家庭成员 (valid at most 12 months)
        RigidExpenditureHardship = "rigid_expenditure_hardship",
        /// 其他困难人员
        OtherHardship = "other_hardship",
    }
}

text_enum! {
    /// Special circumstances (特殊困难情形) the opinions name.
    Circumstance {
        /// 失能老年人
        ElderlyDependent = "elderly_dependent",
        /// 未成年人
        Minor = "minor",
        /// 残疾
        Disabled = "disabled",
        /// 重病
        SeriouslyIll = "seriously_ill",
        /// 重特大疾病
        MajorIllness = "major_illness",
        /// 受灾
        Disaster = "disaster",
        /// 意外事故
        Accident = "accident",
        /// 就学困难
        SchoolingCosts = "schooling_costs",
        /// 收入骤减
        IncomeLoss = "income_loss",
    }
}

text_enum! {
    /// Government assistance programme (政府救助项目).
    Programme {
        /// 最低生活保障
        SubsistenceAllowance = "subsistence_allowance",
        /// 特困人员救助供养
        ExtremePovertySupport = "extreme_poverty_support",
        /// 受灾人员救助
        DisasterRelief = "disaster_relief",
        /// 医疗救助
        MedicalAid = "medical_aid",
        /// 教育救助
        EducationAid = "education_aid",
        /// 住房救助
        HousingAid = "housing_aid",
        /// 就业救助
        EmploymentAid = "employment_aid",
        /// 临时救助
        TemporaryAid = "temporary_aid",
    }
}

text_enum! {
    /// How a relative is related to a member of staff (优亲厚友 declarations).
    Relation {
        Spouse = "spouse",
        Parent = "parent",
        Child = "child",
        Sibling = "sibling",
        Grandparent = "grandparent",
        Grandchild = "grandchild",
        InLaw = "in_law",
        OtherRelative = "other_relative",
    }
}

/// A certified status (认定) with its authority and period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CertifiedStatus {
    /// The certifying authority's region code (乡镇/街道 or above).
    #[schema(example = "230102001")]
    pub certifying_region: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// Low-income tier (低收入人口类别) with its certification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TierStatus {
    pub tier: Tier,
    #[serde(flatten)]
    pub status: CertifiedStatus,
}

impl Circumstance {
    /// Circumstances that are health data (PIPL sensitive): shown only under a `health` consent.
    pub fn is_health(self) -> bool {
        matches!(
            self,
            Self::SeriouslyIll | Self::MajorIllness | Self::ElderlyDependent
        )
    }

    pub fn is_disability(self) -> bool {
        matches!(self, Self::Disabled)
    }
}

/// Why a status period is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodError {
    EndBeforeStart,
    RigidExpenditureTooLong,
}

impl std::fmt::Display for PeriodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EndBeforeStart => write!(f, "valid_to is before valid_from"),
            Self::RigidExpenditureTooLong => {
                write!(
                    f,
                    "rigid_expenditure_hardship status lasts at most 12 months"
                )
            }
        }
    }
}

/// Checks a certified status period (valid_to optional: open-ended).
pub fn check_status_period(
    tier: Option<Tier>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
) -> Result<(), PeriodError> {
    if let Some(to) = valid_to {
        if to < valid_from {
            return Err(PeriodError::EndBeforeStart);
        }
    }
    if tier == Some(Tier::RigidExpenditureHardship) {
        let limit = valid_from + Months::new(12);
        match valid_to {
            Some(to) if to <= limit => {}
            _ => return Err(PeriodError::RigidExpenditureTooLong),
        }
    }
    Ok(())
}

text_enum! {
    /// Age band (年龄段), shown where the birth date is not.
    AgeBand {
        #[serde(rename = "0-13")]
        Child = "0-13",
        #[serde(rename = "14-17")]
        Adolescent = "14-17",
        #[serde(rename = "18-34")]
        YoungAdult = "18-34",
        #[serde(rename = "35-59")]
        Adult = "35-59",
        #[serde(rename = "60-79")]
        Senior = "60-79",
        #[serde(rename = "80+")]
        Elderly = "80+",
    }
}

pub fn age_band(age: u32) -> AgeBand {
    match age {
        0..=13 => AgeBand::Child,
        14..=17 => AgeBand::Adolescent,
        18..=34 => AgeBand::YoungAdult,
        35..=59 => AgeBand::Adult,
        60..=79 => AgeBand::Senior,
        _ => AgeBand::Elderly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test value")
    }

    #[test]
    fn rigid_expenditure_status_is_capped_at_twelve_months() {
        let t = Some(Tier::RigidExpenditureHardship);
        assert_eq!(
            check_status_period(t, d(2026, 1, 1), Some(d(2027, 1, 1))),
            Ok(())
        );
        assert_eq!(
            check_status_period(t, d(2026, 1, 1), Some(d(2027, 1, 2))),
            Err(PeriodError::RigidExpenditureTooLong)
        );
        assert_eq!(
            check_status_period(t, d(2026, 1, 1), None),
            Err(PeriodError::RigidExpenditureTooLong)
        );
        assert_eq!(
            check_status_period(Some(Tier::SubsistenceAllowance), d(2026, 1, 1), None),
            Ok(())
        );
        assert_eq!(
            check_status_period(None, d(2026, 1, 2), Some(d(2026, 1, 1))),
            Err(PeriodError::EndBeforeStart)
        );
    }

    #[test]
    fn codes_round_trip() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>(), Ok(*t));
        }
        assert_eq!(
            "medical_aid".parse::<Programme>(),
            Ok(Programme::MedicalAid)
        );
        assert!("unknown".parse::<Circumstance>().is_err());
        assert!(Circumstance::MajorIllness.is_health());
        assert_eq!(age_band(13).as_str(), "0-13");
        assert_eq!(
            serde_json::to_value(age_band(80)).expect("serialises"),
            "80+"
        );
        assert_eq!(age_band(60).as_str(), "60-79");
    }
}
