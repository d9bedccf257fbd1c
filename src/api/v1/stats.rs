//! Statistics reports (数据统计报告) as JSON, or as CSV with `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::{check_region_param, check_year};
use crate::api::extract::QueryParams;
use crate::api::AppState;
use crate::auth::Caller;
use crate::domain::aid::hours_from_minutes;
use crate::error::ApiError;
use crate::service::stats::{self, Scope};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(aid_stats).service(coverage_stats);
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Region code prefix (civil-affairs staff: within their region; default their region).
    pub region: Option<String>,
    /// First day of the period (default: 1 January of `to`'s year).
    pub from: Option<NaiveDate>,
    /// Last day of the period (default: today, Asia/Shanghai).
    pub to: Option<NaiveDate>,
}

impl StatsQuery {
    fn check(&self) -> Result<(), ApiError> {
        check_region_param(self.region.as_deref())?;
        for (name, d) in [("from", self.from), ("to", self.to)] {
            let mut errors = Vec::new();
            check_year(name, d, &mut errors);
            if let Some(e) = errors.pop() {
                return Err(ApiError::bad_parameter(
                    "invalid_query",
                    name,
                    "out_of_range",
                    e.message,
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AidStat {
    /// The region (one level below the report's).
    pub region: String,
    /// `government` or `charity`.
    pub source: String,
    /// The need category (charity aid) or the programme (government aid).
    pub kind: String,
    /// `cash`, `in_kind` or `service` (government aid counts as cash).
    pub form: String,
    pub records: i64,
    /// Distinct people helped in this row.
    pub people: i64,
    pub value_fen: i64,
    pub service_hours: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageStat {
    pub region: String,
    pub persons: i64,
    /// With a low-income tier or relapse monitoring in force in the period.
    pub in_hardship: i64,
    pub government_aided: i64,
    pub charity_aided: i64,
    /// In hardship after government aid, and no charity help yet.
    pub government_only: i64,
    /// In hardship, helped by neither.
    pub unaided: i64,
    pub duplicate_flags: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AidReport {
    /// The report's region prefix (empty: the whole province).
    pub region: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: Vec<AidStat>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageReport {
    /// The report's region prefix (empty: the whole province).
    pub region: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: Vec<CoverageStat>,
}

/// A report as sent: its scope and rows.
#[derive(Serialize)]
struct Report<'a, T> {
    region: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    rows: &'a [T],
}

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim().starts_with("text/csv")))
}

/// The report as JSON, or its rows as CSV (a header row, then one line per row).
fn answer<T: Serialize>(
    req: &HttpRequest,
    s: Scope,
    rows: Vec<T>,
    name: &str,
    columns: &[&str],
) -> Result<HttpResponse, ApiError> {
    if !wants_csv(req) {
        return Ok(HttpResponse::Ok().json(Report {
            region: &s.region,
            from: s.from,
            to: s.to,
            rows: &rows,
        }));
    }
    // The header row is written even for an empty report.
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(columns).map_err(ApiError::internal)?;
    for r in &rows {
        w.serialize(r).map_err(ApiError::internal)?;
    }
    let bytes = w.into_inner().map_err(ApiError::internal)?;
    let file = format!(
        "{name}-{}-{}-{}.csv",
        if s.region.is_empty() {
            "all"
        } else {
            &s.region
        },
        s.from,
        s.to
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file}\""),
        ))
        .body(bytes))
}

/// Aid by region, source, kind and form (救助帮扶统计): records, people, value, service hours.
/// Civil-affairs staff (their region) and auditors. `Accept: text/csv` for CSV.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "The report", content(
            (AidReport = "application/json"),
            (String = "text/csv"),
        )),
    )
)]
#[get("/stats/aid")]
async fn aid_stats(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    q.check()?;
    let (s, rows) = stats::aid(&state.ctx, &caller, q.region.as_deref(), q.from, q.to).await?;
    let rows = rows
        .into_iter()
        .map(|r| AidStat {
            region: r.region,
            source: r.source,
            kind: r.kind,
            form: r.form,
            records: r.records,
            people: r.people,
            value_fen: r.value_fen,
            service_hours: hours_from_minutes(r.service_minutes),
        })
        .collect();
    let columns = [
        "region",
        "source",
        "kind",
        "form",
        "records",
        "people",
        "value_fen",
        "service_hours",
    ];
    answer(&req, s, rows, "aid", &columns)
}

/// Coverage (帮扶覆盖): per region, people in hardship, helped by government, by charities, by
/// government only, by neither, and duplicate-aid flags. Civil-affairs staff (their region) and
/// auditors. `Accept: text/csv` for CSV.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "The report", content(
            (CoverageReport = "application/json"),
            (String = "text/csv"),
        )),
    )
)]
#[get("/stats/coverage")]
async fn coverage_stats(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    q.check()?;
    let (s, rows) = stats::coverage(&state.ctx, &caller, q.region.as_deref(), q.from, q.to).await?;
    let rows = rows
        .into_iter()
        .map(|r| CoverageStat {
            region: r.region,
            persons: r.persons,
            in_hardship: r.in_hardship,
            government_aided: r.government_aided,
            charity_aided: r.charity_aided,
            government_only: r.government_only,
            unaided: r.unaided,
            duplicate_flags: r.duplicate_flags,
        })
        .collect();
    let columns = [
        "region",
        "persons",
        "in_hardship",
        "government_aided",
        "charity_aided",
        "government_only",
        "unaided",
        "duplicate_flags",
    ];
    answer(&req, s, rows, "coverage", &columns)
}
