//! RFC 9457 problem+json: how a [`service::Error`](crate::service::Error) is answered over HTTP,
//! in one place. Handlers return `Result<_, ApiError>` (the service error under its HTTP name);
//! the kind decides the status, `code` stays the same whatever the language of `detail`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use crate::service::error::{field_errors, FieldError, Kind};

/// The error every handler returns: the service layer's error, rendered as problem+json.
pub type ApiError = crate::service::Error;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Every problem `code` the API answers, with its status and meaning. Stable: clients branch on
/// these. A test fails when the code uses one that is not listed here, or lists one never used.
pub const PROBLEM_CODES: &[(&str, u16, &str)] = &[
    ("malformed_json", 400, "the body is not valid JSON"),
    ("unreadable_body", 400, "the body could not be read"),
    (
        "invalid_query",
        400,
        "a query parameter cannot be read or is out of range; `errors` names it",
    ),
    (
        "invalid_path_parameter",
        400,
        "a path parameter is malformed (not a UUID); `errors` names it",
    ),
    ("missing_token", 401, "no `Authorization: Bearer` token"),
    (
        "invalid_token",
        401,
        "the token is not valid, or its principal no longer exists",
    ),
    ("token_expired", 401, "the token has expired; get a new one"),
    (
        "forbidden",
        403,
        "the caller's role or region does not allow this",
    ),
    (
        "not_found",
        404,
        "no such resource within the caller's reach",
    ),
    ("route_not_found", 404, "no such path"),
    (
        "method_not_allowed",
        405,
        "the path exists with other methods (see `Allow`)",
    ),
    (
        "duplicate",
        409,
        "a record with this value exists; `field` names it",
    ),
    (
        "duplicate_person",
        409,
        "this ID number is registered; `existing_id` when the caller may see the person",
    ),
    (
        "illegal_transition",
        409,
        "the current state does not allow this; `from` and `to` name the states",
    ),
    (
        "concurrent_update",
        409,
        "another request changed the same record meanwhile; reload and retry",
    ),
    (
        "already_withdrawn",
        409,
        "the consent was already withdrawn",
    ),
    (
        "precondition_failed",
        412,
        "the record changed since the version named in `If-Match`; reload",
    ),
    (
        "payload_too_large",
        413,
        "the body is larger than the limit",
    ),
    (
        "unsupported_media_type",
        415,
        "send the body as application/json",
    ),
    (
        "validation_failed",
        422,
        "fields break rules; `errors` lists each with a code",
    ),
    (
        "reference_not_found",
        422,
        "a referenced record does not exist",
    ),
    (
        "constraint_violated",
        422,
        "the data breaks a rule of the register",
    ),
    (
        "internal_error",
        500,
        "an unexpected error; logged with the request id, no internals shown",
    ),
    (
        "service_unavailable",
        503,
        "the database is unreachable; retry after `Retry-After` seconds",
    ),
];

/// The catalogue as Markdown, for the OpenAPI document.
pub fn code_catalogue() -> String {
    let mut s = String::from(
        "Stable error code; clients branch on this, not on `detail` (whose language follows \
         `Accept-Language`).\n\n| code | status | meaning |\n|---|---|---|\n",
    );
    for (code, status, meaning) in PROBLEM_CODES {
        s.push_str(&format!("| `{code}` | {status} | {meaning} |\n"));
    }
    s
}

/// RFC 9457 problem details (问题详情), the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[schema(example = "urn:aidbridge:problem:validation_failed")]
    pub r#type: String,
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "1 field is invalid")]
    pub detail: String,
    /// Stable error code; clients branch on this, not on `detail`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// The invalid fields, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Further members for some problems (for example `existing_id` on a duplicate).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Map<String, Value>>,
}

/// The status code of each kind of failure.
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::BadRequest => StatusCode::BAD_REQUEST,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The problem document for an error.
pub fn problem(e: &ApiError) -> Problem {
    let status = status_of(e.kind);
    Problem {
        r#type: format!("urn:aidbridge:problem:{}", e.code),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: e.detail.clone(),
        code: e.code.to_owned(),
        errors: e.errors.clone(),
        extra: e.extra.clone(),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.kind)
    }

    fn error_response(&self) -> HttpResponse {
        let status = status_of(self.kind);
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.body(serde_json::to_string(&problem(self)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_carries_code_type_and_fields() {
        let e = ApiError::field("uscc", "check_character", "wrong");
        let p = problem(&e);
        assert_eq!(p.status, 422);
        assert_eq!(p.code, "validation_failed");
        assert_eq!(p.r#type, "urn:aidbridge:problem:validation_failed");
        assert_eq!(p.errors[0].field, "uscc");
        assert_eq!(p.detail, "uscc: wrong");
    }

    /// The codes the source passes to the error constructors.
    fn codes_in_source() -> std::collections::BTreeSet<String> {
        fn scan(dir: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).expect("readable source folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    scan(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("readable source");
                    let openers = [
                        "conflict(",
                        "bad_request(",
                        "unauthorized(",
                        "unprocessable(",
                        "bad_parameter(",
                    ];
                    for opener in openers {
                        for (i, _) in text.match_indices(opener) {
                            out.extend(literal_after(&text[i + opener.len()..]));
                        }
                    }
                    for (i, _) in text.match_indices("Kind::") {
                        let rest = &text[i..];
                        if let Some(comma) = rest.find(',').filter(|c| *c < 40) {
                            if text[..i].trim_end().ends_with("new(") {
                                out.extend(literal_after(&rest[comma + 1..]));
                            }
                        }
                    }
                }
            }
        }
        fn literal_after(s: &str) -> Option<String> {
            let s = s.trim_start().strip_prefix('"')?;
            let end = s.find('"')?;
            let lit = &s[..end];
            lit.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
                .then(|| lit.to_owned())
        }
        let mut out = std::collections::BTreeSet::new();
        scan(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut out,
        );
        out
    }

    #[test]
    fn every_problem_code_is_in_the_catalogue_and_every_listed_one_is_used() {
        let used = codes_in_source();
        let listed: std::collections::BTreeSet<String> = PROBLEM_CODES
            .iter()
            .map(|(c, _, _)| c.to_string())
            .collect();
        assert!(used.len() > 15, "the scan found too little: {used:?}");
        let unlisted: Vec<_> = used.difference(&listed).collect();
        let unused: Vec<_> = listed.difference(&used).collect();
        assert!(unlisted.is_empty(), "add to PROBLEM_CODES: {unlisted:?}");
        assert!(unused.is_empty(), "never answered: {unused:?}");
        let conventions = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/API-CONVENTIONS.md"),
        )
        .expect("docs/API-CONVENTIONS.md");
        for (code, status, _) in PROBLEM_CODES {
            assert!(
                conventions.contains(&format!("| `{code}` | {status} |")),
                "docs/API-CONVENTIONS.md lacks {code}"
            );
        }
    }

    #[test]
    fn not_found_maps_to_404() {
        let e: ApiError = crate::db::Error::NotFound.into();
        assert_eq!(e.status_code(), StatusCode::NOT_FOUND);
    }
}
