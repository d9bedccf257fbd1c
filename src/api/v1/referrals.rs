//! Referrals (转介) from bureaus to charities, and their answers.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, versioned, Page};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::referrals::{HistoryRow, ReferralFilter, ReferralRow};
use crate::domain::need::Urgency;
use crate::domain::referral::{DeclineReason, Direction, LegalBasis, Outcome, ReferralStatus};
use crate::domain::region::RegionCode;
use crate::error::{ApiError, FieldError};
use crate::service::referrals::{self, NewReferral, Target};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_referral)
        .service(list_referrals)
        .service(get_referral)
        .service(accept_referral)
        .service(decline_referral)
        .service(cancel_referral)
        .service(start_referral)
        .service(complete_referral)
        .service(add_note)
        .service(forward_referral)
        .service(list_notes)
        .service(referral_history);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Referral {
    pub id: Uuid,
    /// Absent while the referral is only an offer to the caller (open to its region, not taken).
    pub person_id: Option<Uuid>,
    pub need_ids: Vec<Uuid>,
    pub referring_organization_id: Uuid,
    /// The addressed charity (absent for a referral open to a region).
    pub target_organization_id: Option<Uuid>,
    /// Open to every charity registered in this region; the first to accept owns it.
    pub target_region_code: Option<String>,
    /// The charity that accepted.
    pub owner_organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub urgency: Urgency,
    pub note: Option<String>,
    /// `consent`, or `emergency` (PIPL art. 13(4), flagged for supervision).
    pub legal_basis: LegalBasis,
    pub status: ReferralStatus,
    pub response_due_at: DateTime<Utc>,
    pub feedback_due_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<DeclineReason>,
    pub cancel_reason: Option<String>,
    pub outcome: Option<String>,
    /// The aid records reported with the outcome.
    pub aid_record_ids: Vec<Uuid>,
    pub previous_referral_id: Option<Uuid>,
    /// The federation's referral this one forwards.
    pub forwarded_from_id: Option<Uuid>,
    /// The member charity's referral this one was forwarded as.
    pub forwarded_to_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ReferralRow> for Referral {
    fn from(r: ReferralRow) -> Self {
        Self {
            id: r.id,
            person_id: Some(r.person_id),
            need_ids: r.need_ids,
            referring_organization_id: r.referring_organization_id,
            target_organization_id: r.target_organization_id,
            target_region_code: r.target_region_code,
            owner_organization_id: r.owner_organization_id,
            project_id: r.project_id,
            urgency: r.urgency,
            note: r.note,
            legal_basis: r.legal_basis,
            status: r.status,
            response_due_at: r.response_due_at,
            feedback_due_at: r.feedback_due_at,
            decline_reason: r.decline_reason,
            cancel_reason: r.cancel_reason,
            outcome: r.outcome,
            aid_record_ids: r.aid_record_ids,
            previous_referral_id: r.previous_referral_id,
            forwarded_from_id: r.forwarded_from_id,
            forwarded_to_id: r.forwarded_to_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl From<referrals::Seen> for Referral {
    fn from(s: referrals::Seen) -> Self {
        match s {
            referrals::Seen::Case(r) => r.into(),
            // An offer: what the charity needs to decide whether to take it, not who.
            referrals::Seen::Offer(r) => Self {
                person_id: None,
                need_ids: Vec::new(),
                note: None,
                ..r.into()
            },
        }
    }
}

/// One charity, or every charity of a region.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    pub organization_id: Option<Uuid>,
    pub region_code: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "person_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f00",
    "need_ids": ["01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f03"],
    "target": {"organization_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f04"},
    "urgency": "urgent",
    "note": "医疗救助后仍有自付缺口"
}))]
pub struct CreateReferral {
    pub person_id: Uuid,
    /// 1 to 20 of the person's open needs.
    pub need_ids: Vec<Uuid>,
    pub target: TargetBody,
    /// One of the addressed charity's published projects (a place is taken on acceptance).
    pub project_id: Option<Uuid>,
    pub urgency: Urgency,
    #[validate(length(max = 1000))]
    pub note: Option<String>,
    /// Without a consent, for `emergency` only: why life or health is at stake (PIPL art. 13(4)).
    #[validate(length(max = 1000))]
    pub emergency_justification: Option<String>,
    /// The declined or expired referral this one follows.
    pub previous_referral_id: Option<Uuid>,
}

/// Refer a person to a charity (发起转介). Civil-affairs staff of the person's region, under a
/// consent covering the recipient for `referral` (422 `consent_required` otherwise), or in an
/// emergency with a justification (flagged for supervision).
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateReferral,
    responses(
        (status = 201, description = "Referred (status `pending`)", body = Referral),
        (status = 404, description = "No such person within the caller's region"),
        (status = 409, description = "A need changed meanwhile"),
        (status = 422, description = "Invalid field, or no consent covers the recipient"),
    )
)]
#[post("/referrals")]
async fn create_referral(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateReferral>()?;
    check_free_text("note", b.note.as_deref(), &mut errors);
    check_free_text(
        "emergency_justification",
        b.emergency_justification.as_deref(),
        &mut errors,
    );
    if b.need_ids.is_empty() || b.need_ids.len() > 20 {
        errors.push(FieldError::new(
            "need_ids",
            "length",
            "name 1 to 20 of the person's open needs",
        ));
    }
    let target = match (b.target.organization_id, &b.target.region_code) {
        (Some(o), None) => Some(Target::Organization(o)),
        (None, Some(r)) => match RegionCode::parse(r) {
            Ok(code) => Some(Target::Region(code.into_string())),
            Err(e) => {
                errors.push(FieldError::new(
                    "target.region_code",
                    "invalid_region_code",
                    e.to_string(),
                ));
                None
            }
        },
        _ => {
            errors.push(FieldError::new(
                "target",
                "one_of",
                "name either organization_id or region_code",
            ));
            None
        }
    };
    ApiError::check(errors)?;
    let Some(target) = target else {
        return Err(ApiError::field(
            "target",
            "one_of",
            "name either organization_id or region_code",
        ));
    };
    let mut need_ids = b.need_ids;
    need_ids.sort();
    need_ids.dedup();
    let row = referrals::create(
        &state.ctx,
        &caller,
        NewReferral {
            person_id: b.person_id,
            need_ids,
            target,
            project_id: b.project_id,
            urgency: b.urgency,
            note: b.note,
            emergency_justification: b.emergency_justification,
            previous_referral_id: b.previous_referral_id,
        },
    )
    .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/referrals/{}", row.id)));
    Ok(versioned(res, row.version, &Referral::from(row)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// `sent` (civil-affairs staff, the default for them) or `received` (charities).
    #[param(inline)]
    pub direction: Option<Direction>,
    pub status: Option<ReferralStatus>,
    /// Region code prefix of the people referred (lists of sent referrals).
    pub region: Option<String>,
    #[param(inline)]
    pub urgency: Option<Urgency>,
    pub project_id: Option<Uuid>,
    /// Only those past their response (pending) or feedback (accepted, in progress) deadline.
    pub overdue: Option<bool>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List referrals: a bureau those it sent, a charity those it received.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(ReferralQuery),
    responses((status = 200, description = "A page of referrals", body = Page<Referral>))
)]
#[get("/referrals")]
async fn list_referrals(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<ReferralQuery>,
) -> Result<web::Json<Page<Referral>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    let sent = match q.direction {
        Some(d) => d == Direction::Sent,
        None => !caller.has(crate::domain::role::Role::Charity),
    };
    super::check_region_param(q.region.as_deref())?;
    let filter = ReferralFilter {
        status: q.status,
        person_region: q.region,
        urgency: q.urgency,
        project_id: q.project_id,
        overdue_at: q.overdue.filter(|o| *o).map(|_| state.ctx.clock.now()),
        after: q.cursor,
        limit: limit + 1,
        ..ReferralFilter::default()
    };
    let rows = referrals::list(&state.ctx, &caller, sent, filter).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |s| s.row().id.to_string(),
        Referral::from,
    )))
}

/// One referral: the referring bureau, the addressed or owning charity, auditors (recorded).
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    responses(
        (status = 200, description = "The referral", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
    )
)]
#[get("/referrals/{id}")]
async fn get_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let seen = referrals::get(&state.ctx, &caller, id.into_inner()).await?;
    let version = match &seen {
        referrals::Seen::Case(r) | referrals::Seen::Offer(r) => r.version,
    };
    Ok(versioned(
        HttpResponse::Ok(),
        version,
        &Referral::from(seen),
    ))
}

/// Accept a referral (接收转介): the addressed charity, or for a referral open to a region the
/// first of its charities (the others get 409). For a project, one of its places is taken.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    responses(
        (status = 200, description = "Accepted", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
        (status = 409, description = "Not pending (names the state), already taken, or the project is full"),
    )
)]
#[post("/referrals/{id}/accept")]
async fn accept_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = referrals::accept(&state.ctx, &caller, id.into_inner()).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Referral::from(row),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "no_capacity", "note": "本季度名额已满"}))]
pub struct DeclineReferral {
    pub reason: DeclineReason,
    #[validate(length(max = 1000))]
    pub note: Option<String>,
}

/// Decline a referral with a reason (拒绝转介): the addressed charity. Its needs return to the pool.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = DeclineReferral,
    responses(
        (status = 200, description = "Declined", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
        (status = 409, description = "Not pending (names the state)"),
    )
)]
#[post("/referrals/{id}/decline")]
async fn decline_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<DeclineReferral>()?;
    check_free_text("note", b.note.as_deref(), &mut errors);
    ApiError::check(errors)?;
    let row = referrals::decline(&state.ctx, &caller, id.into_inner(), b.reason, b.note).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Referral::from(row),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "已通过临时救助解决"}))]
pub struct CancelReferral {
    #[validate(length(min = 1, max = 500))]
    pub reason: String,
}

/// Cancel a referral (撤回转介): the referring bureau, while it has not ended.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = CancelReferral,
    responses(
        (status = 200, description = "Cancelled", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
        (status = 409, description = "Already ended (names the state)"),
    )
)]
#[post("/referrals/{id}/cancel")]
async fn cancel_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CancelReferral>()?;
    check_free_text("reason", Some(&b.reason), &mut errors);
    super::check_not_blank("reason", Some(&b.reason), &mut errors);
    ApiError::check(errors)?;
    let row = referrals::cancel(&state.ctx, &caller, id.into_inner(), b.reason).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Referral::from(row),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralEvent {
    pub from_status: Option<ReferralStatus>,
    pub to_status: ReferralStatus,
    pub actor_organization_id: Option<Uuid>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<HistoryRow> for ReferralEvent {
    fn from(h: HistoryRow) -> Self {
        Self {
            from_status: h.from_status,
            to_status: h.to_status,
            actor_organization_id: h.actor_organization_id,
            note: h.note,
            at: h.at,
        }
    }
}

/// A referral's history (流转记录), oldest first.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    responses(
        (status = 200, description = "Every transition", body = Vec<ReferralEvent>),
        (status = 404, description = "No such referral within the caller's reach"),
    )
)]
#[get("/referrals/{id}/history")]
async fn referral_history(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<ReferralEvent>>, ApiError> {
    let rows = referrals::history_of(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Start helping (开始帮扶): the charity that accepted.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    responses(
        (status = 200, description = "In progress", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
        (status = 409, description = "Not accepted (names the state)"),
    )
)]
#[post("/referrals/{id}/start")]
async fn start_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = referrals::start(&state.ctx, &caller, id.into_inner()).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Referral::from(row),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "got_help", "aid_record_ids": [], "note": "已资助化疗费用"}))]
pub struct CompleteReferral {
    pub outcome: Outcome,
    /// The charity's aid records for this person that the outcome reports (up to 50).
    #[serde(default)]
    pub aid_record_ids: Vec<Uuid>,
    #[validate(length(max = 1000))]
    pub note: Option<String>,
}

/// Report the outcome (反馈结果): the charity that helped. With `got_help` the needs are met;
/// otherwise they return to the pool.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = CompleteReferral,
    responses(
        (status = 200, description = "Completed", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
        (status = 409, description = "Not in progress (names the state)"),
        (status = 422, description = "Invalid field (an aid record not of this charity and person)"),
    )
)]
#[post("/referrals/{id}/complete")]
async fn complete_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CompleteReferral>()?;
    check_free_text("note", b.note.as_deref(), &mut errors);
    if b.aid_record_ids.len() > 50 {
        errors.push(FieldError::new(
            "aid_record_ids",
            "length",
            "at most 50 aid records",
        ));
    }
    ApiError::check(errors)?;
    let mut ids = b.aid_record_ids;
    ids.sort();
    ids.dedup();
    let row =
        referrals::complete(&state.ctx, &caller, id.into_inner(), b.outcome, ids, b.note).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Referral::from(row),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralNote {
    pub id: Uuid,
    pub author_organization_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<crate::db::referrals::NoteRow> for ReferralNote {
    fn from(n: crate::db::referrals::NoteRow) -> Self {
        Self {
            id: n.id,
            author_organization_id: n.author_organization_id,
            body: n.body,
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "已电话联系本人，约定周五家访"}))]
pub struct CreateNote {
    #[validate(length(min = 1, max = 2000))]
    pub body: String,
}

/// Write a note on the case (案件沟通): the referring bureau or the charity it is addressed to.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = CreateNote,
    responses(
        (status = 201, description = "Written", body = ReferralNote),
        (status = 404, description = "No such referral within the caller's reach"),
    )
)]
#[post("/referrals/{id}/notes")]
async fn add_note(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateNote>()?;
    check_free_text("body", Some(&b.body), &mut errors);
    super::check_not_blank("body", Some(&b.body), &mut errors);
    ApiError::check(errors)?;
    let row = referrals::add_note(&state.ctx, &caller, id.into_inner(), b.body).await?;
    Ok(HttpResponse::Created().json(ReferralNote::from(row)))
}

/// The case's notes, oldest first: its two parties, and auditors (recorded).
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    responses(
        (status = 200, description = "The notes", body = Vec<ReferralNote>),
        (status = 404, description = "No such referral within the caller's reach"),
    )
)]
#[get("/referrals/{id}/notes")]
async fn list_notes(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Vec<ReferralNote>>, ApiError> {
    let rows = referrals::notes(&state.ctx, &caller, id.into_inner()).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organization_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f05"}))]
pub struct ForwardReferral {
    /// A member charity of the federation.
    pub organization_id: Uuid,
}

/// Forward a referral to a member charity (慈善总会转派): the federation it is addressed to. The
/// forward is a new referral linked to the original, which ends as cancelled (`forwarded`).
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Referral id")),
    request_body = ForwardReferral,
    responses(
        (status = 201, description = "Forwarded: the new referral", body = Referral),
        (status = 404, description = "No such referral within the caller's reach"),
        (status = 409, description = "Not pending (names the state)"),
        (status = 422, description = "Not a member, or no consent covers the member"),
    )
)]
#[post("/referrals/{id}/forward")]
async fn forward_referral(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let b = body.valid::<ForwardReferral>()?;
    let row = referrals::forward(&state.ctx, &caller, id.into_inner(), b.organization_id).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/referrals/{}", row.id)));
    Ok(versioned(res, row.version, &Referral::from(row)))
}
