//! `PATCH /persons/{id}`: contact, residence, household, certified status and circumstances.

use actix_web::{patch, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::{check_period, full_view, Household, Person};
use crate::api::extract::{JsonBody, Precondition};
use crate::api::v1::{check_free_text, versioned};
use crate::api::AppState;
use crate::auth::Caller;
use crate::domain::person::{CertifiedStatus, Circumstance, TierStatus};
use crate::domain::phone::MobilePhone;
use crate::domain::region::RegionCode;
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::service::persons::{self, PersonUpdate};

/// Distinguishes an absent field (leave as is) from `null` (clear it).
fn nullable<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a person; absent fields stay as they are, `null` clears a clearable one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "phone": "13912345678",
    "household": {"key": "HLJ-230102-000123", "size": 4},
    "reason": "户内新增成员"
}))]
pub struct UpdatePerson {
    #[validate(length(min = 1, max = 100))]
    pub name: Option<String>,
    /// New mobile number; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// New place of residence; must stay within the caller's region.
    pub region_code: Option<String>,
    /// Replaces the household facts.
    #[validate(nested)]
    pub household: Option<Household>,
    /// New tier certification; `null` ends it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TierStatus>)]
    pub low_income: Option<Option<TierStatus>>,
    /// New relapse-monitoring certification; `null` ends it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<CertifiedStatus>)]
    pub relapse_monitoring: Option<Option<CertifiedStatus>>,
    /// Replaces the list.
    pub special_circumstances: Option<Vec<Circumstance>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    /// Why the record changes (kept in the audit trail).
    #[validate(length(max = 500))]
    pub reason: Option<String>,
}

impl UpdatePerson {
    /// The names of the fields the request changes (for the audit trail: names, not values).
    fn changed_fields(&self) -> Vec<&'static str> {
        [
            (self.name.is_some(), "name"),
            (self.phone.is_some(), "phone"),
            (self.region_code.is_some(), "region_code"),
            (self.household.is_some(), "household"),
            (self.low_income.is_some(), "low_income"),
            (self.relapse_monitoring.is_some(), "relapse_monitoring"),
            (
                self.special_circumstances.is_some(),
                "special_circumstances",
            ),
            (self.external_id.is_some(), "external_id"),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect()
    }
}

/// Every field failure at once, or the update with its values parsed.
fn check(body: UpdatePerson, mut errors: Vec<FieldError>) -> Result<PersonUpdate, ApiError> {
    let fields = body.changed_fields();
    check_free_text("reason", body.reason.as_deref(), &mut errors);
    crate::api::v1::check_not_blank("name", body.name.as_deref(), &mut errors);
    let phone = match &body.phone {
        Some(Some(raw)) => match MobilePhone::parse(raw) {
            Ok(p) => Some(Some(p)),
            Err(e) => {
                errors.push(FieldError::new("phone", "invalid_phone", e));
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    let region_code = match &body.region_code {
        Some(r) => match RegionCode::parse(r) {
            Ok(r) => Some(r.into_string()),
            Err(e) => {
                errors.push(FieldError::new(
                    "region_code",
                    "invalid_region_code",
                    e.to_string(),
                ));
                None
            }
        },
        None => None,
    };
    if let Some(Some(t)) = &body.low_income {
        check_period("low_income", Some(t.tier), &t.status, &mut errors);
    }
    if let Some(Some(s)) = &body.relapse_monitoring {
        check_period("relapse_monitoring", None, s, &mut errors);
    }
    if let Some(Some(e)) = &body.external_id {
        if e.trim().is_empty() || e.chars().count() > 100 {
            errors.push(FieldError::new(
                "external_id",
                "length",
                "length must be between 1 and 100",
            ));
        }
    }
    ApiError::check(errors)?;
    Ok(PersonUpdate {
        name: body.name,
        phone,
        region_code,
        household: body.household.as_ref().map(Into::into),
        low_income: body.low_income,
        relapse_monitoring: body.relapse_monitoring,
        special_circumstances: body.special_circumstances,
        external_id: body.external_id,
        reason: body.reason,
        fields,
    })
}

/// Update a person's record (更新困难群众信息): contact, residence, household, certified
/// status, circumstances. Civil-affairs staff of the person's region. The ID number, and so
/// the birth date and sex, never change: a wrong one means a wrong record.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = UpdatePerson,
    responses(
        (status = 200, description = "Updated (masked)", body = Person),
        (status = 404, description = "No such person within the caller's region"),
        (status = 409, description = "The external id belongs to another person"),
        (status = 422, description = "Invalid field"),
    )
)]
#[patch("/persons/{id}")]
pub(super) async fn update_person(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    Precondition(if_match): Precondition,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, errors) = body.parse::<UpdatePerson>()?;
    let update = check(body, errors)?;
    let row = persons::update(&state.ctx, &caller, id.into_inner(), update, if_match).await?;
    let view = full_view(&row, None, state.ctx.clock.today());
    Ok(versioned(HttpResponse::Ok(), row.version, &view))
}
