//! Person imports (`POST /imports/persons`, `text/csv`), streamed: the body is parsed as it
//! arrives, on a blocking thread reading from a bounded channel, and written in batches, so a
//! large file never sits in memory.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::persons::register::{check, CreatePerson};
use crate::api::AppState;
use crate::auth::Caller;
use crate::db::imports::ImportRow;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::imports::{self, refused, Row};

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(import_persons)
        .service(list_imports)
        .service(get_import);
}

/// The monitoring platform's export, in this order (a header row names them).
pub const COLUMNS: [&str; 10] = [
    "external_id",
    "name",
    "id_number",
    "phone",
    "region_code",
    "tier",
    "relapse_monitoring",
    "certifying_region",
    "valid_from",
    "valid_to",
];
/// Rows per batch (one transaction each).
const BATCH: usize = 1000;
/// Largest upload.
const MAX_BYTES: usize = 1 << 30;

#[derive(Debug, Serialize, ToSchema)]
pub struct Import {
    pub id: Uuid,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub rows_read: i64,
    /// Registered or changed.
    pub rows_written: i64,
    /// Already registered exactly so.
    pub rows_unchanged: i64,
    pub rows_rejected: i64,
    /// The first 1,000 refused rows: `line` (of the file, the header is line 1), `field`,
    /// `code`, `message`.
    #[schema(value_type = Vec<Object>)]
    pub rejected: Value,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<ImportRow> for Import {
    fn from(r: ImportRow) -> Self {
        Self {
            id: r.id,
            status: r.status,
            rows_read: r.rows_read,
            rows_written: r.rows_written,
            rows_unchanged: r.rows_unchanged,
            rows_rejected: r.rows_rejected,
            rejected: r.rejected,
            failure: r.failure,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// A `std::io::Read` over the chunks the request handler passes on. An upload that breaks off
/// is an error here, never an end of file: the cut-off last row must not be read as a row.
/// Nor may one record run on for ever (an unclosed quote swallows the rest of the file into one
/// field): past [`MAX_RECORD_BYTES`] beyond the end of the last record read, reading fails.
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<Result<web::Bytes, String>>,
    current: web::Bytes,
    /// Bytes handed to the CSV reader so far.
    given: u64,
    /// Where the last complete record ended (set by the parser after each record).
    record_end: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Longer than any row of the export can be (ten short fields).
const MAX_RECORD_BYTES: u64 = 64 * 1024;

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let ended = self.record_end.load(std::sync::atomic::Ordering::Relaxed);
        if self.given.saturating_sub(ended) > MAX_RECORD_BYTES {
            return Err(std::io::Error::other(format!(
                "a row runs on for more than {} KiB (an unclosed quote?)",
                MAX_RECORD_BYTES / 1024
            )));
        }
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(why)) => return Err(std::io::Error::other(why)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        self.given += n as u64;
        Ok(n)
    }
}

/// Why the body stopped before its end.
enum FeedStop {
    TooLarge,
    BrokeOff(String),
}

const TOO_LARGE: &str = "the upload is larger than 1 GiB";

fn too_large_problem() -> ApiError {
    ApiError::new(
        crate::error::Kind::PayloadTooLarge,
        "payload_too_large",
        TOO_LARGE,
    )
}

/// What the parser passes on: batches of records with their line numbers (a row that is not
/// UTF-8 text is refused on its own), or why it stopped.
enum Parsed {
    Batch(Vec<(u64, Result<csv::StringRecord, ()>)>),
    /// The header row is not the export's (or not readable): the caller's file, a 422.
    BadHeader(String),
    Broken(String),
}

/// One record as the registration's JSON (so the same rules judge it), or the field at fault.
fn to_person(rec: &csv::StringRecord) -> Result<CreatePerson, (String, String)> {
    if rec.len() != COLUMNS.len() {
        // A missing cell would erase a certification, an extra one shift every value.
        return Err((
            "row".into(),
            format!("{} cells where the export has {}", rec.len(), COLUMNS.len()),
        ));
    }
    let cell = |i: usize| rec.get(i).map(str::trim).filter(|v| !v.is_empty());
    for (i, name) in COLUMNS.iter().enumerate() {
        if cell(i).is_some_and(|v| v.chars().any(char::is_control)) {
            return Err((name.to_string(), "contains control characters".into()));
        }
    }
    let status = json!({
        "certifying_region": cell(7),
        "valid_from": cell(8),
        "valid_to": cell(9),
    });
    let relapse = match cell(6).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") | Some("n") | Some("no") => false,
        Some("true") | Some("1") | Some("y") | Some("yes") => true,
        Some(_) => return Err(("relapse_monitoring".into(), "true or false".into())),
    };
    let mut v = json!({
        "external_id": cell(0),
        "name": cell(1).unwrap_or(""),
        "id_number": cell(2).unwrap_or(""),
        "phone": cell(3),
        "region_code": cell(4).unwrap_or(""),
    });
    if let Some(tier) = cell(5) {
        let mut t = status.clone();
        t["tier"] = json!(tier);
        v["low_income"] = t;
    }
    if relapse {
        v["relapse_monitoring"] = status;
    }
    serde_json::from_value::<CreatePerson>(v).map_err(|e| {
        // Named by the column the message mentions; the message itself never echoes the cell.
        let msg = e.to_string();
        let field = COLUMNS
            .iter()
            .rev()
            .find(|c| msg.contains(*c))
            .map_or("row", |c| c);
        let why = match field {
            "tier" => "not a tier code",
            "valid_from" | "valid_to" => "not a date (YYYY-MM-DD)",
            _ => "cannot be read",
        };
        (field.to_owned(), why.to_owned())
    })
}

/// Import people from the monitoring platform's CSV export (导入低收入人口数据): civil-affairs
/// staff, people of their region. Columns (header row first): `external_id, name, id_number,
/// phone, region_code, tier, relapse_monitoring, certifying_region, valid_from, valid_to`.
/// Streamed and written in batches; re-importing a file changes nothing. `GET /imports` shows
/// the job's progress meanwhile.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    request_body(content = String, content_type = "text/csv", description = "The export, with a header row"),
    responses(
        (status = 201, description = "Imported (rows refused are listed)", body = Import),
        (status = 403, description = "Not civil-affairs staff"),
        (status = 413, description = "Larger than 1 GiB"),
        (status = 415, description = "Not text/csv"),
        (status = 422, description = "The header row is not the export's"),
    )
)]
#[post("/imports/persons")]
async fn import_persons(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Role::CivilAffairs])?;
    let csv_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/csv"));
    if !csv_body {
        return Err(ApiError::new(
            crate::error::Kind::UnsupportedMediaType,
            "unsupported_media_type",
            "send the export as text/csv",
        ));
    }
    let ctx = state.ctx.clone();
    // A body announced larger than the limit is refused before any job is opened.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BYTES as u64) {
        return Err(too_large_problem());
    }
    let job = imports::start(&ctx, &caller).await?;
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, String>>(16);
    let (batch_tx, mut batch_rx) = tokio::sync::mpsc::channel::<Parsed>(2);
    let record_end = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let parser = tokio::task::spawn_blocking(move || {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(ChunkReader {
                rx: chunk_rx,
                current: web::Bytes::new(),
                given: 0,
                record_end: record_end.clone(),
            });
        // A byte-order mark (Excel's UTF-8 exports) is not part of the first name.
        let header_ok = reader.headers().map(|h| {
            h.iter()
                .map(|c| c.trim().trim_start_matches('\u{feff}'))
                .collect::<Vec<_>>()
                == COLUMNS
        });
        match header_ok {
            Ok(true) => {}
            Ok(false) => {
                let _ = batch_tx.blocking_send(Parsed::BadHeader(format!(
                    "the header row must be: {}",
                    COLUMNS.join(",")
                )));
                return;
            }
            // Not UTF-8 text, or the upload broke off within it.
            Err(e) => {
                let _ = batch_tx.blocking_send(Parsed::BadHeader(format!(
                    "the header row cannot be read: {e}"
                )));
                return;
            }
        }
        record_end.store(
            reader.position().byte(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let mut batch = Vec::with_capacity(BATCH);
        for rec in reader.byte_records() {
            match rec {
                Ok(r) => {
                    if let Some(p) = r.position() {
                        // Where this record began; the reader has read at most a buffer past it.
                        record_end.store(p.byte(), std::sync::atomic::Ordering::Relaxed);
                    }
                    let line = r.position().map_or(0, |p| p.line());
                    batch.push((line, csv::StringRecord::from_byte_record(r).map_err(|_| ())));
                    if batch.len() == BATCH
                        && batch_tx
                            .blocking_send(Parsed::Batch(std::mem::take(&mut batch)))
                            .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    let _ = batch_tx.blocking_send(Parsed::Broken(e.to_string()));
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = batch_tx.blocking_send(Parsed::Batch(batch));
        }
    });
    // Feed the body to the parser while batches are written; both end when the body does.
    let feed = async move {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let why = format!("the upload broke off: {e}");
                    let _ = chunk_tx.send(Err(why.clone())).await;
                    return Err(FeedStop::BrokeOff(why));
                }
            };
            total += chunk.len();
            if total > MAX_BYTES {
                let _ = chunk_tx.send(Err(TOO_LARGE.to_owned())).await;
                return Err(FeedStop::TooLarge);
            }
            if chunk_tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        Ok(())
    };
    let today = ctx.clock.today();
    let write = async {
        let mut failure = None;
        let mut bad_header = false;
        let mut seen = imports::Seen::default();
        while let Some(parsed) = batch_rx.recv().await {
            let records = match parsed {
                Parsed::Batch(r) => r,
                Parsed::BadHeader(why) => {
                    (failure, bad_header) = (Some(why), true);
                    break;
                }
                Parsed::Broken(why) => {
                    failure = Some(why);
                    break;
                }
            };
            let read = records.len() as i64;
            let mut rows = Vec::with_capacity(records.len());
            let mut rejected = Vec::new();
            for (line, rec) in records {
                let Ok(rec) = rec else {
                    rejected.push(refused(line, "row", "invalid", "not UTF-8 text"));
                    continue;
                };
                let checked = to_person(&rec).map(|p| {
                    let errors = match validator::Validate::validate(&p) {
                        Ok(()) => Vec::new(),
                        Err(e) => crate::error::field_errors(&e),
                    };
                    check(p, today, errors)
                });
                match checked {
                    Ok(Ok(reg)) => rows.push(Row { line, reg }),
                    Ok(Err(e)) => {
                        for f in &e.errors {
                            rejected.push(refused(line, &f.field, &f.code, &f.message));
                        }
                        if e.errors.is_empty() {
                            rejected.push(refused(line, "row", e.code, &e.detail));
                        }
                    }
                    Err((field, why)) => rejected.push(refused(line, &field, "invalid", &why)),
                }
            }
            if let Err(e) =
                imports::write_batch(&ctx, &caller, job.id, &mut seen, read, rows, rejected).await
            {
                failure = Some(e.to_string());
                break;
            }
        }
        // Stop the parser (its sends fail) if we stopped early.
        drop(batch_rx);
        (failure, bad_header)
    };
    let (fed, (failure, bad_header)) = futures_util::future::join(feed, write).await;
    let _ = parser.await;
    let too_large = matches!(fed, Err(FeedStop::TooLarge));
    let failure = match fed {
        Err(FeedStop::TooLarge) => Some(TOO_LARGE.to_owned()),
        Err(FeedStop::BrokeOff(why)) => failure.or(Some(why)),
        Ok(()) => failure,
    };
    let done = imports::finish(&state.ctx, &caller, job.id, failure.clone()).await?;
    // The caller's file at fault: the job is closed (failed), and the answer says why.
    if bad_header {
        return Err(ApiError::field(
            "header",
            "invalid_header",
            failure.unwrap_or_default(),
        ));
    }
    if too_large {
        return Err(too_large_problem());
    }
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/imports/{}", done.id)))
        .json(Import::from(done)))
}

/// The caller's organisation's imports, newest first (poll for progress).
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, description = "Imports", body = [Import]))
)]
#[get("/imports")]
async fn list_imports(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<Import>>, ApiError> {
    let rows = imports::list(&state.ctx, &caller).await?;
    Ok(web::Json(rows.into_iter().map(Import::from).collect()))
}

/// One import: its progress (rows read, written, unchanged, refused) and the refused rows.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "The import", body = Import),
        (status = 404, description = "No such import of the caller's organisation"),
    )
)]
#[get("/imports/{id}")]
async fn get_import(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<Import>, ApiError> {
    Ok(web::Json(
        imports::get(&state.ctx, &caller, id.into_inner())
            .await?
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_row_becomes_a_registration_body() {
        let rec = csv::StringRecord::from(vec![
            "DB-1",
            "张三",
            "230102199003070015",
            "",
            "230102001",
            "subsistence_allowance",
            "no",
            "230102001",
            "2026-01-01",
            "",
        ]);
        let p = super::to_person(&rec).expect("a body");
        assert_eq!(
            p.low_income.map(|t| t.tier),
            Some(crate::domain::person::Tier::SubsistenceAllowance)
        );
        assert!(p.relapse_monitoring.is_none());
        let bad = csv::StringRecord::from(vec![
            "",
            "张三",
            "x",
            "",
            "230102001",
            "",
            "maybe",
            "",
            "",
            "",
        ]);
        assert_eq!(super::to_person(&bad).unwrap_err().0, "relapse_monitoring");
        let ctl = csv::StringRecord::from(vec!["", "张\u{0}三", "", "", "", "", "", "", "", ""]);
        assert_eq!(super::to_person(&ctl).unwrap_err().0, "name");
    }
}
