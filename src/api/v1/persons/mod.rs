//! The person registry (困难群众) over HTTP: registration, reads, changes and government aid.
//! The views here decide what a caller sees of a person; the service decides whether it may.

pub(crate) mod government_aid;
mod read;
pub(crate) mod register;
mod reveal;
mod update;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

pub use government_aid::{CreateGovernmentAid, GovernmentAid};
pub use read::{PersonLookup, PersonQuery, ReadQuery};
pub use register::CreatePerson;
pub use reveal::RevealRequest;
pub use update::UpdatePerson;

use crate::db::persons::PersonRow;
use crate::domain::consent::{Coverage, DataCategory};
use crate::domain::need::NeedCategory;
use crate::domain::person::{age_band, AgeBand, CertifiedStatus, Circumstance, TierStatus};
use crate::domain::region::RegionCode;
use crate::domain::resident_id::{age, Sex};
use crate::error::FieldError;
use crate::service::persons::{HouseholdFacts, Revealed};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register::create_person)
        .service(read::list_persons)
        .service(read::lookup_person)
        .service(read::get_person)
        .service(reveal::reveal_person)
        .service(update::update_person)
        .service(government_aid::create_government_aid)
        .service(government_aid::list_government_aid);
}

/// Household facts (户).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate, Default)]
pub struct Household {
    /// The household's key in the monitoring platform or the bureau's system.
    #[validate(length(min = 1, max = 100))]
    pub key: Option<String>,
    #[validate(range(min = 1, max = 50))]
    #[schema(minimum = 1, maximum = 50, example = 3)]
    pub size: Option<i32>,
    /// Per-capita monthly income in fen (分); shown only under the `income` category.
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub income_per_capita_fen: Option<i64>,
}

impl From<&Household> for HouseholdFacts {
    fn from(h: &Household) -> Self {
        Self {
            key: h.key.clone(),
            size: h.size,
            income_per_capita_fen: h.income_per_capita_fen,
        }
    }
}

/// A person as the caller may see them. Categories the caller is not entitled to are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub region_code: String,
    /// Age band, always shown (de-identified).
    #[schema(example = "35-59")]
    pub age_band: AgeBand,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Masked to the last four (`**************0015`) unless revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// Only with the revealed identifiers: with a masked number it would help rebuild it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Masked (`138****5678`) unless revealed or shared under a `contact` consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub household: Option<Household>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_income: Option<TierStatus>,
    /// 防止返贫监测对象, independent of the tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relapse_monitoring: Option<CertifiedStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special_circumstances: Option<Vec<Circumstance>>,
    /// Open needs' categories, in a de-identified summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_need_categories: Option<Vec<NeedCategory>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// True when `id_number` and `phone` are the full values (an audited reveal).
    pub revealed: bool,
    /// The data categories this response contains.
    pub categories: Vec<DataCategory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

fn tier_status(r: &PersonRow) -> Option<TierStatus> {
    Some(TierStatus {
        tier: r.tier?,
        status: CertifiedStatus {
            certifying_region: r.tier_certifying_region.clone()?,
            valid_from: r.tier_valid_from?,
            valid_to: r.tier_valid_to,
        },
    })
}

fn relapse_status(r: &PersonRow) -> Option<CertifiedStatus> {
    if !r.relapse_monitoring {
        return None;
    }
    Some(CertifiedStatus {
        certifying_region: r.relapse_certifying_region.clone()?,
        valid_from: r.relapse_valid_from?,
        valid_to: r.relapse_valid_to,
    })
}

/// The view for staff and auditors: every category, identifiers masked unless revealed.
pub fn full_view(r: &PersonRow, revealed: Option<Revealed>, today: NaiveDate) -> Person {
    let is_revealed = revealed.is_some();
    let (id_number, phone) = match revealed {
        Some(v) => (Some(v.id_number), v.phone),
        None => (Some(r.id_number_masked.clone()), r.phone_masked.clone()),
    };
    Person {
        id: r.id,
        region_code: r.region_code.clone(),
        age_band: age_band(age(r.birth_date, today)),
        name: Some(r.name.clone()),
        id_number,
        birth_date: is_revealed.then_some(r.birth_date),
        sex: Some(r.sex),
        phone,
        household: Some(Household {
            key: r.household_key.clone(),
            size: r.household_size,
            income_per_capita_fen: r.household_income_per_capita_fen,
        }),
        low_income: tier_status(r),
        relapse_monitoring: relapse_status(r),
        special_circumstances: Some(r.special_circumstances.clone()),
        open_need_categories: None,
        external_id: r.external_id.clone(),
        revealed: is_revealed,
        categories: DataCategory::ALL.to_vec(),
        created_at: Some(r.created_at),
    }
}

/// What a consent recipient may see: exactly the consented categories (minimisation).
pub fn consented_view(
    r: &PersonRow,
    cov: &Coverage,
    phone: Option<String>,
    open_needs: Vec<NeedCategory>,
    today: NaiveDate,
) -> Person {
    let has = |c| cov.allows(c);
    let identity = has(DataCategory::Identity);
    let shown: Vec<Circumstance> = r
        .special_circumstances
        .iter()
        .copied()
        .filter(|c| {
            (c.is_health() && has(DataCategory::Health))
                || (c.is_disability() && has(DataCategory::Disability))
                || (!c.is_health() && !c.is_disability() && identity)
        })
        .collect();
    let household =
        (has(DataCategory::Household) || has(DataCategory::Income)).then(|| Household {
            key: r
                .household_key
                .clone()
                .filter(|_| has(DataCategory::Household)),
            size: r.household_size.filter(|_| has(DataCategory::Household)),
            income_per_capita_fen: r
                .household_income_per_capita_fen
                .filter(|_| has(DataCategory::Income)),
        });
    Person {
        id: r.id,
        region_code: r.region_code.clone(),
        age_band: age_band(age(r.birth_date, today)),
        name: identity.then(|| r.name.clone()),
        id_number: identity.then(|| r.id_number_masked.clone()),
        birth_date: None,
        sex: identity.then_some(r.sex),
        phone: phone.filter(|_| has(DataCategory::Contact)),
        household,
        low_income: has(DataCategory::Income).then(|| tier_status(r)).flatten(),
        relapse_monitoring: has(DataCategory::Income)
            .then(|| relapse_status(r))
            .flatten(),
        special_circumstances: (!cov.summary_only).then_some(shown),
        open_need_categories: cov.summary_only.then_some(open_needs),
        external_id: None,
        revealed: false,
        categories: crate::service::persons::disclosed_categories(cov),
        created_at: None,
    }
}

/// Checks a certified status's region and period, adding failures under `field`.
fn check_period(
    field: &str,
    tier: Option<crate::domain::person::Tier>,
    s: &CertifiedStatus,
    errors: &mut Vec<FieldError>,
) {
    if let Err(e) = RegionCode::parse(&s.certifying_region) {
        errors.push(FieldError::new(
            format!("{field}.certifying_region"),
            "invalid_region_code",
            e.to_string(),
        ));
    }
    crate::api::v1::check_year(&format!("{field}.valid_from"), Some(s.valid_from), errors);
    crate::api::v1::check_year(&format!("{field}.valid_to"), s.valid_to, errors);
    if let Err(e) = crate::domain::person::check_status_period(tier, s.valid_from, s.valid_to) {
        errors.push(FieldError::new(
            format!("{field}.valid_to"),
            "invalid_period",
            e.to_string(),
        ));
    }
}
