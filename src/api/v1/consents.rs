//! Consent (知情同意): recorded per recipient, purpose and data category; never edited;
//! withdrawn in one call that takes effect at once.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::api::extract::JsonBody;
use crate::api::v1::{check_free_text, check_year};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::consents::ConsentRow;
use crate::domain::consent::{
    status, ConsentMethod, ConsentStatus, DataCategory, GivenBy, Purpose,
};
use crate::domain::region::RegionCode;
use crate::domain::resident_id::{self, ResidentId};
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::privacy::{DataKeys, Field};
use crate::service::consents::{self, GuardianFacts, NewConsentInput};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_consent)
        .service(list_consents)
        .service(withdraw_consent);
}

/// Who receives the data: one organisation, or every charity in a region (matching, open
/// referrals; such a consent shows charities a de-identified summary only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecipient {
    pub organization_id: Option<Uuid>,
    #[schema(example = "2301")]
    pub region_code: Option<String>,
}

/// A guardian giving consent for a minor (under 14) or a person without capacity (PIPL art. 31).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianInput {
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// e.g. 父亲, 母亲, 祖母, 法定监护人
    #[validate(length(min = 1, max = 50))]
    pub relation: String,
    /// The guardian's resident ID number (stored encrypted).
    pub id_number: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Guardian {
    pub name: String,
    pub relation: String,
    /// Masked.
    pub id_number: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "recipient": {"region_code": "2301"},
    "purposes": ["matching"],
    "data_categories": [],
    "method": "written",
    "notice_version": "hlj-referral-notice-2024.1",
    "notice_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "evidence_ref": "scan-2026-000123",
    "given_by": "subject"
}))]
pub struct CreateConsent {
    pub recipient: ConsentRecipient,
    /// At least one; the recipient is bound to these (a new purpose needs a new consent).
    #[validate(length(min = 1, message = "name at least one purpose"))]
    #[schema(min_items = 1)]
    pub purposes: Vec<Purpose>,
    /// What the recipient may see; may be empty only for a region-wide consent.
    #[serde(default)]
    pub data_categories: Vec<DataCategory>,
    pub method: ConsentMethod,
    /// Version of the notice text the person was shown.
    #[validate(length(min = 1, max = 50))]
    #[schema(example = "hlj-referral-notice-2024.1")]
    pub notice_version: String,
    /// SHA-256 of that notice text, lower-case hex.
    #[schema(
        example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        pattern = "^[0-9a-f]{64}$"
    )]
    pub notice_sha256: String,
    /// Where the evidence is kept (scan id, e-signature id, witness record).
    #[validate(length(min = 1, max = 500))]
    pub evidence_ref: String,
    pub given_by: GivenBy,
    #[validate(nested)]
    pub guardian: Option<GuardianInput>,
    /// When consent was given; defaults to now.
    pub given_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A recorded consent with its computed status.
#[derive(Debug, Serialize, ToSchema)]
pub struct Consent {
    pub id: Uuid,
    pub person_id: Uuid,
    pub recipient: ConsentRecipient,
    pub purposes: Vec<Purpose>,
    pub data_categories: Vec<DataCategory>,
    pub method: ConsentMethod,
    pub notice_version: String,
    pub notice_sha256: String,
    pub evidence_ref: String,
    pub given_by: GivenBy,
    pub guardian: Option<Guardian>,
    pub given_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawal_reason: Option<String>,
    /// `pending` (given_at still ahead), `given`, `withdrawn` or `expired`, from the clock.
    pub status: ConsentStatus,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
}

fn consent_view(r: &ConsentRow, keys: &DataKeys, now: DateTime<Utc>) -> Consent {
    let guardian = match (&r.guardian_name, &r.guardian_id_number_encrypted) {
        (Some(name), Some(enc)) => Some(Guardian {
            name: name.clone(),
            relation: r.guardian_relation.clone().unwrap_or_default(),
            id_number: keys
                .decrypt(Field::GuardianIdNumber, enc)
                .map(|n| resident_id::mask(&n))
                .unwrap_or_else(|_| "******************".into()),
        }),
        _ => None,
    };
    Consent {
        id: r.id,
        person_id: r.person_id,
        recipient: ConsentRecipient {
            organization_id: r.recipient_organization_id,
            region_code: r.recipient_region_code.clone(),
        },
        purposes: r.purposes.clone(),
        data_categories: r.data_categories.clone(),
        method: r.method,
        notice_version: r.notice_version.clone(),
        notice_sha256: r.notice_sha256.clone(),
        evidence_ref: r.evidence_ref.clone(),
        given_by: r.given_by,
        guardian,
        given_at: r.given_at,
        expires_at: r.expires_at,
        withdrawn_at: r.withdrawn_at,
        withdrawal_reason: r.withdrawal_reason.clone(),
        status: status(&r.facts(), now),
        recorded_by_organization_id: r.recorded_by_organization_id,
        created_at: r.created_at,
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Field checks that need no database.
fn check_consent(
    body: &CreateConsent,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<ResidentId> {
    check_recipient(body, errors);
    check_year("given_at", body.given_at.map(|t| t.date_naive()), errors);
    check_year(
        "expires_at",
        body.expires_at.map(|t| t.date_naive()),
        errors,
    );
    check_free_text("evidence_ref", Some(&body.evidence_ref), errors);
    if !is_sha256_hex(&body.notice_sha256) {
        errors.push(FieldError::new(
            "notice_sha256",
            "invalid_sha256",
            "64 lower-case hex characters",
        ));
    }
    let given_at = body.given_at.unwrap_or(now);
    if given_at > now + Duration::minutes(5) {
        errors.push(FieldError::new(
            "given_at",
            "in_future",
            "consent cannot be given in the future",
        ));
    }
    if let Some(exp) = body.expires_at {
        if exp <= given_at {
            errors.push(FieldError::new(
                "expires_at",
                "before_given",
                "expires_at must be after given_at",
            ));
        }
    }
    check_guardian(body, crate::domain::time::local_date(now), errors)
}

/// One recipient per consent: an organisation with its categories, or a region.
fn check_recipient(body: &CreateConsent, errors: &mut Vec<FieldError>) {
    match (&body.recipient.organization_id, &body.recipient.region_code) {
        (Some(_), None) => {
            if body.data_categories.is_empty() {
                errors.push(FieldError::new(
                    "data_categories",
                    "required",
                    "name the data categories the organisation may see",
                ));
            }
        }
        (None, Some(r)) => {
            if !body.data_categories.is_empty() {
                errors.push(FieldError::new(
                    "data_categories",
                    "not_applicable",
                    "a region-wide consent shows charities a de-identified summary only; name an organisation to share data categories",
                ));
            }
            if let Err(e) = RegionCode::parse(r) {
                errors.push(FieldError::new(
                    "recipient.region_code",
                    "invalid_region_code",
                    e.to_string(),
                ));
            }
        }
        _ => errors.push(FieldError::new(
            "recipient",
            "one_recipient",
            "give exactly one of organization_id or region_code (a separate consent per recipient)",
        )),
    }
}

/// A guardian exactly when `given_by` says so, and an adult; the guardian's checked ID number.
fn check_guardian(
    body: &CreateConsent,
    today: chrono::NaiveDate,
    errors: &mut Vec<FieldError>,
) -> Option<ResidentId> {
    let mut guardian_id = None;
    match (body.given_by, &body.guardian) {
        (GivenBy::Guardian, None) => errors.push(FieldError::new(
            "guardian",
            "required",
            "name the guardian who gave consent",
        )),
        (GivenBy::Guardian, Some(g)) => match ResidentId::parse(&g.id_number, today) {
            Ok(id) if id.age_on(today) < 18 => errors.push(FieldError::new(
                "guardian.id_number",
                "guardian_minor",
                "a guardian must be an adult",
            )),
            Ok(id) => guardian_id = Some(id),
            Err(e) => errors.push(FieldError::new(
                "guardian.id_number",
                e.code(),
                e.to_string(),
            )),
        },
        (GivenBy::Subject, Some(_)) => errors.push(FieldError::new(
            "guardian",
            "not_applicable",
            "a guardian is recorded only when given_by is guardian",
        )),
        (GivenBy::Subject, None) => {}
    }
    guardian_id
}

/// Record a person's consent (记录知情同意). Civil-affairs staff of the person's region.
///
/// One recipient per consent (PIPL art. 23): a named organisation with the data categories it
/// may see, or every charity in a region (de-identified summary only). A person under 14 needs
/// a guardian's consent. A consent is never edited: correct it by recording a new one.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    request_body = CreateConsent,
    responses(
        (status = 201, description = "Recorded", body = Consent),
        (status = 404, description = "No such person within the caller's region"),
        (status = 422, description = "Invalid field (recipient, guardian for a minor, notice hash, …)"),
    )
)]
#[post("/persons/{id}/consents")]
async fn create_consent(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<CreateConsent>()?;
    let now = state.ctx.clock.now();
    let guardian_id = check_consent(&body, now, &mut errors);
    ApiError::check(errors)?;
    let input = NewConsentInput {
        recipient_organization_id: body.recipient.organization_id,
        recipient_region_code: body
            .recipient
            .region_code
            .as_deref()
            .and_then(|r| RegionCode::parse(r).ok())
            .map(RegionCode::into_string),
        purposes: body.purposes,
        data_categories: body.data_categories,
        method: body.method,
        notice_version: body.notice_version,
        notice_sha256: body.notice_sha256,
        evidence_ref: body.evidence_ref,
        given_by: body.given_by,
        guardian: match (body.guardian, guardian_id) {
            (Some(g), Some(id)) => Some(GuardianFacts {
                name: g.name,
                relation: g.relation,
                id,
            }),
            _ => None,
        },
        given_at: body.given_at.unwrap_or(now),
        expires_at: body.expires_at,
    };
    let row = consents::record(&state.ctx, &caller, id.into_inner(), input).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/persons/{}/consents", row.person_id),
        ))
        .json(consent_view(&row, &state.ctx.keys, now)))
}

/// A person's consents, newest first. Civil-affairs staff of the region and auditors.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id")),
    responses(
        (status = 200, description = "Consents", body = Vec<Consent>),
        (status = 404, description = "No such person within the caller's region"),
    )
)]
#[get("/persons/{id}/consents")]
async fn list_consents(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<Consent>>, ApiError> {
    let rows = consents::of_person(&state.ctx, &caller, id.into_inner()).await?;
    let now = state.ctx.clock.now();
    Ok(web::Json(
        rows.iter()
            .map(|r| consent_view(r, &state.ctx.keys, now))
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "本人电话告知撤回"}))]
pub struct WithdrawConsent {
    /// Optional note (the person's words, the channel used).
    #[validate(length(max = 500))]
    pub reason: Option<String>,
}

/// What a withdrawal changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WithdrawalEffects {
    /// True when no other active consent still lets the recipient see the person.
    pub recipient_access_ended: bool,
    /// Open referrals that relied on this consent and were cancelled.
    pub referrals_cancelled: Vec<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Withdrawal {
    pub consent: Consent,
    pub effects: WithdrawalEffects,
}

/// Withdraw a consent (撤回同意): takes effect at once; the recipient sees nothing more under it.
/// Recorded by civil-affairs staff of the person's region on the person's behalf.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Consent id")),
    request_body = WithdrawConsent,
    responses(
        (status = 200, description = "Withdrawn; what it affected", body = Withdrawal),
        (status = 404, description = "No such consent within the caller's region"),
        (status = 409, description = "Already withdrawn"),
    )
)]
#[post("/consents/{id}/withdraw")]
async fn withdraw_consent(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<web::Json<Withdrawal>, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<WithdrawConsent>()?;
    check_free_text("reason", body.reason.as_deref(), &mut errors);
    ApiError::check(errors)?;
    let w = consents::withdraw(&state.ctx, &caller, id.into_inner(), body.reason).await?;
    Ok(web::Json(Withdrawal {
        consent: consent_view(&w.consent, &state.ctx.keys, state.ctx.clock.now()),
        effects: WithdrawalEffects {
            recipient_access_ended: w.recipient_access_ended,
            referrals_cancelled: w.referrals_cancelled,
        },
    }))
}
