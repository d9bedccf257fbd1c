//! Special funds (专项基金/冠名基金) and their ledger.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{check_free_text, check_not_blank, check_year, versioned, Page};
use crate::api::extract::{JsonBody, QueryParams};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::funds::{EntryRow, FundRow};
use crate::domain::aid::{EntryKind, FundStatus};
use crate::error::ApiError;
use crate::service::funds::{self, EntryInput, NewFundInput};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_fund)
        .service(list_funds)
        .service(get_fund)
        .service(add_entry)
        .service(list_entries);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Fund {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub donor: String,
    pub purpose: String,
    /// The signed agreement that fixes purpose, use, termination and leftover property.
    pub agreement_ref: String,
    pub status: FundStatus,
    /// The sum of the ledger, never negative.
    pub balance_fen: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FundRow> for Fund {
    fn from(r: FundRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            name: r.name,
            donor: r.donor,
            purpose: r.purpose,
            agreement_ref: r.agreement_ref,
            status: r.status,
            balance_fen: r.balance_fen,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "哈尔滨市助学慈善基金会·春蕾助学专项基金",
    "donor": "某某实业有限公司",
    "purpose": "资助低保家庭在读学生",
    "agreement_ref": "HZJ-2026-017"
}))]
pub struct CreateFund {
    /// Contains the charity's full name (专项基金须冠以慈善组织全称).
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    #[validate(length(min = 1, max = 200))]
    pub donor: String,
    #[validate(length(min = 1, max = 2000))]
    pub purpose: String,
    #[validate(length(min = 1, max = 200))]
    pub agreement_ref: String,
}

/// Set up a special fund (设立专项基金). Charity staff, for their own charity.
#[utoipa::path(
    tag = "funds",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateFund,
    responses(
        (status = 201, description = "Created, balance 0", body = Fund),
        (status = 409, description = "The charity has a fund of this name"),
        (status = 422, description = "Invalid field (the name lacks the charity's full name)"),
    )
)]
#[post("/funds")]
async fn create_fund(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateFund>()?;
    for (field, text) in [
        ("name", &b.name),
        ("donor", &b.donor),
        ("purpose", &b.purpose),
        ("agreement_ref", &b.agreement_ref),
    ] {
        check_not_blank(field, Some(text), &mut errors);
        check_free_text(field, Some(text), &mut errors);
    }
    ApiError::check(errors)?;
    let row = funds::create(
        &state.ctx,
        &caller,
        NewFundInput {
            name: b.name.trim().to_owned(),
            donor: b.donor.trim().to_owned(),
            purpose: b.purpose.trim().to_owned(),
            agreement_ref: b.agreement_ref.trim().to_owned(),
        },
    )
    .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/funds/{}", row.id)));
    Ok(versioned(res, row.version, &Fund::from(row)))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FundQuery {
    /// Whose funds (default: the caller's organisation's).
    pub organization_id: Option<Uuid>,
}

/// List an organisation's funds with their balances. Any signed-in caller.
#[utoipa::path(
    tag = "funds",
    security(("bearer" = []), ("oauth2" = [])),
    params(FundQuery),
    responses((status = 200, description = "The funds", body = Vec<Fund>))
)]
#[get("/funds")]
async fn list_funds(
    caller: Caller,
    state: web::Data<AppState>,
    QueryParams(q): QueryParams<FundQuery>,
) -> Result<web::Json<Vec<Fund>>, ApiError> {
    let rows = funds::list(&state.ctx, &caller, q.organization_id).await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// One fund with its balance. Any signed-in caller.
#[utoipa::path(
    tag = "funds",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Fund id")),
    responses(
        (status = 200, description = "The fund", body = Fund),
        (status = 404, description = "No such fund"),
    )
)]
#[get("/funds/{id}")]
async fn get_fund(
    _caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let row = funds::get(&state.ctx, id.into_inner()).await?;
    Ok(versioned(HttpResponse::Ok(), row.version, &Fund::from(row)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FundEntry {
    pub id: Uuid,
    /// Position in the fund's ledger.
    pub seq: i64,
    pub fund_id: Uuid,
    pub kind: EntryKind,
    pub amount_fen: i64,
    /// The effect on the balance (+ income, − expenditure).
    pub delta_fen: i64,
    pub reverses_id: Option<Uuid>,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    pub occurred_on: NaiveDate,
    pub aid_record_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

impl From<EntryRow> for FundEntry {
    fn from(r: EntryRow) -> Self {
        Self {
            id: r.id,
            seq: r.seq,
            fund_id: r.fund_id,
            kind: r.kind,
            amount_fen: r.amount_fen,
            delta_fen: r.delta_fen,
            reverses_id: r.reverses_id,
            counterparty: r.counterparty,
            note: r.note,
            occurred_on: r.occurred_on,
            aid_record_id: r.aid_record_id,
            recorded_at: r.recorded_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryRecorded {
    pub entry: FundEntry,
    /// The fund's balance after it.
    pub balance_fen: i64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "donation", "amount_fen": 10000000, "counterparty": "某某实业有限公司", "occurred_on": "2026-03-01"}))]
pub struct CreateEntry {
    /// `donation` (income), `grant` (expenditure) or `reversal`; aid is recorded as an aid record.
    pub kind: EntryKind,
    #[validate(range(min = 1, max = 10_000_000_000_000i64))]
    pub amount_fen: i64,
    /// The entry a reversal undoes (same fund, same amount, once).
    pub reverses_id: Option<Uuid>,
    #[validate(length(max = 200))]
    pub counterparty: Option<String>,
    #[validate(length(max = 500))]
    pub note: Option<String>,
    pub occurred_on: NaiveDate,
}

/// Record a ledger entry (记账). The fund's charity; the balance never goes below zero (409
/// `insufficient_balance`), entries are never changed (a reversal undoes one).
#[utoipa::path(
    tag = "funds",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Fund id")),
    request_body = CreateEntry,
    responses(
        (status = 201, description = "Recorded", body = EntryRecorded),
        (status = 404, description = "No such fund"),
        (status = 409, description = "Insufficient balance, already reversed, or the fund is closed"),
        (status = 422, description = "Invalid field"),
    )
)]
#[post("/funds/{id}/entries")]
async fn add_entry(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (b, mut errors) = body.parse::<CreateEntry>()?;
    check_free_text("counterparty", b.counterparty.as_deref(), &mut errors);
    check_free_text("note", b.note.as_deref(), &mut errors);
    check_year("occurred_on", Some(b.occurred_on), &mut errors);
    ApiError::check(errors)?;
    let (entry, balance_fen) = funds::record_entry(
        &state.ctx,
        &caller,
        id.into_inner(),
        EntryInput {
            kind: b.kind,
            amount_fen: b.amount_fen,
            reverses_id: b.reverses_id,
            counterparty: b.counterparty,
            note: b.note,
            occurred_on: b.occurred_on,
            aid_record_id: None,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(EntryRecorded {
        entry: entry.into(),
        balance_fen,
    }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryQuery {
    #[validate(range(min = 1, max = 500))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `seq` of the last entry seen.
    pub cursor: Option<i64>,
}

/// A fund's ledger in order. Its charity, civil-affairs staff and auditors.
#[utoipa::path(
    tag = "funds",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Fund id"), EntryQuery),
    responses(
        (status = 200, description = "A page of entries", body = Page<FundEntry>),
        (status = 404, description = "No such fund"),
    )
)]
#[get("/funds/{id}/entries")]
async fn list_entries(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    QueryParams(q): QueryParams<EntryQuery>,
) -> Result<web::Json<Page<FundEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    let rows = funds::entries(&state.ctx, &caller, id.into_inner(), q.cursor, limit + 1).await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |r| r.seq.to_string(),
        FundEntry::from,
    )))
}
