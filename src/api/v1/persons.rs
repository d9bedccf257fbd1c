//! The person registry (困难群众): registration with encrypted identifiers, masked views,
//! audited reveal, exact lookup by ID number, and government aid received (政府救助记录).

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::scope::{
    access_to, list_scope, load_person, record_supervision_read, require_staff, Access,
};
use super::Page;
use crate::api::extract::{JsonBody, QueryParams, RequestMeta};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::needs;
use crate::db::persons::{
    self, GovernmentAidRow, NewGovernmentAid, NewPerson, PersonChanges, PersonFilter, PersonRow,
};
use crate::domain::consent::{Coverage, DataCategory};
use crate::domain::need::NeedCategory;
use crate::domain::parse_or;
use crate::domain::person::{age_band, check_status_period, Circumstance, Programme, Tier};
use crate::domain::phone::MobilePhone;
use crate::domain::region::RegionCode;
use crate::domain::resident_id::{age, ResidentId};
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::privacy::Field;
use crate::with_transaction;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_person)
        .service(list_persons)
        .service(lookup_person)
        .service(get_person)
        .service(update_person)
        .service(create_government_aid)
        .service(list_government_aid);
}

// ---------------------------------------------------------------------------------------------
// Views

/// Household facts (户).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate, Default)]
pub struct Household {
    /// The household's key in the monitoring platform or the bureau's system.
    #[validate(length(min = 1, max = 100))]
    pub key: Option<String>,
    #[validate(range(min = 1, max = 50))]
    pub size: Option<i32>,
    /// Per-capita monthly income in fen (分); shown only under the `income` category.
    #[validate(range(min = 0))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub income_per_capita_fen: Option<i64>,
}

/// A certified status (认定) with its authority and period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CertifiedStatus {
    /// The certifying authority's region code (乡镇/街道 or above).
    #[schema(example = "230102001")]
    pub certifying_region: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// Low-income tier (低收入人口类别) with its certification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TierStatus {
    pub tier: Tier,
    #[serde(flatten)]
    pub status: CertifiedStatus,
}

/// A person as the caller may see them. Categories the caller is not entitled to are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub region_code: String,
    /// Age band, always shown (de-identified).
    #[schema(example = "35-59")]
    pub age_band: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Masked (`230102********0015`) unless revealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
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
        tier: r.tier.as_deref()?.parse().ok()?,
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

fn circumstances(r: &PersonRow) -> Vec<Circumstance> {
    r.special_circumstances
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// Full identifiers for an entitled caller.
pub struct Revealed {
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

/// Builds the view for staff and auditors: every category, identifiers masked unless revealed.
pub fn full_view(r: &PersonRow, revealed: Option<Revealed>, today: NaiveDate) -> Person {
    let is_revealed = revealed.is_some();
    let (id_number, phone) = match revealed {
        Some(v) => (v.id_number, v.phone),
        None => (Some(r.id_number_masked.clone()), r.phone_masked.clone()),
    };
    Person {
        id: r.id,
        region_code: r.region_code.clone(),
        age_band: age_band(age(r.birth_date, today)),
        name: Some(r.name.clone()),
        id_number,
        birth_date: Some(r.birth_date),
        sex: Some(r.sex.clone()),
        phone,
        household: Some(Household {
            key: r.household_key.clone(),
            size: r.household_size,
            income_per_capita_fen: r.household_income_per_capita_fen,
        }),
        low_income: tier_status(r),
        relapse_monitoring: relapse_status(r),
        special_circumstances: Some(circumstances(r)),
        open_need_categories: None,
        external_id: r.external_id.clone(),
        revealed: is_revealed,
        categories: DataCategory::ALL.to_vec(),
        created_at: Some(r.created_at),
    }
}

/// Builds what a consent recipient may see: exactly the consented categories (minimisation).
pub fn consented_view(
    r: &PersonRow,
    cov: &Coverage,
    phone: Option<String>,
    open_needs: Vec<NeedCategory>,
    today: NaiveDate,
) -> Person {
    let has = |c| cov.allows(c);
    let identity = has(DataCategory::Identity);
    let shown: Vec<Circumstance> = circumstances(r)
        .into_iter()
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
        birth_date: identity.then_some(r.birth_date),
        sex: identity.then(|| r.sex.clone()),
        phone: if has(DataCategory::Contact) {
            phone
        } else {
            None
        },
        household,
        low_income: if has(DataCategory::Income) {
            tier_status(r)
        } else {
            None
        },
        relapse_monitoring: if has(DataCategory::Income) {
            relapse_status(r)
        } else {
            None
        },
        special_circumstances: (!cov.summary_only).then_some(shown),
        open_need_categories: cov.summary_only.then_some(open_needs),
        external_id: None,
        revealed: false,
        categories: cov.categories.iter().copied().collect(),
        created_at: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Registration

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
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

struct CheckedPerson {
    id: ResidentId,
    phone: Option<MobilePhone>,
    region: String,
}

fn check_period(
    field: &str,
    tier: Option<Tier>,
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
    if let Err(e) = check_status_period(tier, s.valid_from, s.valid_to) {
        errors.push(FieldError::new(
            format!("{field}.valid_to"),
            "invalid_period",
            e.to_string(),
        ));
    }
}

/// Adds the person's field failures to `errors`; the checked values when there are none at all.
fn check_person(
    body: &CreatePerson,
    today: NaiveDate,
    mut errors: Vec<FieldError>,
) -> Result<CheckedPerson, ApiError> {
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
        (Some(id), Some(region), true) => Ok(CheckedPerson {
            id,
            phone,
            region: region.into_string(),
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
async fn create_person(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, errors) = body.parse::<CreatePerson>()?;
    let today = Utc::now().date_naive();
    let checked = check_person(&body, today, errors)?;
    if !caller.covers_region(&checked.region) {
        return Err(ApiError::forbidden(format!(
            "region {} is outside your region {}",
            checked.region, caller.region
        )));
    }
    let keys = &state.data_keys;
    let hash = keys.blind_index(checked.id.expose());
    let mut conn = state.pool.get().await?;
    if let Some(existing) = persons::find_by_id_hash(&mut conn, &hash).await? {
        let e = ApiError::conflict(
            "duplicate_person",
            "a person with this ID number is already registered",
        );
        return Err(if caller.covers_region(&existing.region_code) {
            e.with_extra("existing_id", existing.id.to_string())
        } else {
            e
        });
    }
    drop(conn);
    let new = NewPerson {
        id: Uuid::now_v7(),
        name: body.name.trim().to_owned(),
        id_number_encrypted: keys
            .encrypt(Field::IdNumber, checked.id.expose())
            .map_err(ApiError::internal)?,
        id_number_hash: hash,
        id_number_masked: checked.id.masked(),
        birth_date: checked.id.birth_date,
        sex: checked.id.sex.as_str().to_owned(),
        phone_encrypted: match &checked.phone {
            Some(p) => Some(
                keys.encrypt(Field::Phone, p.expose())
                    .map_err(ApiError::internal)?,
            ),
            None => None,
        },
        phone_masked: checked.phone.as_ref().map(MobilePhone::masked),
        region_code: checked.region,
        household_key: body.household.as_ref().and_then(|h| h.key.clone()),
        household_size: body.household.as_ref().and_then(|h| h.size),
        household_income_per_capita_fen: body
            .household
            .as_ref()
            .and_then(|h| h.income_per_capita_fen),
        tier: body.low_income.as_ref().map(|t| t.tier.as_str().to_owned()),
        tier_certifying_region: body
            .low_income
            .as_ref()
            .map(|t| t.status.certifying_region.clone()),
        tier_valid_from: body.low_income.as_ref().map(|t| t.status.valid_from),
        tier_valid_to: body.low_income.as_ref().and_then(|t| t.status.valid_to),
        relapse_monitoring: body.relapse_monitoring.is_some(),
        relapse_certifying_region: body
            .relapse_monitoring
            .as_ref()
            .map(|s| s.certifying_region.clone()),
        relapse_valid_from: body.relapse_monitoring.as_ref().map(|s| s.valid_from),
        relapse_valid_to: body.relapse_monitoring.as_ref().and_then(|s| s.valid_to),
        special_circumstances: body
            .special_circumstances
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        external_id: body.external_id.clone(),
        registered_by_organization_id: caller.organization_id,
    };
    let row = with_transaction!(&state.pool, async move |conn| {
        let row = persons::insert(conn, &new).await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "person.create", "person", row.id)
                .details(json!({"region_code": row.region_code, "tier": row.tier})),
        )
        .await?;
        Ok(row)
    })
    .map_err(|e| {
        match (
            e.status.as_u16(),
            e.extra
                .as_ref()
                .and_then(|x| x.get("field"))
                .and_then(|f| f.as_str()),
        ) {
            // Lost a race with an identical registration.
            (409, Some("id_number")) => ApiError::conflict(
                "duplicate_person",
                "a person with this ID number is already registered",
            ),
            _ => e,
        }
    })?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/persons/{}", row.id)))
        .json(full_view(&row, None, today)))
}

// ---------------------------------------------------------------------------------------------
// Listing and reading

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// Region code prefix; civil-affairs staff are limited to their own region.
    pub region: Option<String>,
    pub tier: Option<Tier>,
    pub circumstance: Option<Circumstance>,
    /// Only people with government aid records and at least one open need (政府救助后仍有困难).
    pub after_government_aid: Option<bool>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List people (困难群众列表), masked. Civil-affairs staff (their region) and auditors.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(PersonQuery),
    responses(
        (status = 200, description = "A page of people", body = Page<Person>),
        (status = 400, description = "Bad query parameter"),
    )
)]
#[get("/persons")]
async fn list_persons(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<PersonQuery>,
) -> Result<web::Json<Page<Person>>, ApiError> {
    let prefix = list_scope(&caller, q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let filter = PersonFilter {
        region_prefix: prefix,
        tier: q.tier.map(|t| t.as_str().to_owned()),
        circumstance: q.circumstance.map(|c| c.as_str().to_owned()),
        after_government_aid: q.after_government_aid.unwrap_or(false),
        after: q.cursor,
        limit: limit + 1,
    };
    let today = Utc::now().date_naive();
    let details = json!({"region": filter.region_prefix, "tier": filter.tier, "circumstance": filter.circumstance});
    let mut conn = state.pool.get().await?;
    let rows = persons::list(&mut conn, &filter).await?;
    drop(conn);
    record_supervision_read(
        &state.pool,
        &caller,
        &meta,
        "person.list",
        "person",
        None,
        details,
    )
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.id.to_string(),
        |r| full_view(&r, None, today),
    )))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevealQuery {
    /// Return the full ID number and phone (civil-affairs staff of the person's region only).
    pub reveal: Option<bool>,
    /// Why the full values are needed; required with `reveal=true`, recorded in the audit trail.
    #[validate(length(min = 3, max = 500))]
    #[param(min_length = 3, max_length = 500)]
    pub purpose: Option<String>,
}

/// One person (困难群众详情): staff see everything masked (full values with `reveal=true` and a
/// `purpose`, audited); auditors see it masked (audited); a charity sees only what a consent
/// covers (audited); others get 404.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id"), RevealQuery),
    responses(
        (status = 200, description = "The person, as far as the caller may see", body = Person),
        (status = 404, description = "No such person within the caller's reach"),
        (status = 422, description = "`purpose` missing for a reveal"),
    )
)]
#[get("/persons/{id}")]
async fn get_person(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<RevealQuery>,
) -> Result<web::Json<Person>, ApiError> {
    let id = id.into_inner();
    let reveal = q.reveal.unwrap_or(false);
    if reveal && q.purpose.is_none() {
        return Err(ApiError::field(
            "purpose",
            "required",
            "say why the full ID number and phone are needed",
        ));
    }
    let keys = &state.data_keys;
    let today = Utc::now().date_naive();
    let mut conn = state.pool.get().await?;
    let person = load_person(&mut conn, id).await?;
    let access = access_to(&mut conn, &caller, &person).await?;
    let (view, event) = match access {
        Access::Staff if reveal => {
            let revealed = Revealed {
                id_number: Some(
                    keys.decrypt(Field::IdNumber, &person.id_number_encrypted)
                        .map_err(ApiError::internal)?,
                ),
                phone: match &person.phone_encrypted {
                    Some(p) => Some(keys.decrypt(Field::Phone, p).map_err(ApiError::internal)?),
                    None => None,
                },
            };
            let ev = NewAuditEvent::by(&caller, &meta, "person.reveal", "person", person.id)
                .reason(q.purpose.clone())
                .details(json!({"fields": ["id_number", "phone"]}));
            (full_view(&person, Some(revealed), today), Some(ev))
        }
        Access::Staff => (full_view(&person, None, today), None),
        Access::Auditor if reveal => {
            return Err(ApiError::forbidden("auditors see masked identifiers only"));
        }
        Access::Auditor => (
            full_view(&person, None, today),
            Some(NewAuditEvent::by(
                &caller,
                &meta,
                "person.read",
                "person",
                person.id,
            )),
        ),
        Access::Recipient(_) if reveal => {
            return Err(ApiError::forbidden(
                "only civil-affairs staff of the person's region may reveal identifiers",
            ));
        }
        Access::Recipient(cov) => {
            let phone = match (&person.phone_encrypted, cov.allows(DataCategory::Contact)) {
                (Some(p), true) => Some(keys.decrypt(Field::Phone, p).map_err(ApiError::internal)?),
                _ => None,
            };
            let open: Vec<NeedCategory> = if cov.summary_only {
                needs::of_person(&mut conn, person.id).await?
            } else {
                Vec::new()
            }
            .iter()
            .filter(|n| n.status == "open")
            .map(|n| parse_or(&n.category, NeedCategory::Living))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
            let view = consented_view(&person, &cov, phone, open, today);
            let ev = NewAuditEvent::by(&caller, &meta, "person.disclose", "person", person.id)
                .details(json!({"categories": view.categories, "summary_only": cov.summary_only}));
            (view, Some(ev))
        }
    };
    drop(conn);
    // The disclosure is recorded before anything is sent: no record, no data.
    if let Some(ev) = event {
        audit::record(&state.pool, ev).await?;
    }
    Ok(web::Json(view))
}

/// Distinguishes an absent field (leave as is) from `null` (clear it).
fn nullable<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a person; absent fields stay as they are, `null` clears a clearable one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
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
        let mut out = Vec::new();
        let mut add = |present: bool, name| {
            if present {
                out.push(name)
            }
        };
        add(self.name.is_some(), "name");
        add(self.phone.is_some(), "phone");
        add(self.region_code.is_some(), "region_code");
        add(self.household.is_some(), "household");
        add(self.low_income.is_some(), "low_income");
        add(self.relapse_monitoring.is_some(), "relapse_monitoring");
        add(
            self.special_circumstances.is_some(),
            "special_circumstances",
        );
        add(self.external_id.is_some(), "external_id");
        out
    }
}

fn check_update(
    body: &UpdatePerson,
    keys: &crate::privacy::DataKeys,
    mut errors: Vec<FieldError>,
) -> Result<PersonChanges, ApiError> {
    let mut changes = PersonChanges {
        name: body.name.as_ref().map(|n| n.trim().to_owned()),
        updated_at: Some(Utc::now()),
        ..Default::default()
    };
    match &body.phone {
        Some(Some(raw)) => match MobilePhone::parse(raw) {
            Ok(p) => {
                changes.phone_encrypted = Some(Some(
                    keys.encrypt(Field::Phone, p.expose())
                        .map_err(ApiError::internal)?,
                ));
                changes.phone_masked = Some(Some(p.masked()));
            }
            Err(e) => errors.push(FieldError::new("phone", "invalid_phone", e)),
        },
        Some(None) => {
            changes.phone_encrypted = Some(None);
            changes.phone_masked = Some(None);
        }
        None => {}
    }
    if let Some(r) = &body.region_code {
        match RegionCode::parse(r) {
            Ok(r) => changes.region_code = Some(r.into_string()),
            Err(e) => errors.push(FieldError::new(
                "region_code",
                "invalid_region_code",
                e.to_string(),
            )),
        }
    }
    if let Some(h) = &body.household {
        changes.household_key = Some(h.key.clone());
        changes.household_size = Some(h.size);
        changes.household_income_per_capita_fen = Some(h.income_per_capita_fen);
    }
    match &body.low_income {
        Some(Some(t)) => {
            check_period("low_income", Some(t.tier), &t.status, &mut errors);
            changes.tier = Some(Some(t.tier.as_str().to_owned()));
            changes.tier_certifying_region = Some(Some(t.status.certifying_region.clone()));
            changes.tier_valid_from = Some(Some(t.status.valid_from));
            changes.tier_valid_to = Some(t.status.valid_to);
        }
        Some(None) => {
            changes.tier = Some(None);
            changes.tier_certifying_region = Some(None);
            changes.tier_valid_from = Some(None);
            changes.tier_valid_to = Some(None);
        }
        None => {}
    }
    match &body.relapse_monitoring {
        Some(Some(st)) => {
            check_period("relapse_monitoring", None, st, &mut errors);
            changes.relapse_monitoring = Some(true);
            changes.relapse_certifying_region = Some(Some(st.certifying_region.clone()));
            changes.relapse_valid_from = Some(Some(st.valid_from));
            changes.relapse_valid_to = Some(st.valid_to);
        }
        Some(None) => {
            changes.relapse_monitoring = Some(false);
            changes.relapse_certifying_region = Some(None);
            changes.relapse_valid_from = Some(None);
            changes.relapse_valid_to = Some(None);
        }
        None => {}
    }
    changes.special_circumstances = body.special_circumstances.as_ref().map(|cs| {
        cs.iter()
            .map(|c| c.as_str().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    });
    if let Some(Some(e)) = &body.external_id {
        if e.is_empty() || e.len() > 100 {
            errors.push(FieldError::new(
                "external_id",
                "length",
                "length must be between 1 and 100",
            ));
        }
    }
    changes.external_id = body.external_id.clone();
    ApiError::check(errors)?;
    Ok(changes)
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
async fn update_person(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<web::Json<Person>, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, errors) = body.parse::<UpdatePerson>()?;
    let changes = check_update(&body, &state.data_keys, errors)?;
    if let Some(r) = &changes.region_code {
        if !caller.covers_region(r) {
            return Err(ApiError::forbidden(format!(
                "region {r} is outside your region {}",
                caller.region
            )));
        }
    }
    let fields = body.changed_fields();
    let person_id = id.into_inner();
    let row = with_transaction!(&state.pool, async move |conn| {
        let person = load_person(conn, person_id).await?;
        require_staff(&caller, &person)?;
        let row = persons::update(conn, person_id, &changes).await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "person.update", "person", person_id)
                .reason(body.reason.clone())
                .details(json!({"fields": fields})),
        )
        .await?;
        Ok(row)
    })?;
    Ok(web::Json(full_view(&row, None, Utc::now().date_naive())))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonLookup {
    /// The resident ID number to find; in the body so it stays out of URLs and access logs.
    #[schema(example = "230102199003070015", pattern = r"^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
}

/// Find a person by exact ID number (按身份证号查找). Civil-affairs staff, within their region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = PersonLookup,
    responses(
        (status = 200, description = "The person (masked)", body = Person),
        (status = 404, description = "No such person within the caller's region"),
        (status = 422, description = "Not a valid ID number"),
    )
)]
#[post("/persons/lookup")]
async fn lookup_person(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<web::Json<Person>, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let body: PersonLookup = body.valid()?;
    let today = Utc::now().date_naive();
    let id = ResidentId::parse(&body.id_number, today)
        .map_err(|e| ApiError::field("id_number", e.code(), e.to_string()))?;
    let hash = state.data_keys.blind_index(id.expose());
    let view = with_transaction!(&state.pool, async move |conn| {
        let person = persons::find_by_id_hash(conn, &hash)
            .await?
            .filter(|p| caller.covers_region(&p.region_code))
            .ok_or_else(|| ApiError::not_found("person"))?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "person.lookup", "person", person.id),
        )
        .await?;
        Ok(full_view(&person, None, today))
    })?;
    Ok(web::Json(view))
}

// ---------------------------------------------------------------------------------------------
// Government aid received

/// A government aid record (政府救助记录).
#[derive(Debug, Serialize, ToSchema)]
pub struct GovernmentAid {
    pub id: Uuid,
    pub person_id: Uuid,
    pub programme: Programme,
    /// Amount in fen (分).
    pub amount_fen: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub source_system: String,
    pub certifying_region: String,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<GovernmentAidRow> for GovernmentAid {
    fn from(r: GovernmentAidRow) -> Self {
        Self {
            id: r.id,
            person_id: r.person_id,
            programme: parse_or(&r.programme, Programme::TemporaryAid),
            amount_fen: r.amount_fen,
            period_start: r.period_start,
            period_end: r.period_end,
            source_system: r.source_system,
            certifying_region: r.certifying_region,
            recorded_by_organization_id: r.recorded_by_organization_id,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGovernmentAid {
    pub programme: Programme,
    /// Non-negative integer fen.
    #[validate(range(min = 0))]
    #[schema(example = 68000)]
    pub amount_fen: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// The system the record comes from (e.g. the low-income monitoring platform).
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "dibao-system")]
    pub source_system: String,
    #[schema(example = "230102001")]
    pub certifying_region: String,
}

/// Record government aid a person received (录入政府救助). Civil-affairs staff of the person's region.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = CreateGovernmentAid,
    responses(
        (status = 201, description = "Recorded", body = GovernmentAid),
        (status = 404, description = "No such person within the caller's region"),
        (status = 422, description = "Invalid field (amount, period, region)"),
    )
)]
#[post("/persons/{id}/government-aid")]
async fn create_government_aid(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<CreateGovernmentAid>()?;
    if body.period_end < body.period_start {
        errors.push(FieldError::new(
            "period_end",
            "before_start",
            "period_end is before period_start",
        ));
    }
    let region = RegionCode::parse(&body.certifying_region)
        .map_err(|e| {
            errors.push(FieldError::new(
                "certifying_region",
                "invalid_region_code",
                e.to_string(),
            ))
        })
        .ok();
    let Some(region) = region.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let person_id = id.into_inner();
    let row = with_transaction!(&state.pool, async move |conn| {
        let person = load_person(conn, person_id).await?;
        require_staff(&caller, &person)?;
        let row = persons::insert_government_aid(
            conn,
            &NewGovernmentAid {
                id: Uuid::now_v7(),
                person_id,
                programme: body.programme.as_str().to_owned(),
                amount_fen: body.amount_fen,
                period_start: body.period_start,
                period_end: body.period_end,
                source_system: body.source_system.clone(),
                certifying_region: region.into_string(),
                recorded_by_organization_id: caller.organization_id,
            },
        )
        .await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "government_aid.create", "government_aid", row.id)
                .details(json!({"person_id": person_id, "programme": row.programme, "amount_fen": row.amount_fen})),
        )
        .await?;
        Ok(row)
    })?;
    Ok(HttpResponse::Created().json(GovernmentAid::from(row)))
}

/// Government aid a person received. Staff of the region, auditors (audited), and charities
/// whose consent covers `aid_history` (audited).
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    responses(
        (status = 200, description = "Records, newest period first", body = Vec<GovernmentAid>),
        (status = 404, description = "No such person within the caller's reach"),
    )
)]
#[get("/persons/{id}/government-aid")]
async fn list_government_aid(
    caller: Caller,
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<GovernmentAid>>, ApiError> {
    let person_id = id.into_inner();
    let mut conn = state.pool.get().await?;
    let person = load_person(&mut conn, person_id).await?;
    let event = match access_to(&mut conn, &caller, &person).await? {
        Access::Staff => None,
        Access::Auditor => Some("government_aid.read"),
        Access::Recipient(cov) if cov.allows(DataCategory::AidHistory) => Some("person.disclose"),
        Access::Recipient(_) => return Err(ApiError::not_found("person")),
    };
    let rows = persons::government_aid_of(&mut conn, person_id).await?;
    drop(conn);
    if let Some(action) = event {
        let ev = NewAuditEvent::by(&caller, &meta, action, "person", person_id)
            .details(json!({"categories": ["aid_history"]}));
        audit::record(&state.pool, ev).await?;
    }
    Ok(web::Json(
        rows.into_iter().map(GovernmentAid::from).collect(),
    ))
}
