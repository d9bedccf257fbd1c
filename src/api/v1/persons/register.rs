//! `POST /persons`: register a person in hardship.

use actix_web::http::header;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use validator::Validate;

use super::{check_period, full_view, Household, Person};
use crate::api::extract::JsonBody;
use crate::api::v1::versioned;
use crate::api::AppState;
use crate::auth::Caller;
use crate::domain::person::{CertifiedStatus, Circumstance, TierStatus};
use crate::domain::phone::MobilePhone;
use crate::domain::region::RegionCode;
use crate::domain::resident_id::ResidentId;
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::service::persons::{self, NewRegistration};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "张三",
    "id_number": "230102197505120028",
    "phone": "13812345678",
    "region_code": "230102001001",
    "household": {"key": "HLJ-230102-000123", "size": 3, "income_per_capita_fen": 45000},
    "low_income": {"tier": "subsistence_allowance", "certifying_region": "230102001",
                   "valid_from": "2026-01-01", "valid_to": "2026-12-31"},
    "special_circumstances": ["seriously_ill"],
    "external_id": "DBJC-2026-000123"
}))]
pub struct CreatePerson {
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "张三", min_length = 1, max_length = 100)]
    pub name: String,
    /// 18-character resident ID number; sent in the body only, stored encrypted.
    #[schema(example = "230102199003070015", pattern = r"^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
    /// Mainland mobile number (spaces, dashes, +86 accepted).
    #[schema(example = "13812345678")]
    pub phone: Option<String>,
    /// Where the person lives, down to village (12 digits).
    #[schema(
        example = "230102001001",
        pattern = r"^23([0-9]{2}|[0-9]{4}|[0-9]{7}|[0-9]{10})?$"
    )]
    pub region_code: String,
    #[validate(nested)]
    pub household: Option<Household>,
    pub low_income: Option<TierStatus>,
    pub relapse_monitoring: Option<CertifiedStatus>,
    #[serde(default)]
    pub special_circumstances: Vec<Circumstance>,
    /// Id in the low-income population monitoring platform (低收入人口动态监测信息平台).
    #[validate(length(min = 1, max = 100))]
    pub external_id: Option<String>,
}

/// Every field failure at once, or the registration with its values parsed.
pub(crate) fn check(
    body: CreatePerson,
    today: chrono::NaiveDate,
    mut errors: Vec<FieldError>,
) -> Result<NewRegistration, ApiError> {
    crate::api::v1::check_not_blank("name", Some(&body.name), &mut errors);
    let id = ResidentId::parse(&body.id_number, today)
        .map_err(|e| errors.push(FieldError::new("id_number", e.code(), e.to_string())))
        .ok();
    let phone = match &body.phone {
        Some(p) => MobilePhone::parse(p)
            .map_err(|e| errors.push(FieldError::new("phone", "invalid_phone", e)))
            .ok(),
        None => None,
    };
    let region = RegionCode::parse(&body.region_code)
        .map_err(|e| {
            errors.push(FieldError::new(
                "region_code",
                "invalid_region_code",
                e.to_string(),
            ))
        })
        .ok();
    if let Some(t) = &body.low_income {
        check_period("low_income", Some(t.tier), &t.status, &mut errors);
    }
    if let Some(s) = &body.relapse_monitoring {
        check_period("relapse_monitoring", None, s, &mut errors);
    }
    match (id, region, errors.is_empty()) {
        (Some(id), Some(region), true) => Ok(NewRegistration {
            name: body.name,
            id,
            phone,
            region_code: region.into_string(),
            household: body.household.as_ref().map(Into::into).unwrap_or_default(),
            low_income: body.low_income,
            relapse_monitoring: body.relapse_monitoring,
            special_circumstances: body.special_circumstances,
            external_id: body.external_id,
        }),
        _ => Err(ApiError::validation(errors)),
    }
}

/// Register a person in hardship (登记困难群众). Civil-affairs staff, within their region.
///
/// The ID number and phone are validated (GB 11643 check digit, mainland mobile), stored only
/// encrypted, and answered masked. An ID number already registered answers 409 with the existing
/// person's id when the caller may see that person.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreatePerson,
    responses(
        (status = 201, description = "Registered", body = Person),
        (status = 409, description = "This ID number is already registered (`existing_id` when visible to the caller)"),
        (status = 422, description = "Invalid field (ID number, phone, region, status period, …)"),
    )
)]
#[post("/persons")]
pub(super) async fn create_person(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, errors) = body.parse::<CreatePerson>()?;
    let today = state.ctx.clock.today();
    let registration = check(body, today, errors)?;
    let row = persons::register(&state.ctx, &caller, registration).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/persons/{}", row.id)));
    Ok(versioned(res, row.version, &full_view(&row, None, today)))
}
