//! Aid records (帮扶记录): what charities gave, material and service.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, check_region_param, check_year, Page};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::aid::{AidFilter, FlagRow};
use crate::domain::aid::{hours_from_minutes, minutes_from_hours, AidRecordForm, ServiceType};
use crate::domain::need::NeedCategory;
use crate::domain::person::Programme;
use crate::error::{ApiError, FieldError};
use crate::service::aid::{self, AidInput, Recorded};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_aid_record)
        .service(list_aid_records)
        .service(aid_history)
        .service(duplicate_flags);
}

/// Another source that helped the same person in the same category in an overlapping period.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateAid {
    /// `government` or `charity`.
    pub source: String,
    pub record_id: Uuid,
    pub organization_id: Option<Uuid>,
    pub programme: Option<Programme>,
}

impl From<FlagRow> for DuplicateAid {
    fn from(f: FlagRow) -> Self {
        Self {
            source: f.other_source,
            record_id: f.other_record_id,
            organization_id: f.other_organization_id,
            programme: f.other_programme,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AidRecord {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub person_id: Uuid,
    pub project_id: Uuid,
    pub category: NeedCategory,
    pub form: AidRecordForm,
    pub value_fen: Option<i64>,
    pub service_hours: Option<f64>,
    pub service_type: Option<ServiceType>,
    pub aid_on: NaiveDate,
    /// Last day of aid given over a period (absent: one day).
    pub period_end: Option<NaiveDate>,
    pub note: Option<String>,
    pub fund_id: Option<Uuid>,
    pub fund_entry_id: Option<Uuid>,
    pub feedback_report_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Duplicate-aid flags (一人多头救助) raised when it was recorded: for civil-affairs staff and
    /// auditors only (they name another source's aid); always empty for charities.
    pub duplicate_of: Vec<DuplicateAid>,
}

impl From<Recorded> for AidRecord {
    fn from(Recorded { record: r, flags }: Recorded) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            person_id: r.person_id,
            project_id: r.project_id,
            category: r.category,
            form: r.form,
            value_fen: r.value_fen,
            service_hours: r.service_minutes.map(|m| hours_from_minutes(m.into())),
            service_type: r.service_type,
            aid_on: r.aid_on,
            period_end: r.period_end,
            note: r.note,
            fund_id: r.fund_id,
            fund_entry_id: r.fund_entry_id,
            feedback_report_id: r.feedback_report_id,
            created_at: r.created_at,
            duplicate_of: flags.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "person_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f00",
    "project_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f01",
    "category": "medical",
    "form": "cash",
    "value_fen": 500000,
    "aid_on": "2026-06-01",
    "note": "化疗费用补助"
}))]
pub struct CreateAidRecord {
    pub person_id: Uuid,
    pub project_id: Uuid,
    /// The need category helped with (one of the project's).
    pub category: NeedCategory,
    pub form: AidRecordForm,
    /// Money, or the value of goods, in fen (required for cash and in-kind aid).
    #[validate(range(min = 1, max = 10_000_000_000i64))]
    pub value_fen: Option<i64>,
    /// Hours of service (required for service aid, with `service_type`).
    pub service_hours: Option<f64>,
    pub service_type: Option<ServiceType>,
    pub aid_on: NaiveDate,
    pub period_end: Option<NaiveDate>,
    #[validate(length(max = 500))]
    pub note: Option<String>,
    /// Paid from this fund of the charity's (an expenditure in its ledger).
    pub fund_id: Option<Uuid>,
}

impl CreateAidRecord {
    /// The record's own rules (`at` prefixes field names: `records[3].` in a report).
    pub fn check(&self, at: &str, errors: &mut Vec<FieldError>) -> Option<i32> {
        let name = |f: &str| format!("{at}{f}");
        check_free_text(&name("note"), self.note.as_deref(), errors);
        check_year(&name("aid_on"), Some(self.aid_on), errors);
        check_year(&name("period_end"), self.period_end, errors);
        if self.period_end.is_some_and(|e| e < self.aid_on) {
            errors.push(FieldError::new(
                name("period_end"),
                "before_start",
                "ends before aid_on",
            ));
        }
        let minutes = match self.service_hours {
            Some(h) => {
                let m = minutes_from_hours(h);
                if m.is_none() {
                    errors.push(FieldError::new(
                        name("service_hours"),
                        "range",
                        "hours are more than 0 and at most 10000",
                    ));
                }
                m
            }
            None => None,
        };
        match self.form {
            AidRecordForm::Cash | AidRecordForm::InKind if self.value_fen.is_none() => {
                errors.push(FieldError::new(
                    name("value_fen"),
                    "required",
                    "cash and in-kind aid have a value",
                ))
            }
            AidRecordForm::Service if self.service_hours.is_none() => errors.push(FieldError::new(
                name("service_hours"),
                "required",
                "service aid has its hours",
            )),
            _ => {}
        }
        if self.service_hours.is_some() != self.service_type.is_some() {
            errors.push(FieldError::new(
                name("service_type"),
                "required_with_hours",
                "service hours and service type go together",
            ));
        }
        if self.fund_id.is_some() && self.value_fen.is_none() {
            errors.push(FieldError::new(
                name("value_fen"),
                "required",
                "aid paid from a fund has a value",
            ));
        }
        minutes
    }

    pub fn into_input(self, service_minutes: Option<i32>) -> AidInput {
        AidInput {
            person_id: self.person_id,
            project_id: self.project_id,
            category: self.category,
            form: self.form,
            value_fen: self.value_fen,
            service_minutes,
            service_type: self.service_type,
            aid_on: self.aid_on,
            period_end: self.period_end,
            note: self.note,
            fund_id: self.fund_id,
        }
    }
}

/// Record aid given (登记帮扶记录). Charity staff, in their own published project, for a person
/// their charity may see under a consent naming it. One transaction: the record, the project's
/// places and budget, the fund's ledger, duplicate-aid flags, the audit event.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateAidRecord,
    responses(
        (status = 201, description = "Recorded (with any duplicate-aid flags)", body = AidRecord),
        (status = 404, description = "No such person under the charity's consent"),
        (status = 409, description = "No places left, over budget or the per-person cap, insufficient fund balance, project not open"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/aid-records")]
async fn create_aid_record(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateAidRecord>()?;
    let minutes = b.check("", &mut errors);
    ApiError::check(errors)?;
    let done = aid::record(&state.ctx, &caller, b.into_input(minutes)).await?;
    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/aid-records/{}", done.record.id),
    ));
    Ok(res.json(AidRecord::from(done)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AidQuery {
    /// Region code prefix (civil-affairs staff and auditors).
    pub region: Option<String>,
    pub person_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List aid records. A charity its own; civil-affairs staff those of people in their region;
/// auditors all (recorded).
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(AidQuery),
    responses((status = 200, description = "A page of aid records", body = Page<AidRecord>))
)]
#[get("/aid-records")]
async fn list_aid_records(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<AidQuery>,
) -> Result<web::Json<Page<AidRecord>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let filter = AidFilter {
        person_id: q.person_id,
        project_id: q.project_id,
        after: q.cursor,
        limit: limit + 1,
        ..AidFilter::default()
    };
    let rows = aid::list(&state.ctx, &caller, q.region.as_deref(), filter).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.record.id.to_string(),
        AidRecord::from,
    )))
}

/// One item of a person's aid history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AidHistoryEntry {
    /// `government` or `charity`.
    pub source: String,
    pub record_id: Uuid,
    /// When the aid began (or was given).
    pub date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// Government aid: the programme.
    pub programme: Option<Programme>,
    /// Charity aid: the need category helped with.
    pub category: Option<NeedCategory>,
    pub form: Option<AidRecordForm>,
    pub value_fen: Option<i64>,
    pub service_hours: Option<f64>,
    pub service_type: Option<ServiceType>,
    /// Charity aid: the charity and its project.
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// Government aid: the system it came from.
    pub source_system: Option<String>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// What a charity reads for (required for consent recipients); the consent must name the
    /// `aid_history` category for it.
    pub purpose: Option<crate::domain::consent::Purpose>,
}

/// A person's aid from every source, newest first (救助帮扶记录): government programmes and
/// charity aid in one timeline. Civil-affairs staff of the region; auditors (recorded); a charity
/// under a consent for its `purpose` naming `aid_history` (recorded).
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Person id"), HistoryQuery),
    responses(
        (status = 200, description = "The timeline", body = Vec<AidHistoryEntry>),
        (status = 404, description = "No such person within the caller's reach"),
        (status = 422, description = "A consent recipient named no `purpose`"),
    )
)]
#[get("/persons/{id}/aid-history")]
async fn aid_history(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> Result<web::Json<Vec<AidHistoryEntry>>, ApiError> {
    let h = aid::history(&state.ctx, &caller, id.into_inner(), q.purpose).await?;
    let mut items: Vec<AidHistoryEntry> = h
        .government
        .into_iter()
        .map(|g| AidHistoryEntry {
            source: "government".into(),
            record_id: g.id,
            date: g.period_start,
            end_date: Some(g.period_end),
            programme: Some(g.programme),
            category: None,
            form: None,
            value_fen: Some(g.amount_fen),
            service_hours: None,
            service_type: None,
            organization_id: None,
            project_id: None,
            source_system: Some(g.source_system),
        })
        .chain(h.charity.into_iter().map(|r| AidHistoryEntry {
            source: "charity".into(),
            record_id: r.id,
            date: r.aid_on,
            end_date: r.period_end,
            programme: None,
            category: Some(r.category),
            form: Some(r.form),
            value_fen: r.value_fen,
            service_hours: r.service_minutes.map(|m| hours_from_minutes(m.into())),
            service_type: r.service_type,
            organization_id: Some(r.organization_id),
            project_id: Some(r.project_id),
            source_system: None,
        }))
        .collect();
    items.sort_by(|a, b| b.date.cmp(&a.date).then(b.record_id.cmp(&a.record_id)));
    Ok(web::Json(items))
}

/// A duplicate-aid flag as supervision sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateFlag {
    pub id: Uuid,
    /// The charity aid record that raised it.
    pub aid_record_id: Uuid,
    pub person_id: Uuid,
    pub region_code: String,
    pub category: NeedCategory,
    #[serde(flatten)]
    pub other: DuplicateAid,
    pub detected_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlagQuery {
    /// Region code prefix of the people (civil-affairs staff: within their region).
    pub region: Option<String>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// Duplicate-aid flags (一人多头救助): the same person helped in the same category by two sources
/// in overlapping periods. Civil-affairs staff (their region) and auditors (recorded).
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(FlagQuery),
    responses((status = 200, description = "A page of flags", body = Page<DuplicateFlag>))
)]
#[get("/supervision/duplicate-aid")]
async fn duplicate_flags(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<FlagQuery>,
) -> Result<web::Json<Page<DuplicateFlag>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let rows = aid::duplicate_flags_list(
        &state.ctx,
        &caller,
        q.region.as_deref(),
        q.cursor,
        limit + 1,
    )
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |f| f.id.to_string(),
        |f| DuplicateFlag {
            id: f.id,
            aid_record_id: f.aid_record_id,
            person_id: f.person_id,
            region_code: f.region_code.clone(),
            category: f.category,
            detected_at: f.detected_at,
            other: DuplicateAid::from(f),
        },
    )))
}
