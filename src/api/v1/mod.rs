//! Version 1 of the API (`/api/v1`): one module per resource.

pub mod aid_records;
pub mod audit;
pub mod auth;
pub mod consents;
pub mod disclosures;
pub mod events;
pub mod feedback_reports;
pub mod funds;
pub mod imports;
pub mod leads;
pub mod needs;
pub mod organizations;
pub mod pairings;
pub mod persons;
pub mod projects;
pub mod public;
pub mod referrals;
pub mod relations;
pub mod stats;
pub mod webhooks;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// A JSON answer that carries the record's version as its `ETag`.
pub fn versioned<T: Serialize>(
    mut res: actix_web::HttpResponseBuilder,
    version: i64,
    body: &T,
) -> actix_web::HttpResponse {
    res.insert_header(crate::api::extract::etag(version))
        .json(body)
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    auth::configure(cfg);
    organizations::configure(cfg);
    persons::configure(cfg);
    consents::configure(cfg);
    needs::configure(cfg);
    projects::configure(cfg);
    funds::configure(cfg);
    aid_records::configure(cfg);
    feedback_reports::configure(cfg);
    disclosures::configure(cfg);
    public::configure(cfg);
    stats::configure(cfg);
    pairings::configure(cfg);
    referrals::configure(cfg);
    events::configure(cfg);
    leads::configure(cfg);
    webhooks::configure(cfg);
    imports::configure(cfg);
    relations::configure(cfg);
    audit::configure(cfg);
}

/// A page of a list; pass `next_cursor` back as `cursor` for the next one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows (the extra row only says another page exists).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        cursor_of: impl Fn(&R) -> String,
        view: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(&cursor_of)
        } else {
            None
        };
        Self {
            items: rows.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

/// Free text (notes, reasons, descriptions, evidence references) must not carry an ID number or
/// a phone: those have encrypted fields, and text is stored and shown in the clear.
pub fn check_free_text(
    field: &str,
    text: Option<&str>,
    errors: &mut Vec<crate::error::FieldError>,
) {
    use crate::domain::free_text::{find_identifier, Identifier};
    let what = match text.and_then(find_identifier) {
        Some(Identifier::ResidentId) => "an ID number",
        Some(Identifier::MobilePhone) => "a mobile number",
        None => return,
    };
    errors.push(crate::error::FieldError::new(
        field,
        "contains_identifier",
        format!("free text must not contain {what}; record it in its own (encrypted) field"),
    ));
}

/// Text that is only white space is no name or description (it would be stored empty).
pub fn check_not_blank(
    field: &str,
    text: Option<&str>,
    errors: &mut Vec<crate::error::FieldError>,
) {
    // Empty text is the length rule's to report; this catches what only looks filled.
    if text.is_some_and(|t| !t.is_empty() && t.trim().is_empty()) {
        errors.push(crate::error::FieldError::new(
            field,
            "required",
            "must not be blank",
        ));
    }
}

/// Dates the register can hold: chrono reads years the database cannot store, and no aid,
/// consent or certification falls outside these.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2199;

/// Refuses a date outside [`YEARS`], naming the field.
pub fn check_year(
    field: &str,
    date: Option<chrono::NaiveDate>,
    errors: &mut Vec<crate::error::FieldError>,
) {
    use chrono::Datelike;
    if let Some(d) = date {
        if !YEARS.contains(&d.year()) {
            errors.push(crate::error::FieldError::new(
                field,
                "out_of_range",
                format!(
                    "must lie between the years {} and {}",
                    YEARS.start(),
                    YEARS.end()
                ),
            ));
        }
    }
}

/// A `region` query parameter is a region-code prefix: up to 12 digits.
pub fn check_region_param(region: Option<&str>) -> Result<(), ApiError> {
    let problem = match region {
        Some(r) if r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()) => {
            "a region code has only digits"
        }
        Some(r) if r.len() > 12 => "a region code prefix has up to 12 digits",
        _ => return Ok(()),
    };
    Err(ApiError::bad_parameter(
        "invalid_query",
        "region",
        "invalid_region_code",
        problem,
    ))
}
