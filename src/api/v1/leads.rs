//! Leads (线索): reverse referral and grassroots discovery.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::persons::government_aid::{check_aid, CreateGovernmentAid};
use super::{check_free_text, check_not_blank, versioned, Page};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::leads::{LeadFilter, LeadRow};
use crate::domain::lead::{LeadOutcome, LeadStatus};
use crate::domain::need::NeedCategory;
use crate::domain::person::Programme;
use crate::domain::phone::MobilePhone;
use crate::domain::region::RegionCode;
use crate::domain::resident_id::ResidentId;
use crate::error::{ApiError, FieldError};
use crate::service::leads::{self, Closing, LeadSide, NewLead, Subject};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_lead)
        .service(list_leads)
        .service(get_lead)
        .service(acknowledge_lead)
        .service(assess_lead)
        .service(close_lead)
        .service(reveal_lead);
}

/// The person as the reporter gave them (identifiers masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportedPerson {
    /// Where the reporter said the person lives.
    pub region_code: String,
    /// The registered person the reporter named.
    pub person_id: Option<Uuid>,
    pub name: Option<String>,
    /// Last four characters only.
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Lead {
    pub id: Uuid,
    pub status: LeadStatus,
    /// For the bureau and auditors only: where the lead is handled (a registered person's
    /// region, else the one reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_code: Option<String>,
    pub reported: ReportedPerson,
    pub person_agreed: bool,
    pub suspected_programmes: Vec<Programme>,
    pub need_categories: Vec<NeedCategory>,
    pub description: Option<String>,
    pub reporter_organization_id: Uuid,
    pub acknowledge_due_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub assessing_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome: Option<LeadOutcome>,
    /// The bureau's answer to the reporter.
    pub outcome_note: Option<String>,
    /// For the bureau and auditors only: the registered person the lead turned out to be about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<Uuid>,
    /// For the bureau and auditors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub government_aid_id: Option<Uuid>,
    /// For the bureau and auditors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of_id: Option<Uuid>,
    /// For the bureau and auditors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled_by_organization_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl Lead {
    fn of(r: LeadRow, side: LeadSide) -> Self {
        let inner = side != LeadSide::Reporter;
        Self {
            id: r.id,
            status: r.status,
            region_code: Some(r.region_code).filter(|_| inner),
            reported: ReportedPerson {
                region_code: r.reported_region_code,
                person_id: r.reported_person_id,
                name: r.name,
                id_number: r.id_number_masked,
                phone: r.phone_masked,
            },
            person_agreed: r.person_agreed,
            suspected_programmes: r.suspected_programmes,
            need_categories: r.need_categories,
            description: r.description,
            reporter_organization_id: r.reporter_organization_id,
            acknowledge_due_at: r.acknowledge_due_at,
            acknowledged_at: r.acknowledged_at,
            assessing_at: r.assessing_at,
            closed_at: r.closed_at,
            outcome: r.outcome,
            outcome_note: r.outcome_note,
            person_id: r.person_id.filter(|_| inner),
            government_aid_id: r.government_aid_id.filter(|_| inner),
            duplicate_of_id: r.duplicate_of_id.filter(|_| inner),
            handled_by_organization_id: r.handled_by_organization_id.filter(|_| inner),
            created_at: r.created_at,
        }
    }
}

/// Someone not yet registered: the least that lets the bureau find them.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnregisteredPerson {
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "李四", min_length = 1, max_length = 100)]
    pub name: String,
    /// 18-character resident ID number, if known (stored encrypted).
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "person": {"name": "李四", "phone": "13912345678"},
    "region_code": "230102001",
    "person_agreed": true,
    "suspected_programmes": ["subsistence_allowance"],
    "need_categories": ["living"],
    "description": "独居老人，冬季取暖困难"
}))]
pub struct CreateLead {
    /// A registered person (its id), or …
    pub person_id: Option<Uuid>,
    /// … minimal details of someone not yet registered.
    #[validate(nested)]
    pub person: Option<UnregisteredPerson>,
    /// Where the person lives; the bureau of this region answers.
    pub region_code: String,
    /// Whether the person agreed to be reported.
    pub person_agreed: bool,
    #[serde(default)]
    pub suspected_programmes: Vec<Programme>,
    #[serde(default)]
    pub need_categories: Vec<NeedCategory>,
    #[validate(length(max = 2000))]
    pub description: Option<String>,
}

/// Report a lead (上报线索): charity staff and grassroots workers report someone who may qualify
/// for government aid. The reporter later sees the status and outcome, nothing more.
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateLead,
    responses(
        (status = 201, description = "Reported (status `submitted`)", body = Lead),
        (status = 403, description = "Not a charity or grassroots worker"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/leads")]
async fn create_lead(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[
        crate::domain::role::Role::Charity,
        crate::domain::role::Role::Grassroots,
    ])?;
    let (b, mut errors) = body.parse::<CreateLead>()?;
    let today = crate::domain::time::local_date(state.ctx.clock.now());
    check_free_text("description", b.description.as_deref(), &mut errors);
    check_not_blank("description", b.description.as_deref(), &mut errors);
    let region = match RegionCode::parse(&b.region_code) {
        // The bureau that answers is a county's (区县) or below: a coarser region would reach
        // nobody's queue.
        Ok(code) if code.as_str().len() < 6 => {
            errors.push(FieldError::new(
                "region_code",
                "too_coarse",
                "give the region down to the county (6 digits) or finer",
            ));
            None
        }
        Ok(code) => Some(code),
        Err(e) => {
            errors.push(FieldError::new(
                "region_code",
                "invalid_region_code",
                e.to_string(),
            ));
            None
        }
    };
    let subject = match (b.person_id, b.person) {
        (Some(id), None) => Some(Subject::Person(id)),
        (None, Some(p)) => {
            check_not_blank("person.name", Some(&p.name), &mut errors);
            check_free_text("person.name", Some(&p.name), &mut errors);
            let id = match &p.id_number {
                Some(n) => ResidentId::parse(n, today)
                    .map_err(|e| {
                        errors.push(FieldError::new("person.id_number", e.code(), e.to_string()))
                    })
                    .ok(),
                None => None,
            };
            let phone = match &p.phone {
                Some(n) => MobilePhone::parse(n)
                    .map_err(|e| errors.push(FieldError::new("person.phone", "invalid_phone", e)))
                    .ok(),
                None => None,
            };
            Some(Subject::Unregistered {
                name: p.name,
                id,
                phone,
            })
        }
        _ => {
            errors.push(FieldError::new(
                "person_id",
                "one_of",
                "name either person_id or person",
            ));
            None
        }
    };
    ApiError::check(errors)?;
    let (Some(subject), Some(region)) = (subject, region) else {
        return Err(ApiError::field(
            "person_id",
            "one_of",
            "name either person_id or person",
        ));
    };
    let row = leads::submit(
        &state.ctx,
        &caller,
        NewLead {
            subject,
            region_code: region.into_string(),
            person_agreed: b.person_agreed,
            suspected_programmes: b.suspected_programmes,
            need_categories: b.need_categories,
            description: b.description,
        },
    )
    .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/leads/{}", row.id)));
    Ok(versioned(
        res,
        row.version,
        &Lead::of(row, LeadSide::Reporter),
    ))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    pub status: Option<LeadStatus>,
    /// Only leads still not acknowledged after their deadline.
    pub overdue: Option<bool>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List leads: a bureau its region's, a charity its own, a grassroots worker those it reported,
/// auditors all (recorded).
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    params(LeadQuery),
    responses((status = 200, description = "A page of leads", body = Page<Lead>))
)]
#[get("/leads")]
async fn list_leads(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<LeadQuery>,
) -> Result<web::Json<Page<Lead>>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    let filter = LeadFilter {
        status: q.status,
        unacknowledged_at: q.overdue.filter(|o| *o).map(|_| state.ctx.clock.now()),
        after: q.cursor,
        limit: limit + 1,
        ..LeadFilter::default()
    };
    let rows = leads::list(&state.ctx, &caller, filter).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |(r, _)| r.id.to_string(),
        |(r, s)| Lead::of(r, s),
    )))
}

/// One lead: the bureau of its region, the reporter (status and outcome), auditors (recorded).
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses(
        (status = 200, description = "The lead", body = Lead),
        (status = 404, description = "No such lead within the caller's reach"),
    )
)]
#[get("/leads/{id}")]
async fn get_lead(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (row, side) = leads::get(&state.ctx, &caller, id.into_inner()).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Lead::of(row, side),
    ))
}

/// Acknowledge a lead (确认收到): civil-affairs staff of its region, by `acknowledge_due_at`.
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses(
        (status = 200, description = "Acknowledged", body = Lead),
        (status = 404, description = "No such lead within the caller's reach"),
        (status = 409, description = "Not submitted (names the state)"),
    )
)]
#[post("/leads/{id}/acknowledge")]
async fn acknowledge_lead(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = leads::advance(
        &state.ctx,
        &caller,
        id.into_inner(),
        LeadStatus::Acknowledged,
    )
    .await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Lead::of(row, LeadSide::Bureau),
    ))
}

/// Start assessing a lead (核查): civil-affairs staff of its region, after acknowledging it.
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    responses(
        (status = 200, description = "Being assessed", body = Lead),
        (status = 404, description = "No such lead within the caller's reach"),
        (status = 409, description = "Not acknowledged (names the state)"),
    )
)]
#[post("/leads/{id}/assess")]
async fn assess_lead(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = leads::advance(&state.ctx, &caller, id.into_inner(), LeadStatus::Assessing).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Lead::of(row, LeadSide::Bureau),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "outcome": "aid_granted",
    "note": "已纳入最低生活保障",
    "aid": {"programme": "subsistence_allowance", "amount_fen": 68000,
            "period_start": "2026-12-01", "period_end": "2027-11-30",
            "source_system": "dibao-system", "certifying_region": "230102001"},
    "id_number": "230102199003070015"
}))]
pub struct CloseLead {
    pub outcome: LeadOutcome,
    /// The answer to the reporter.
    #[validate(length(max = 2000))]
    pub note: Option<String>,
    /// With `aid_granted`: the aid granted (recorded as government aid).
    #[validate(nested)]
    pub aid: Option<CreateGovernmentAid>,
    /// With `aid_granted`, when the lead names nobody registered and gave no ID number.
    pub id_number: Option<String>,
    /// With `duplicate`: the other lead.
    pub duplicate_of_id: Option<Uuid>,
}

/// Close a lead with its outcome (办结): civil-affairs staff of its region. `aid_granted` records
/// the government aid (registering someone not yet registered); refused for a declared relative
/// (403 `conflict_of_interest`).
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    request_body = CloseLead,
    responses(
        (status = 200, description = "Closed", body = Lead),
        (status = 403, description = "Conflict of interest"),
        (status = 404, description = "No such lead within the caller's reach"),
        (status = 409, description = "Already closed (names the state), or registered elsewhere"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/leads/{id}/close")]
async fn close_lead(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CloseLead>()?;
    let today = crate::domain::time::local_date(state.ctx.clock.now());
    check_free_text("note", b.note.as_deref(), &mut errors);
    let misplaced = |errors: &mut Vec<FieldError>, field: &str, present: bool| {
        if present {
            errors.push(FieldError::new(
                field,
                "not_for_outcome",
                format!("{field} does not go with outcome {}", b.outcome),
            ));
        }
    };
    let closing = match b.outcome {
        LeadOutcome::AidGranted => {
            misplaced(&mut errors, "duplicate_of_id", b.duplicate_of_id.is_some());
            let id_number = match &b.id_number {
                Some(n) => ResidentId::parse(n, today)
                    .map_err(|e| errors.push(FieldError::new("id_number", e.code(), e.to_string())))
                    .ok(),
                None => None,
            };
            match b.aid {
                Some(aid) => check_aid(aid, "aid.", &mut errors)
                    .map(|aid| Closing::AidGranted { aid, id_number }),
                None => {
                    errors.push(FieldError::new(
                        "aid",
                        "required",
                        "aid_granted names the aid granted",
                    ));
                    None
                }
            }
        }
        other => {
            misplaced(&mut errors, "aid", b.aid.is_some());
            misplaced(&mut errors, "id_number", b.id_number.is_some());
            if other != LeadOutcome::Duplicate {
                misplaced(&mut errors, "duplicate_of_id", b.duplicate_of_id.is_some());
            }
            match (other, b.duplicate_of_id) {
                (LeadOutcome::Duplicate, Some(d)) => Some(Closing::Duplicate(d)),
                (LeadOutcome::Duplicate, None) => {
                    errors.push(FieldError::new(
                        "duplicate_of_id",
                        "required",
                        "a duplicate names the other lead",
                    ));
                    None
                }
                (LeadOutcome::NotEligible, _) => Some(Closing::NotEligible),
                _ => Some(Closing::Unreachable),
            }
        }
    };
    ApiError::check(errors)?;
    let Some(closing) = closing else {
        return Err(ApiError::field(
            "outcome",
            "invalid",
            "the outcome's fields are missing",
        ));
    };
    let row = leads::close(&state.ctx, &caller, id.into_inner(), closing, b.note).await?;
    Ok(versioned(
        HttpResponse::Ok(),
        row.version,
        &Lead::of(row, LeadSide::Bureau),
    ))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "电话核实线索"}))]
pub struct RevealLead {
    /// Why (kept in the audit trail).
    #[validate(length(min = 1, max = 500))]
    pub reason: String,
}

/// The identifiers as reported, in clear.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedLead {
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

/// Reveal the ID number and phone a reporter gave for someone not yet registered (查看线索联系
/// 方式): civil-affairs staff of the lead's region, to reach the person; recorded with the reason.
#[utoipa::path(
    tag = "leads",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Lead id")),
    request_body = RevealLead,
    responses(
        (status = 200, description = "The identifiers as reported", body = RevealedLead),
        (status = 404, description = "No such lead within the caller's reach"),
    )
)]
#[post("/leads/{id}/reveal")]
async fn reveal_lead(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<RevealLead>()?;
    check_not_blank("reason", Some(&b.reason), &mut errors);
    check_free_text("reason", Some(&b.reason), &mut errors);
    ApiError::check(errors)?;
    let shown = leads::reveal(&state.ctx, &caller, id.into_inner(), b.reason).await?;
    Ok(HttpResponse::Ok().json(RevealedLead {
        id_number: shown.id_number,
        phone: shown.phone,
    }))
}
