//! Consent (知情同意): recorded per recipient, purpose and data category; never edited;
//! withdrawn in one call that takes effect at once.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::scope::{load_person, record_supervision_read, require_staff};
use crate::api::extract::{JsonBody, RequestMeta};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::consents::{self, ConsentRow, NewConsent};
use crate::db::organizations;
use crate::domain::consent::{
    needs_guardian, status, ConsentMethod, ConsentStatus, DataCategory, GivenBy, Purpose,
};
use crate::domain::organization::OrganizationKind;
use crate::domain::parse_or;
use crate::domain::region::RegionCode;
use crate::domain::resident_id::{self, ResidentId};
use crate::domain::role::Role;
use crate::error::{ApiError, FieldError};
use crate::privacy::{DataKeys, Field};
use crate::with_transaction;

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
    /// `given`, `withdrawn` or `expired`, computed from the clock.
    pub status: ConsentStatus,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
}

fn consent_view(r: &ConsentRow, keys: &DataKeys) -> Consent {
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
        purposes: r.purposes.iter().filter_map(|p| p.parse().ok()).collect(),
        data_categories: r
            .data_categories
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect(),
        method: parse_or(&r.method, ConsentMethod::Written),
        notice_version: r.notice_version.clone(),
        notice_sha256: r.notice_sha256.clone(),
        evidence_ref: r.evidence_ref.clone(),
        given_by: parse_or(&r.given_by, GivenBy::Subject),
        guardian,
        given_at: r.given_at,
        expires_at: r.expires_at,
        withdrawn_at: r.withdrawn_at,
        withdrawal_reason: r.withdrawal_reason.clone(),
        status: status(&r.facts(), Utc::now()),
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
    let mut guardian_id = None;
    match (body.given_by, &body.guardian) {
        (GivenBy::Guardian, None) => errors.push(FieldError::new(
            "guardian",
            "required",
            "name the guardian who gave consent",
        )),
        (GivenBy::Guardian, Some(g)) => match ResidentId::parse(&g.id_number, now.date_naive()) {
            Ok(id) if id.age_on(now.date_naive()) < 18 => errors.push(FieldError::new(
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

fn dedup<T: Ord + Copy>(v: &[T]) -> Vec<T> {
    v.iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
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
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (body, mut errors) = body.parse::<CreateConsent>()?;
    let now = Utc::now();
    let guardian_id = check_consent(&body, now, &mut errors);
    ApiError::check(errors)?;
    let keys = state.data_keys.clone();
    let person_id = id.into_inner();
    let row = with_transaction!(&state.pool, async move |conn| {
        let person = load_person(conn, person_id).await?;
        require_staff(&caller, &person)?;
        let given_at = body.given_at.unwrap_or(now);
        if needs_guardian(person.birth_date, given_at.date_naive())
            && body.given_by != GivenBy::Guardian
        {
            return Err(ApiError::field(
                "given_by",
                "guardian_required",
                "the person is under 14: consent must be given by a guardian (PIPL art. 31)",
            ));
        }
        if let Some(org_id) = body.recipient.organization_id {
            let org = organizations::find(conn, org_id).await?;
            let ok = org.as_ref().is_some_and(|o| {
                o.status == "active"
                    && matches!(
                        parse_or(&o.kind, OrganizationKind::Other),
                        OrganizationKind::Charity
                            | OrganizationKind::CharityFederation
                            | OrganizationKind::RedCross
                            | OrganizationKind::SocialWorkAgency
                    )
            });
            if !ok {
                return Err(ApiError::field(
                    "recipient.organization_id",
                    "not_a_charity",
                    "the recipient must be an active charity organisation",
                ));
            }
        }
        let (guardian_enc, guardian_hash) = match &guardian_id {
            Some(g) => (
                Some(
                    keys.encrypt(Field::GuardianIdNumber, g.expose())
                        .map_err(ApiError::internal)?,
                ),
                Some(keys.blind_index(g.expose())),
            ),
            None => (None, None),
        };
        let row = consents::insert(
            conn,
            &NewConsent {
                id: Uuid::now_v7(),
                person_id,
                recipient_organization_id: body.recipient.organization_id,
                recipient_region_code: body
                    .recipient
                    .region_code
                    .as_deref()
                    .and_then(|r| RegionCode::parse(r).ok())
                    .map(RegionCode::into_string),
                purposes: dedup(&body.purposes)
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
                data_categories: dedup(&body.data_categories)
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
                method: body.method.as_str().to_owned(),
                notice_version: body.notice_version.clone(),
                notice_sha256: body.notice_sha256.clone(),
                evidence_ref: body.evidence_ref.clone(),
                given_by: body.given_by.as_str().to_owned(),
                guardian_name: body.guardian.as_ref().map(|g| g.name.clone()),
                guardian_relation: body.guardian.as_ref().map(|g| g.relation.clone()),
                guardian_id_number_encrypted: guardian_enc,
                guardian_id_number_hash: guardian_hash,
                given_at,
                expires_at: body.expires_at,
                recorded_by_organization_id: caller.organization_id,
                recorded_by: caller.id,
            },
        )
        .await?;
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "consent.create", "consent", row.id).details(json!({
                "person_id": person_id,
                "recipient_organization_id": row.recipient_organization_id,
                "recipient_region_code": row.recipient_region_code,
                "purposes": row.purposes,
                "data_categories": row.data_categories,
                "given_by": row.given_by,
            })),
        )
        .await?;
        Ok(row)
    })?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/persons/{}/consents", row.person_id),
        ))
        .json(consent_view(&row, &state.data_keys)))
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
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<Consent>>, ApiError> {
    caller.require_any(&[Role::CivilAffairs, Role::Auditor])?;
    let mut conn = state.pool.get().await?;
    let person = load_person(&mut conn, id.into_inner()).await?;
    if !caller.has(Role::Auditor) {
        require_staff(&caller, &person)?;
    }
    let rows = consents::of_person(&mut conn, person.id).await?;
    drop(conn);
    record_supervision_read(
        &state.pool,
        &caller,
        &meta,
        "consent.read",
        "person",
        Some(person.id),
        json!({}),
    )
    .await?;
    Ok(web::Json(
        rows.iter()
            .map(|r| consent_view(r, &state.data_keys))
            .collect(),
    ))
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
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
    meta: RequestMeta,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<web::Json<Withdrawal>, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let body: WithdrawConsent = body.valid()?;
    let consent_id = id.into_inner();
    let (row, still_covered) = with_transaction!(&state.pool, async move |conn| {
        let current = consents::find_for_update(conn, consent_id)
            .await?
            .ok_or_else(|| ApiError::not_found("consent"))?;
        let person = load_person(conn, current.person_id).await?;
        require_staff(&caller, &person).map_err(|_| ApiError::not_found("consent"))?;
        let now = Utc::now();
        let row = consents::withdraw(conn, consent_id, now, body.reason.as_deref())
            .await?
            .ok_or_else(|| {
                ApiError::conflict("already_withdrawn", "this consent was already withdrawn")
            })?;
        let same_recipient = |c: &ConsentRow| {
            c.id != row.id
                && c.recipient_organization_id == row.recipient_organization_id
                && c.recipient_region_code == row.recipient_region_code
                && status(&c.facts(), now) == ConsentStatus::Given
        };
        let still_covered = consents::of_person(conn, row.person_id)
            .await?
            .iter()
            .any(same_recipient);
        audit::append(
            conn,
            NewAuditEvent::by(&caller, &meta, "consent.withdraw", "consent", row.id)
                .reason(body.reason.clone())
                .details(
                    json!({"person_id": row.person_id, "recipient_access_ended": !still_covered}),
                ),
        )
        .await?;
        Ok((row, still_covered))
    })?;
    Ok(web::Json(Withdrawal {
        consent: consent_view(&row, &state.data_keys),
        effects: WithdrawalEffects {
            recipient_access_ended: !still_covered,
            referrals_cancelled: Vec::new(),
        },
    }))
}
