//! Periodic feedback reports (定期反馈): JSON, or the same records as a CSV upload.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::aid_records::{AidRecord, CreateAidRecord};
use super::{check_region_param, check_year, Page};
use crate::api::extract::{JsonOrCsv, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::feedback::ReportRow;
use crate::domain::aid::hours_from_minutes;
use crate::error::{field_errors, ApiError, FieldError};
use crate::service::aid::Recorded;
use crate::service::feedback;

/// Records in one report, at most.
const MAX_RECORDS: usize = 1000;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(submit_report)
        .service(list_reports)
        .service(get_report);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackReport {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// `json` or `csv`: how it was sent.
    pub format: String,
    pub record_count: i32,
    pub total_value_fen: i64,
    pub total_service_hours: f64,
    pub submitted_at: DateTime<Utc>,
    /// The aid records it carried (on a single report only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<AidRecord>>,
}

impl From<ReportRow> for FeedbackReport {
    fn from(r: ReportRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            period_start: r.period_start,
            period_end: r.period_end,
            format: r.format,
            record_count: r.record_count,
            total_value_fen: r.total_value_fen,
            total_service_hours: hours_from_minutes(r.total_service_minutes),
            submitted_at: r.submitted_at,
            records: None,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "period_start": "2026-04-01",
    "period_end": "2026-06-30",
    "records": [{
        "person_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f00",
        "project_id": "01968f3e-7c4a-7b1e-9d2a-5b6c7d8e9f01",
        "category": "medical", "form": "cash", "value_fen": 100000, "aid_on": "2026-06-01"
    }]
}))]
pub struct CreateFeedbackReport {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// 1 to 1000 aid records given within the period.
    #[validate(nested)]
    pub records: Vec<CreateAidRecord>,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportPeriod {
    /// For a CSV upload: the report's first day.
    pub period_start: Option<NaiveDate>,
    /// For a CSV upload: the report's last day.
    pub period_end: Option<NaiveDate>,
}

/// One CSV line as text; every cell is read and checked on its own.
#[derive(Debug, Deserialize)]
struct CsvLine {
    person_id: Option<String>,
    project_id: Option<String>,
    category: Option<String>,
    form: Option<String>,
    value_fen: Option<String>,
    service_hours: Option<String>,
    service_type: Option<String>,
    aid_on: Option<String>,
    period_end: Option<String>,
    note: Option<String>,
    fund_id: Option<String>,
}

/// Reads a cell as its JSON counterpart would be read (uuids, codes, dates, numbers).
fn cell<T: serde::de::DeserializeOwned>(
    value: Option<String>,
    field: &str,
    numeric: bool,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = value.filter(|v| !v.trim().is_empty())?;
    if raw.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "control_character",
            "control characters are not allowed",
        ));
        return None;
    }
    let json = if numeric {
        serde_json::from_str::<serde_json::Value>(raw.trim())
            .unwrap_or(serde_json::Value::String(raw.clone()))
    } else {
        serde_json::Value::String(raw.trim().to_owned())
    };
    match serde_json::from_value(json) {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "invalid",
                format!("cannot read {raw:?}"),
            ));
            None
        }
    }
}

/// Free text from a cell: line breaks and tabs are text, other control characters (NUL above
/// all, which PostgreSQL refuses) are not.
fn note(value: Option<String>, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let v = value.filter(|n| !n.is_empty())?;
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(
            field,
            "control_character",
            "control characters are not allowed",
        ));
        return None;
    }
    Some(v)
}

fn required<T>(v: Option<T>, field: &str, errors: &mut Vec<FieldError>) -> Option<T> {
    if v.is_none() && !errors.iter().any(|e| e.field == field) {
        errors.push(FieldError::new(
            field,
            "required",
            "this column is required",
        ));
    }
    v
}

/// The CSV's records with their index, every bad cell named `records[i].column` (line i + 2 of
/// the file); a line that cannot be read keeps its number for the ones after it.
fn csv_records(bytes: &[u8], errors: &mut Vec<FieldError>) -> Vec<(usize, CreateAidRecord)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut out = Vec::new();
    for (i, line) in reader.deserialize::<CsvLine>().enumerate() {
        if i >= MAX_RECORDS {
            errors.push(FieldError::new(
                "records",
                "length",
                format!("at most {MAX_RECORDS} records"),
            ));
            break;
        }
        let at = |f: &str| format!("records[{i}].{f}");
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                errors.push(FieldError::new(
                    format!("records[{i}]"),
                    "unreadable_line",
                    e.to_string(),
                ));
                continue;
            }
        };
        let person_id = cell(line.person_id, &at("person_id"), false, errors);
        let project_id = cell(line.project_id, &at("project_id"), false, errors);
        let category = cell(line.category, &at("category"), false, errors);
        let form = cell(line.form, &at("form"), false, errors);
        let aid_on = cell(line.aid_on, &at("aid_on"), false, errors);
        let record = CreateAidRecord {
            value_fen: cell(line.value_fen, &at("value_fen"), true, errors),
            service_hours: cell(line.service_hours, &at("service_hours"), true, errors),
            service_type: cell(line.service_type, &at("service_type"), false, errors),
            period_end: cell(line.period_end, &at("period_end"), false, errors),
            note: note(line.note, &at("note"), errors),
            fund_id: cell(line.fund_id, &at("fund_id"), false, errors),
            person_id: required(person_id, &at("person_id"), errors).unwrap_or_default(),
            project_id: required(project_id, &at("project_id"), errors).unwrap_or_default(),
            category: match required(category, &at("category"), errors) {
                Some(c) => c,
                None => continue,
            },
            form: match required(form, &at("form"), errors) {
                Some(f) => f,
                None => continue,
            },
            aid_on: match required(aid_on, &at("aid_on"), errors) {
                Some(d) => d,
                None => continue,
            },
        };
        out.push((i, record));
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "records",
            "length",
            "the report has no records",
        ));
    }
    out
}

/// Submit a periodic report (提交定期反馈): many aid records, accepted or rejected as a whole.
/// JSON, or `text/csv` with the columns person_id, project_id, category, form, value_fen,
/// service_hours, service_type, aid_on, period_end, note, fund_id and the period as query
/// parameters. A refusal lists every bad record as `records[i].field` (CSV: line i + 2).
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(ReportPeriod),
    request_body(content(
        (CreateFeedbackReport = "application/json"),
        (String = "text/csv"),
    )),
    responses(
        (status = 201, description = "Accepted with all its records", body = FeedbackReport),
        (status = 422, description = "Rejected as a whole; every bad record named"),
    )
)]
#[post("/feedback-reports")]
async fn submit_report(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(period): QueryParams<ReportPeriod>,
    body: JsonOrCsv,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[crate::domain::role::Role::Charity])?;
    let mut errors = Vec::new();
    let (start, end, records, format) = match body {
        JsonOrCsv::Json(b) => {
            let (b, e) = b.parse::<CreateFeedbackReport>()?;
            errors.extend(e);
            if b.records.is_empty() || b.records.len() > MAX_RECORDS {
                errors.push(FieldError::new(
                    "records",
                    "length",
                    format!("a report carries 1 to {MAX_RECORDS} records"),
                ));
            }
            let records = b.records.into_iter().enumerate().collect();
            (Some(b.period_start), Some(b.period_end), records, "json")
        }
        JsonOrCsv::Csv(bytes) => {
            let records = csv_records(&bytes, &mut errors);
            for (i, r) in &records {
                if let Err(e) = r.validate() {
                    errors.extend(field_errors(&e).into_iter().map(|f| {
                        FieldError::new(format!("records[{i}].{}", f.field), f.code, f.message)
                    }));
                }
            }
            let start = required(period.period_start, "period_start", &mut errors);
            let end = required(period.period_end, "period_end", &mut errors);
            (start, end, records, "csv")
        }
    };
    check_year("period_start", start, &mut errors);
    check_year("period_end", end, &mut errors);
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            errors.push(FieldError::new(
                "period_end",
                "before_start",
                "the period ends before it starts",
            ));
        }
    }
    let mut inputs = Vec::with_capacity(records.len());
    for (i, r) in records {
        let minutes = r.check(&format!("records[{i}]."), &mut errors);
        if let (Some(s), Some(e)) = (start, end) {
            if r.aid_on < s || r.aid_on > e {
                errors.push(FieldError::new(
                    format!("records[{i}].aid_on"),
                    "outside_report_period",
                    "the aid was given outside the report's period",
                ));
            }
        }
        inputs.push(r.into_input(minutes));
    }
    ApiError::check(errors)?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::field(
            "period_start",
            "required",
            "the report's period",
        ));
    };
    let (report, done) =
        feedback::submit(&state.ctx, &caller, (start, end), format, inputs).await?;
    let mut view = FeedbackReport::from(report);
    view.records = Some(done.into_iter().map(AidRecord::from).collect());
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/feedback-reports/{}", view.id),
        ))
        .json(view))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Region code prefix of the charities (civil-affairs staff and auditors).
    pub region: Option<String>,
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<Uuid>,
}

/// List feedback reports: a charity its own; civil-affairs staff those of charities in their
/// region; auditors all.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(ReportQuery),
    responses((status = 200, description = "A page of reports", body = Page<FeedbackReport>))
)]
#[get("/feedback-reports")]
async fn list_reports(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<ReportQuery>,
) -> Result<web::Json<Page<FeedbackReport>>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let rows = feedback::list(
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
        |r| r.id.to_string(),
        FeedbackReport::from,
    )))
}

/// One feedback report with its aid records.
#[utoipa::path(
    tag = "aid",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Report id")),
    responses(
        (status = 200, description = "The report", body = FeedbackReport),
        (status = 404, description = "No such report within the caller's reach"),
    )
)]
#[get("/feedback-reports/{id}")]
async fn get_report(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<FeedbackReport>, ApiError> {
    let (report, records) = feedback::get(&state.ctx, &caller, id.into_inner()).await?;
    let mut view = FeedbackReport::from(report);
    view.records = Some(
        records
            .into_iter()
            .map(|record| {
                AidRecord::from(Recorded {
                    record,
                    flags: Vec::new(),
                })
            })
            .collect(),
    );
    Ok(web::Json(view))
}
