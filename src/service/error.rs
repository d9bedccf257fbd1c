//! The error of every use case: what went wrong, in the application's terms and without HTTP.
//!
//! Use the constructors: `validation`/`field` for input that breaks a rule (naming each field),
//! `bad_request` for input that cannot be read, `forbidden`/`unauthorized` for access,
//! `not_found`, `conflict` for state clashes, `unavailable` when a dependency is down.
//! `crate::error` renders it as RFC 9457 problem+json, in one place. Database errors are mapped
//! here from `db::Error`; anything unexpected is logged and shown without internals.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use utoipa::ToSchema;

/// What kind of failure; `crate::error` maps each to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request cannot be read (syntax, a bad parameter).
    BadRequest,
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    NotFound,
    /// The resource exists but not with this method (answered with `Allow`).
    MethodNotAllowed,
    /// The current state does not allow it (a duplicate, an illegal transition, a lost race).
    Conflict,
    /// The resource changed since the version the caller names (`If-Match`).
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Readable, but breaks a rule (field validation).
    Invalid,
    /// Too many attempts; `retry_after` says when to try again.
    TooManyRequests,
    /// A dependency (the database) is not reachable; try again later.
    Unavailable,
    /// A bug or an unexpected failure; the cause is logged, never shown.
    Internal,
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// The field, as a JSON path (`name`, `guardian.id_number`, `roles[1]`) or a parameter name.
    #[schema(example = "uscc")]
    pub field: String,
    /// Stable machine-readable reason.
    #[schema(example = "check_character")]
    pub code: String,
    #[schema(example = "the check character is wrong (expected E)")]
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    /// Stable code clients branch on (the catalogue is in docs/API-CONVENTIONS.md).
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Further members of the problem (for example `existing_id` on a duplicate).
    pub extra: Option<Map<String, Value>>,
    /// Seconds after which a retry may succeed.
    pub retry_after: Option<u64>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn validation(mut errors: Vec<FieldError>) -> Self {
        // A stable order, whatever order the checks ran in.
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        let detail = match errors.len() {
            1 => format!("{}: {}", errors[0].field, errors[0].message),
            n => format!("{n} fields are invalid"),
        };
        Self {
            errors,
            ..Self::new(Kind::Invalid, "validation_failed", detail)
        }
    }

    /// `Ok` when no field failed, else one error naming every failure.
    pub fn check(errors: Vec<FieldError>) -> Result<()> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Self::validation(errors))
        }
    }

    /// A single invalid field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, code, detail)
    }

    /// A parameter that cannot be read, named in `errors`.
    pub fn bad_parameter(
        code: &'static str,
        field: &str,
        field_code: &str,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Self {
            errors: vec![FieldError::new(field, field_code, message.clone())],
            ..Self::bad_request(code, format!("{field}: {message}"))
        }
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Kind::Unauthenticated, code, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, "forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Kind::NotFound, "not_found", format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, code, detail)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(5),
            ..Self::new(Kind::Unavailable, "service_unavailable", detail)
        }
    }

    /// Logs the cause and reports a failure that shows nothing of it.
    pub fn internal(cause: impl fmt::Display) -> Self {
        log::error!("internal error: {cause}");
        Self::new(
            Kind::Internal,
            "internal_error",
            "an unexpected error occurred; it has been logged",
        )
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra
            .get_or_insert_with(Map::new)
            .insert(key.to_owned(), value.into());
        self
    }

    /// The field named by a `duplicate` conflict, if any.
    pub fn duplicate_field(&self) -> Option<&str> {
        if self.kind != Kind::Conflict {
            return None;
        }
        self.extra.as_ref()?.get("field")?.as_str()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}: {}", self.kind, self.code, self.detail)
    }
}

impl std::error::Error for Error {}

/// The request field a unique constraint protects; unknown constraints name no field, so no
/// internal name reaches a client.
fn constraint_field(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "organizations_uscc_key" => "uscc",
        "users_username_key" => "username",
        "api_clients_client_id_key" => "client_id",
        "persons_id_number_hash_key" => "id_number",
        "persons_external_id_key" => "external_id",
        _ => return None,
    })
}

impl From<crate::db::Error> for Error {
    fn from(e: crate::db::Error) -> Self {
        use crate::db::Error as Db;
        match e {
            Db::NotFound => Self::not_found("resource"),
            Db::Duplicate { constraint } => match constraint_field(&constraint) {
                Some(field) => Self::conflict(
                    "duplicate",
                    format!("a record with this {field} already exists"),
                )
                .with_extra("field", field),
                None => {
                    log::warn!("unique constraint {constraint} has no field mapping");
                    Self::conflict("duplicate", "a record with these values already exists")
                }
            },
            Db::MissingReference { constraint } => {
                log::info!("foreign key {constraint} refused a row");
                Self::unprocessable("reference_not_found", "a referenced record does not exist")
            }
            Db::RuleBroken { constraint } => {
                log::warn!("check constraint {constraint} refused a row the service let through");
                Self::unprocessable(
                    "constraint_violated",
                    "the data breaks a rule of the register",
                )
            }
            Db::Conflict => Self::conflict(
                "concurrent_update",
                "another request changed the same data at the same time; retry",
            ),
            Db::Unavailable(cause) => {
                log::warn!("database unavailable: {cause}");
                Self::unavailable("the database is not reachable right now")
            }
            Db::Other(cause) => Self::internal(format!("database error: {cause}")),
        }
    }
}

impl From<validator::ValidationErrors> for Error {
    fn from(e: validator::ValidationErrors) -> Self {
        Self::validation(field_errors(&e))
    }
}

/// The failures of validator's declarative rules as field errors (nested paths flattened).
pub fn field_errors(e: &validator::ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    flatten_validation("", e, &mut out);
    out
}

fn flatten_validation(
    prefix: &str,
    errors: &validator::ValidationErrors,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind as K;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            K::Field(errs) => {
                for err in errs {
                    let message = err
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| describe_validation(err));
                    out.push(FieldError::new(&path, err.code.to_string(), message));
                }
            }
            K::Struct(inner) => flatten_validation(&path, inner, out),
            K::List(items) => {
                for (i, inner) in items {
                    flatten_validation(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

fn describe_validation(err: &validator::ValidationError) -> String {
    let p = |k: &str| err.params.get(k).map(|v| v.to_string());
    match err.code.as_ref() {
        "length" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            _ => "invalid length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "out of range".into(),
        },
        code => format!("invalid ({code})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_fields_in_a_stable_order() {
        let e = Error::validation(vec![
            FieldError::new("b", "x", "bad b"),
            FieldError::new("a", "y", "bad a"),
        ]);
        assert_eq!(e.kind, Kind::Invalid);
        assert_eq!(e.errors[0].field, "a");
        assert_eq!(e.detail, "2 fields are invalid");
    }

    #[test]
    fn database_errors_show_no_internal_names() {
        let e: Error = crate::db::Error::RuleBroken {
            constraint: "persons_household_size_check".into(),
        }
        .into();
        assert!(!e.detail.contains("persons_"));
        let e: Error = crate::db::Error::Duplicate {
            constraint: "secret_internal_key".into(),
        }
        .into();
        assert!(!e.detail.contains("secret") && e.extra.is_none());
        let e: Error = crate::db::Error::Duplicate {
            constraint: "persons_id_number_hash_key".into(),
        }
        .into();
        assert_eq!(e.duplicate_field(), Some("id_number"));
    }

    #[test]
    fn internal_hides_the_cause() {
        let e = Error::internal("secret table xyz exploded");
        assert!(!e.detail.contains("xyz"));
    }
}
