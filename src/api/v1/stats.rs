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
use crate::db::stats::ReferralStatsRow;
use crate::domain::aid::hours_from_minutes;
use crate::error::ApiError;
use crate::service::stats::{self, Scope};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(aid_stats)
        .service(coverage_stats)
        .service(referral_stats)
        .service(overdue);
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

/// Referrals and leads of one region in the period (referrals by the people's region, leads by
/// their own).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralStat {
    pub region: String,
    /// Referrals made in the period, then by their status now.
    pub referrals: i64,
    pub pending: i64,
    pub accepted: i64,
    pub in_progress: i64,
    pub completed: i64,
    pub declined: i64,
    pub expired: i64,
    pub cancelled: i64,
    /// Of the referrals that were accepted, declined or expired, the share accepted (0–1);
    /// absent when none were.
    pub acceptance_rate: Option<f64>,
    /// Made on the emergency basis and still resting on it.
    pub emergency_basis: i64,
    /// From referral to the charity's answer (accept or decline), hours.
    pub median_response_hours: Option<f64>,
    /// From referral to the reported outcome, hours.
    pub median_completion_hours: Option<f64>,
    pub got_help: i64,
    pub partly_helped: i64,
    pub could_not_help: i64,
    pub outcome_unreachable: i64,
    pub declined_by_person: i64,
    pub decline_no_capacity: i64,
    pub decline_not_eligible: i64,
    pub decline_unreachable: i64,
    pub decline_duplicate: i64,
    pub decline_outside_scope: i64,
    pub decline_other: i64,
    /// Leads reported in the period, those still open, and the closed ones by outcome.
    pub leads: i64,
    pub leads_open: i64,
    pub leads_aid_granted: i64,
    pub leads_not_eligible: i64,
    pub leads_duplicate: i64,
    pub leads_unreachable: i64,
}

impl From<ReferralStatsRow> for ReferralStat {
    fn from(r: ReferralStatsRow) -> Self {
        let decided = r.ever_accepted + r.declined + r.expired;
        let round = |h: f64| (h * 100.0).round() / 100.0;
        Self {
            region: r.region,
            referrals: r.referrals,
            pending: r.pending,
            accepted: r.accepted,
            in_progress: r.in_progress,
            completed: r.completed,
            declined: r.declined,
            expired: r.expired,
            cancelled: r.cancelled,
            acceptance_rate: (decided > 0)
                .then(|| (r.ever_accepted as f64 / decided as f64 * 1000.0).round() / 1000.0),
            emergency_basis: r.emergency_basis,
            median_response_hours: r.median_response_hours.map(round),
            median_completion_hours: r.median_completion_hours.map(round),
            got_help: r.got_help,
            partly_helped: r.partly_helped,
            could_not_help: r.could_not_help,
            outcome_unreachable: r.outcome_unreachable,
            declined_by_person: r.declined_by_person,
            decline_no_capacity: r.decline_no_capacity,
            decline_not_eligible: r.decline_not_eligible,
            decline_unreachable: r.decline_unreachable,
            decline_duplicate: r.decline_duplicate,
            decline_outside_scope: r.decline_outside_scope,
            decline_other: r.decline_other,
            leads: r.leads,
            leads_open: r.leads_open,
            leads_aid_granted: r.leads_aid_granted,
            leads_not_eligible: r.leads_not_eligible,
            leads_duplicate: r.leads_duplicate,
            leads_unreachable: r.leads_unreachable,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralReport {
    /// The report's region prefix (empty: the whole province).
    pub region: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: Vec<ReferralStat>,
}

/// Referral and lead statistics (转介统计): per region, referrals by status, acceptance rate,
/// median response and completion times, outcomes, decline reasons, leads by outcome.
/// Civil-affairs staff (their region) and auditors. `Accept: text/csv` for CSV.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(StatsQuery),
    responses(
        (status = 200, description = "The report", content(
            (ReferralReport = "application/json"),
            (String = "text/csv"),
        )),
    )
)]
#[get("/stats/referrals")]
async fn referral_stats(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    q.check()?;
    let (s, rows) =
        stats::referrals(&state.ctx, &caller, q.region.as_deref(), q.from, q.to).await?;
    let rows: Vec<ReferralStat> = rows.into_iter().map(ReferralStat::from).collect();
    let columns = [
        "region",
        "referrals",
        "pending",
        "accepted",
        "in_progress",
        "completed",
        "declined",
        "expired",
        "cancelled",
        "acceptance_rate",
        "emergency_basis",
        "median_response_hours",
        "median_completion_hours",
        "got_help",
        "partly_helped",
        "could_not_help",
        "outcome_unreachable",
        "declined_by_person",
        "decline_no_capacity",
        "decline_not_eligible",
        "decline_unreachable",
        "decline_duplicate",
        "decline_outside_scope",
        "decline_other",
        "leads",
        "leads_open",
        "leads_aid_granted",
        "leads_not_eligible",
        "leads_duplicate",
        "leads_unreachable",
    ];
    answer(&req, s, rows, "referrals", &columns)
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverdueQuery {
    /// Region code prefix (civil-affairs staff: within their region; default their region).
    pub region: Option<String>,
    #[validate(range(min = 1, max = 1000))]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One thing past its deadline.
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueItem {
    /// `response` (a referral not answered in time: still pending, or expired and not yet
    /// referred again while a need of it waits), `feedback` (accepted, outcome not reported
    /// in time), `lead_acknowledgement`, or `emergency_consent` (a referral on the emergency
    /// basis still without the person's consent; `due_at` is when it will be cancelled).
    pub kind: String,
    /// `referral` or `lead`.
    pub entity_type: String,
    pub entity_id: uuid::Uuid,
    pub region_code: String,
    pub urgency: Option<String>,
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// Hours past `due_at` (negative: still to come, for `emergency_consent`).
    pub overdue_hours: f64,
    /// The charity that must act (referrals); absent for leads (the region's bureau acts).
    pub responsible_organization_id: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueList {
    pub region: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Soonest due first; at most `limit`.
    pub items: Vec<OverdueItem>,
    /// Whether more were left out (raise `limit` or narrow `region`).
    pub truncated: bool,
}

/// The overdue list (逾期督办): referrals past their response or feedback deadline, leads not
/// acknowledged in time, emergency referrals still without consent. Civil-affairs staff (their
/// region) and auditors (recorded).
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = []), ("oauth2" = [])),
    params(OverdueQuery),
    responses((status = 200, description = "What is overdue", body = OverdueList))
)]
#[get("/supervision/overdue")]
async fn overdue(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<OverdueQuery>,
) -> Result<web::Json<OverdueList>, ApiError> {
    check_region_param(q.region.as_deref())?;
    let limit = q.limit.unwrap_or(200);
    let (region, mut rows) =
        stats::overdue(&state.ctx, &caller, q.region.as_deref(), limit + 1).await?;
    let truncated = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let at = state.ctx.clock.now();
    Ok(web::Json(OverdueList {
        region,
        at,
        truncated,
        items: rows
            .into_iter()
            .map(|r| OverdueItem {
                overdue_hours: ((at - r.due_at).num_seconds() as f64 / 36.0).round() / 100.0,
                kind: r.kind,
                entity_type: r.entity_type,
                entity_id: r.entity_id,
                region_code: r.region_code,
                urgency: r.urgency,
                due_at: r.due_at,
                responsible_organization_id: r.responsible_organization_id,
            })
            .collect(),
    }))
}
