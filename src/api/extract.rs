//! Request extractors whose rejections are problem+json naming the field: JSON bodies,
//! query strings, path parameters, the authenticated caller, and the request's origin (IP,
//! request id) for the audit trail.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::BytesMut;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::future::{ready, Ready};
use validator::Validate;

use crate::auth::token::{TokenError, TokenKeys};
use crate::auth::{Caller, PrincipalKind};
use crate::error::{field_errors, ApiError, FieldError, Kind};
use crate::service::{IfMatch, RequestMeta};

/// Largest request body accepted, in bytes (configurable; app data).
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body, read (content type and size checked) but not yet interpreted.
///
/// Handlers authorise first and then call [`JsonBody::parse`] or [`JsonBody::valid`], so a caller
/// without the role gets 403 and learns nothing about the rules, and the declarative rule
/// failures can be answered together with the handler's own field checks in one 422.
pub struct JsonBody(BytesMut);

impl JsonBody {
    /// Deserialises (a wrong type names the field: 422; bad JSON: 400) and checks the declarative
    /// rules, returning their failures for the handler to add to and finish with `ApiError::check`.
    pub fn parse<T: DeserializeOwned + Validate>(&self) -> Result<(T, Vec<FieldError>), ApiError> {
        let value: T = parse_json(&self.0)?;
        let errors = match value.validate() {
            Ok(()) => Vec::new(),
            Err(e) => field_errors(&e),
        };
        Ok((value, errors))
    }

    /// For bodies whose declarative rules are all there is to check.
    pub fn valid<T: DeserializeOwned + Validate>(&self) -> Result<T, ApiError> {
        let (value, errors) = self.parse()?;
        ApiError::check(errors)?;
        Ok(value)
    }
}

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(m)) => {
            m.type_().as_str() == "application"
                && (m.subtype().as_str() == "json"
                    || m.suffix().is_some_and(|s| s.as_str() == "json"))
        }
        _ => false,
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let too_large = || {
        ApiError::new(
            Kind::PayloadTooLarge,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The path of the first string (or key) holding a NUL, which has no meaning in any field and
/// which PostgreSQL refuses in text.
fn nul_path(v: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, child)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "")))
            } else {
                nul_path(child, &join(k))
            }
        }),
        _ => None,
    }
}

/// Deserialises JSON, reporting syntax errors as 400 and type/shape errors as 422 on the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A NUL can only arrive escaped; look closer only then.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
            if let Some(field) = nul_path(&v, "") {
                return Err(ApiError::field(
                    &field,
                    "control_character",
                    "contains a NUL character",
                ));
            }
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let message = strip_position(&inner);
            // serde names a missing field only in its message.
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next());
            let field = match (path.as_str(), missing) {
                (".", Some(m)) => m.to_owned(),
                (".", None) => "body".to_owned(),
                (_, Some(m)) => format!("{path}.{m}"),
                _ => path,
            };
            let code = if missing.is_some() {
                "required"
            } else {
                "invalid"
            };
            ApiError::validation(vec![FieldError::new(field, code, message)])
        } else {
            ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
        }
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// serde_json appends "at line 1 column 9"; the field path says more to a client.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::new(
                    Kind::UnsupportedMediaType,
                    "unsupported_media_type",
                    "send the body as application/json",
                ));
            }
            let limit = req.app_data::<BodyLimit>().map_or(1024 * 1024, |l| l.0);
            Ok(JsonBody(read_body(&req, &mut payload, limit).await?))
        })
    }
}

/// A body sent as JSON or as CSV (`text/csv`, for spreadsheet exports), read but not yet
/// interpreted.
pub enum JsonOrCsv {
    Json(JsonBody),
    Csv(BytesMut),
}

fn is_csv(req: &HttpRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(m)) if m.type_().as_str() == "text" && m.subtype().as_str() == "csv")
}

impl FromRequest for JsonOrCsv {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let limit = req.app_data::<BodyLimit>().map_or(1024 * 1024, |l| l.0);
            if is_json(&req) {
                Ok(Self::Json(JsonBody(
                    read_body(&req, &mut payload, limit).await?,
                )))
            } else if is_csv(&req) {
                Ok(Self::Csv(read_body(&req, &mut payload, limit).await?))
            } else {
                Err(ApiError::new(
                    Kind::UnsupportedMediaType,
                    "unsupported_media_type",
                    "send the body as application/json or text/csv",
                ))
            }
        })
    }
}

/// Query parameters, deserialised with the failing parameter named, then validated.
pub struct QueryParams<T>(pub T);

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // Control characters (NUL above all) have no meaning in a parameter and PostgreSQL refuses
    // NUL in text: answer 400 naming the parameter before anything reads it.
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if value.chars().any(char::is_control) {
            return Err(ApiError::bad_parameter(
                "invalid_query",
                &name,
                "control_character",
                "contains a control character",
            ));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "query".to_owned()
        } else {
            path
        };
        let inner = e.into_inner().to_string();
        // serde names a missing parameter only in the message.
        let field = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            .map(str::to_owned)
            .unwrap_or(field);
        ApiError {
            errors: vec![FieldError::new(&field, "invalid", inner.clone())],
            ..ApiError::bad_request("invalid_query", format!("query parameter {field}: {inner}"))
        }
    })
}

impl<T: DeserializeOwned + Validate> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            parse_query::<T>(req.query_string()).and_then(|v| match v.validate() {
                Ok(()) => Ok(QueryParams(v)),
                // A parameter out of range is a request that cannot be served as asked: 400, like
                // one that cannot be read (docs/API-CONVENTIONS.md).
                Err(e) => {
                    let errors = field_errors(&e);
                    let detail = match errors.as_slice() {
                        [one] => format!("query parameter {}: {}", one.field, one.message),
                        _ => format!("{} query parameters are invalid", errors.len()),
                    };
                    Err(ApiError {
                        errors,
                        ..ApiError::bad_request("invalid_query", detail)
                    })
                }
            }),
        )
    }
}

/// The request id given to (or kept from) every request by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn request_meta(req: &HttpRequest) -> RequestMeta {
    // Borrowed, not copied: this runs on every authenticated request.
    let state = req.app_data::<web::Data<crate::api::AppState>>();
    let trusted = state.map_or(&[][..], |s| s.ctx.config.trusted_proxies.as_slice());
    RequestMeta {
        ip: client_address(req, trusted).map(|ip| ip.to_string()),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// The address the audit trail records: the peer's, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy (the rightmost
/// untrusted hop; anything left of it was written by the client and proves nothing).
pub fn client_address(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<String> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_owned())
        .collect();
    // From the nearest hop outwards: the first that is not a trusted proxy is the client. A hop
    // that cannot be read ends the walk at the last trusted one: skipping it would let an
    // address the client wrote further left stand in for its own.
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => nearest = ip,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(nearest),
        }
    }
    Some(nearest)
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(request_meta(req)))
    }
}

pub(crate) fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let keys = req
        .app_data::<web::Data<TokenKeys>>()
        .ok_or_else(|| ApiError::internal("token keys are not configured"))?;
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_token",
            "send an access token: Authorization: Bearer <token>",
        )
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "the Authorization header must be 'Bearer <token>'",
            )
        })?;
    let now = req
        .app_data::<web::Data<crate::api::AppState>>()
        .map(|s| s.ctx.clock.now())
        .unwrap_or_else(chrono::Utc::now);
    let claims = keys.verify(token, now).map_err(|e| match e {
        TokenError::Expired => {
            ApiError::unauthorized("token_expired", "the access token has expired")
        }
        TokenError::Invalid => {
            ApiError::unauthorized("invalid_token", "the access token is not valid")
        }
    })?;
    let kind = match claims.typ.as_str() {
        "user" => PrincipalKind::User,
        "client" => PrincipalKind::Client,
        _ => {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "the access token is not valid",
            ))
        }
    };
    // A token whose region is not a region code grants nothing.
    let region = crate::domain::region::RegionCode::parse(&claims.region)
        .map_err(|_| ApiError::unauthorized("invalid_token", "the access token is not valid"))?;
    Ok(Caller {
        meta: request_meta(req),
        id: claims.sub,
        kind,
        organization_id: claims.org,
        // Unknown role names (from a newer version) grant nothing.
        roles: claims.roles.iter().filter_map(|r| r.parse().ok()).collect(),
        region,
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    /// A valid token of an account that may still act: disabling a user or client, or
    /// suspending its organisation, ends its tokens within seconds (`service::standing`).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = authenticate(req);
        let state = req.app_data::<web::Data<crate::api::AppState>>().cloned();
        Box::pin(async move {
            let caller = caller?;
            if let Some(state) = state {
                crate::service::standing::ensure(&state.ctx, &caller).await?;
            }
            Ok(caller)
        })
    }
}

/// The `If-Match` header, if sent: `*`, or entity tags this server issued (`"7"`). A weak or
/// foreign tag can never match (RFC 9110 §13.1.1 compares strongly), so it ends in 412.
pub struct Precondition(pub Option<IfMatch>);

pub fn parse_if_match(value: &str) -> IfMatch {
    if value.trim() == "*" {
        return IfMatch::Any;
    }
    IfMatch::Versions(
        value
            .split(',')
            .filter_map(|t| t.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok())
            .collect(),
    )
}

impl FromRequest for Precondition {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req.headers().get(header::IF_MATCH).map(|v| {
            v.to_str()
                .map(parse_if_match)
                .unwrap_or(IfMatch::Versions(Vec::new()))
        });
        ready(Ok(Precondition(value)))
    }
}

/// The entity tag of a record at `version`.
pub fn etag(version: i64) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

/// Path-parameter rejection (for example a malformed UUID): 400 naming the parameter.
pub fn path_error(err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    let bad = req
        .match_info()
        .iter()
        .find(|(_, v)| uuid::Uuid::parse_str(v).is_err())
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let e = match bad {
        Some((name, value)) => ApiError {
            errors: vec![FieldError::new(
                &name,
                "invalid_uuid",
                format!("{value:?} is not a UUID"),
            )],
            ..ApiError::bad_request(
                "invalid_path_parameter",
                format!("path parameter {name} must be a UUID"),
            )
        },
        None => ApiError::bad_request("invalid_path_parameter", err.to_string()),
    };
    e.into()
}

/// actix's own JSON rejections (if `web::Json` is used anywhere) in the same shape.
pub fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let e = match err {
        J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::new(
            Kind::PayloadTooLarge,
            "payload_too_large",
            "the request body is too large",
        ),
        J::ContentType => ApiError::new(
            Kind::UnsupportedMediaType,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        J::Deserialize(e) if e.is_data() => ApiError::field("body", "invalid", e.to_string()),
        other => ApiError::bad_request("malformed_json", other.to_string()),
    };
    e.into()
}

/// actix's own query rejections in the same shape.
pub fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("invalid_query", err.to_string()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn json_type_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"name":"a","inner":{"count":"x"}}"#).unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        assert_eq!(e.errors[0].field, "inner.count");
    }

    #[test]
    fn a_nul_in_any_string_names_the_field() {
        let e =
            parse_json::<serde_json::Value>(br#"{"name":"a","inner":{"list":["ok","x\u0000"]}}"#)
                .unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        assert_eq!(e.errors[0].field, "inner.list[1]");
        assert!(parse_json::<serde_json::Value>(br#"{"name":"\\u0000 is text"}"#).is_ok());
    }

    #[test]
    fn json_syntax_errors_are_bad_requests() {
        let e = parse_json::<Body>(br#"{"name":"#).unwrap_err();
        assert_eq!(e.kind, Kind::BadRequest);
        assert_eq!(e.code, "malformed_json");
    }

    #[test]
    fn if_match_takes_strong_tags_and_the_wildcard() {
        assert_eq!(parse_if_match("*"), IfMatch::Any);
        assert_eq!(parse_if_match(r#""3", "5""#), IfMatch::Versions(vec![3, 5]));
        // Weak and foreign tags never match.
        assert_eq!(parse_if_match(r#"W/"3", "abc""#), IfMatch::Versions(vec![]));
        assert!(IfMatch::Versions(vec![]).check(1).is_err());
        assert!(IfMatch::Versions(vec![2]).check(2).is_ok());
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Q {
            limit: u32,
        }
        let e = parse_query::<Q>("limit=abc").unwrap_err();
        assert_eq!(e.errors[0].field, "limit");
        let e = parse_query::<Q>("").unwrap_err();
        assert_eq!(e.errors[0].field, "limit");
    }
}
