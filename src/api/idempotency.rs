//! The `Idempotency-Key` header on POSTs (see `service::idempotency`): this middleware reads the
//! body, asks the service whether to run, replay or refuse, and keeps the answer. It sits
//! outside the language layer, so a replay is byte for byte the first answer.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};

use crate::api::AppState;
use crate::error::ApiError;
use crate::service::idempotency::{self, Begin, Stored};

pub const HEADER: &str = "idempotency-key";
/// The one POST whose body is streamed, not buffered.
pub const STREAMED: &str = "/api/v1/imports/persons";

/// POSTs that only read (a reveal, a look-up by ID number): nothing to do twice, and an answer
/// with personal data must come from a fresh, recorded decision each time, never a replay.
fn only_reads(path: &str) -> bool {
    path == "/api/v1/persons/lookup"
        || (path.ends_with("/reveal")
            && (path.starts_with("/api/v1/persons/") || path.starts_with("/api/v1/leads/")))
}

/// Secrets shown once (an API client's, a webhook's) are not kept for replays: a retry gets the
/// record without them and must create another if the first answer was lost.
fn without_secrets(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut o))
            if o.contains_key("secret") || o.contains_key("client_secret") =>
        {
            o.remove("secret");
            o.remove("client_secret");
            serde_json::to_vec(&o).unwrap_or_default()
        }
        _ => body.to_vec(),
    }
}

/// Answers a retry should not get again: the caller's standing, a race, a rate limit, a lost
/// connection — the key is released so that the retry acts.
fn transient(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 401 | 403 | 408 | 409 | 429)
}
/// Set on an answer that is a replay of the first.
pub const REPLAYED: &str = "idempotent-replayed";

/// Printable ASCII, 1 to 255 characters (as the IETF draft and common practice have it).
fn valid_key(raw: &[u8]) -> Option<String> {
    let ok = !raw.is_empty() && raw.len() <= 255 && raw.iter().all(|b| (0x20..0x7f).contains(b));
    ok.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// A problem in the caller's language (this layer sits outside the one that translates).
fn problem(req: ServiceRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    let lang = crate::api::i18n::Lang::from_headers(req.headers());
    let res = crate::error::problem_response(&e, lang);
    req.into_response(res)
}

fn replay(req: ServiceRequest, stored: Stored) -> ServiceResponse<BoxBody> {
    let mut res = HttpResponse::build(
        StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            res.append_header((n, v));
        }
    }
    res.insert_header((HeaderName::from_static(REPLAYED), "true"));
    req.into_response(res.body(stored.body))
}

pub async fn idempotent(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Imports stream their (large) body and are idempotent by content: a file imported again
    // changes nothing.
    // The decoded path, as the router will see it.
    let path = actix_web::dev::Url::new(req.uri().clone())
        .path()
        .to_owned();
    let applies = req.method() == Method::POST
        && path.starts_with("/api/v1/")
        && path != STREAMED
        && !only_reads(&path);
    let Some(raw) = req.headers().get(HEADER).filter(|_| applies).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(key) = valid_key(raw.as_bytes()) else {
        return Ok(problem(
            req,
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            ),
        ));
    };
    // Keys belong to a caller; without a valid token the request runs and answers 401 itself.
    let (Ok(caller), Some(state)) = (
        crate::api::extract::authenticate(req.request()),
        req.app_data::<web::Data<AppState>>().cloned(),
    ) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    // A disabled account or suspended organisation gets no replay either.
    if let Err(e) = crate::service::standing::ensure(&state.ctx, &caller).await {
        return Ok(problem(req, e));
    }
    let limit = state.ctx.config.max_body_bytes;
    let mut payload = req.take_payload();
    let body = match crate::api::extract::read_body(req.request(), &mut payload, limit).await {
        Ok(b) => b.freeze(),
        Err(e) => return Ok(problem(req, e)),
    };
    let target = req
        .uri()
        .path_and_query()
        .map_or(req.path(), |p| p.as_str())
        .to_owned();
    let hash = idempotency::fingerprint(req.method().as_str(), &target, &body);
    let principal = caller.id;
    match idempotency::begin(&state.ctx, principal, &key, &hash).await {
        Err(e) => return Ok(problem(req, e)),
        Ok(Begin::Replay(stored)) => return Ok(replay(req, stored)),
        Ok(Begin::Mismatch) => {
            return Ok(problem(
                req,
                ApiError::unprocessable(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                ),
            ))
        }
        Ok(Begin::InProgress) => {
            let mut e = ApiError::conflict(
                "request_in_progress",
                "the first request with this Idempotency-Key is still running",
            );
            e.retry_after = Some(1);
            return Ok(problem(req, e));
        }
        Ok(Begin::Run) => {}
    }
    req.set_payload(actix_web::dev::Payload::from(body));
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            let _ = idempotency::abandon(&state.ctx, principal, &key).await;
            return Err(e);
        }
    };
    let (req, res) = res.into_parts();
    let status = res.status();
    let headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let (res, body) = res.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            let _ = idempotency::abandon(&state.ctx, principal, &key).await;
            return Ok(ServiceResponse::new(
                req,
                HttpResponse::InternalServerError().finish(),
            ));
        }
    };
    let kept = if transient(status) {
        idempotency::abandon(&state.ctx, principal, &key).await
    } else {
        let stored = Stored {
            status: status.as_u16(),
            headers,
            body: without_secrets(&bytes),
        };
        idempotency::finish(&state.ctx, principal, &key, &stored).await
    };
    if let Err(e) = kept {
        // The request acted; only its replay is lost. Say so in the log, answer as it did.
        log::warn!("idempotency key not kept: {e}");
    }
    Ok(ServiceResponse::new(
        req,
        res.set_body(bytes).map_into_boxed_body(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_short_printable_ascii() {
        assert_eq!(super::valid_key(b"a-1:B_2").as_deref(), Some("a-1:B_2"));
        assert!(super::valid_key(b"").is_none());
        assert!(super::valid_key(&[b'x'; 256]).is_none());
        assert!(super::valid_key(b"tab\there").is_none());
        assert!(super::valid_key("键".as_bytes()).is_none());
    }

    #[test]
    fn reads_are_not_replayed_and_secrets_not_kept() {
        assert!(super::only_reads("/api/v1/persons/lookup"));
        assert!(super::only_reads("/api/v1/persons/0190/reveal"));
        assert!(super::only_reads("/api/v1/leads/0190/reveal"));
        assert!(!super::only_reads("/api/v1/persons"));
        let kept = super::without_secrets(br#"{"id":"x","secret":"whsec_1","url":"u"}"#);
        assert_eq!(kept, br#"{"id":"x","url":"u"}"#);
        assert_eq!(super::without_secrets(b"[1]"), b"[1]");
        assert!(super::transient(actix_web::http::StatusCode::CONFLICT));
        assert!(!super::transient(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
        ));
    }
}
