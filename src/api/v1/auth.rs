//! `POST /auth/token` (OAuth 2.0 password and client-credentials grants, RFC 6749) and `GET /me`.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::extract::{parse_json, read_body, BodyLimit};
use crate::api::AppState;
use crate::auth::token::TokenKeys;
use crate::auth::Caller;
use crate::domain::organization::OrganizationKind;
use crate::error::ApiError;
use crate::service::sign_in::{self, Credentials, Outcome};
use crate::service::RequestMeta;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_token).service(revoke_token).service(me);
}

/// The OAuth 2.0 grants this server issues tokens for.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documentation only: the request keeps the raw text to answer RFC 6749 errors
pub enum GrantType {
    Password,
    ClientCredentials,
    RefreshToken,
}

/// Token request (RFC 6749 §4.3 / §4.4), form-encoded (the same fields as JSON are accepted too).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(value_type = GrantType, required = true, example = "password")]
    pub grant_type: Option<String>,
    #[schema(example = "admin")]
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// With `grant_type=refresh_token`.
    pub refresh_token: Option<String>,
    /// Accepted and ignored: a token carries the principal's roles.
    pub scope: Option<String>,
}

/// Successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 900)]
    pub expires_in: i64,
    /// The roles the token carries, space-separated.
    #[schema(example = "civil_affairs")]
    pub scope: String,
    /// Password grant only: use once with `grant_type=refresh_token` for the next access token
    /// (a new refresh token comes with it; presenting one twice revokes them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Error response (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`.
    #[schema(example = "invalid_grant")]
    pub error: &'static str,
    pub error_description: String,
}

fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"aidbridge\""));
    }
    res.json(OAuthError {
        error,
        error_description: description.to_owned(),
    })
}

fn locked_out(secs: i64, error: &'static str) -> HttpResponse {
    let secs = secs.max(1);
    let mut res = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        error,
        "too many failed attempts; try again later",
    );
    if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1), if sent.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret))).filter(|(id, _)| !id.is_empty())
}

fn parse_token_request(req: &HttpRequest, body: &[u8]) -> Result<TokenRequest, &'static str> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|_| "the form body cannot be read")
    } else if ct.starts_with("application/json") {
        parse_json(body).map_err(|_| "the JSON body cannot be read")
    } else {
        Err("send the request as application/x-www-form-urlencoded (or application/json)")
    }
}

/// Issue an access token (获取访问令牌).
///
/// OAuth 2.0 token endpoint: `grant_type=password` with `username` and `password` for people,
/// `grant_type=client_credentials` with `client_id` and `client_secret` (in the body or as HTTP
/// Basic) for municipal systems and charity portals. Errors follow RFC 6749 §5.2; repeated
/// failures for one account answer 429 with `Retry-After`.
#[utoipa::path(
    tag = "auth",
    request_body(content((TokenRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client", body = OAuthError),
        (status = 413, description = "Body too large"),
        (status = 429, description = "Too many failed attempts for this account", body = OAuthError),
    )
)]
#[post("/auth/token")]
async fn issue_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    keys: web::Data<TokenKeys>,
    meta: RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
    let body = read_body(&req, &mut payload.into_inner(), limit).await?;
    let mut tr = match parse_token_request(&req, &body) {
        Ok(tr) => tr,
        Err(msg) => return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", msg)),
    };
    let via_basic = basic_credentials(&req);
    match tr.grant_type.as_deref() {
        Some("password") => password_grant(&state, &keys, &tr, &meta).await,
        Some("refresh_token") => match tr.refresh_token.as_deref() {
            Some(t) if plausible_name(t) => {
                let failure = GrantFailure {
                    status: StatusCode::BAD_REQUEST,
                    error: "invalid_grant",
                    description: "the refresh token is not valid",
                };
                let outcome = sign_in::refresh(&state.ctx, &keys, t, &meta).await?;
                Ok(answer(&state, outcome, failure))
            }
            _ => Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "refresh_token is required",
            )),
        },
        Some("client_credentials") => {
            if let Some((id, secret)) = via_basic.clone() {
                tr.client_id = Some(id);
                tr.client_secret = Some(secret);
            }
            client_grant(&state, &keys, &tr, &meta).await
        }
        Some(_) => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password, client_credentials or refresh_token",
        )),
        None => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        )),
    }
}

/// How a refused grant is answered: RFC 6749 says which error and status fit each grant.
struct GrantFailure {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

async fn grant(
    state: &AppState,
    keys: &TokenKeys,
    creds: Credentials<'_>,
    meta: &RequestMeta,
    failure: GrantFailure,
) -> Result<HttpResponse, ApiError> {
    let outcome = sign_in::sign_in(&state.ctx, keys, creds, meta).await?;
    Ok(answer(state, outcome, failure))
}

/// The OAuth answer for a sign-in outcome.
fn answer(state: &AppState, outcome: Outcome, failure: GrantFailure) -> HttpResponse {
    match outcome {
        Outcome::Issued {
            access_token,
            roles,
            expires_in,
            refresh_token,
        } => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in,
                scope: roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                refresh_token,
            }),
        Outcome::Refused => oauth_error(failure.status, failure.error, failure.description),
        Outcome::LockedOut { until } => {
            locked_out((until - state.ctx.clock.now()).num_seconds(), failure.error)
        }
    }
}

/// A user name or client id worth looking up: short and free of control characters (a NUL
/// would reach PostgreSQL as an error, and a megabyte would be hashed into a throttle key).
fn plausible_name(name: &str) -> bool {
    name.chars().count() <= 200 && !name.chars().any(char::is_control)
}

async fn password_grant(
    state: &AppState,
    keys: &TokenKeys,
    tr: &TokenRequest,
    meta: &RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let (Some(username), Some(password)) = (tr.username.as_deref(), tr.password.as_deref()) else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        ));
    };
    if !plausible_name(username) {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username: at most 200 characters, no control characters",
        ));
    }
    let username = username.trim().to_ascii_lowercase();
    let failure = GrantFailure {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_grant",
        description: "the username or password is wrong",
    };
    let creds = Credentials::User {
        username: &username,
        password,
    };
    grant(state, keys, creds, meta, failure).await
}

async fn client_grant(
    state: &AppState,
    keys: &TokenKeys,
    tr: &TokenRequest,
    meta: &RequestMeta,
) -> Result<HttpResponse, ApiError> {
    let (Some(client_id), Some(secret)) = (tr.client_id.as_deref(), tr.client_secret.as_deref())
    else {
        return Ok(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required",
        ));
    };
    if !plausible_name(client_id) {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id: at most 200 characters, no control characters",
        ));
    }
    let failure = GrantFailure {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: "client authentication failed",
    };
    grant(
        state,
        keys,
        Credentials::Client { client_id, secret },
        meta,
        failure,
    )
    .await
}

/// Token revocation request (RFC 7009).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// A refresh token; its whole family is revoked.
    pub token: Option<String>,
    /// `refresh_token` (access tokens expire on their own within minutes).
    pub token_type_hint: Option<String>,
}

/// Revoke a refresh token (RFC 7009, 注销刷新令牌): the token and every token rotated from the
/// same sign-in stop working. Answers 200 also for unknown tokens, as the RFC asks.
#[utoipa::path(
    tag = "auth",
    request_body(content((RevokeRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)"),
        (status = 400, description = "invalid_request", body = OAuthError),
        (status = 413, description = "Body too large"),
    )
)]
#[post("/auth/revoke")]
async fn revoke_token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, &mut payload.into_inner(), 64 * 1024).await?;
    let parsed: Option<RevokeRequest> = serde_urlencoded::from_bytes(&body).ok();
    let Some(token) = parsed
        .and_then(|r| r.token)
        .filter(|t| !t.is_empty() && plausible_name(t))
    else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the token to revoke as a form field `token`",
        ));
    };
    sign_in::revoke(&state.ctx, &token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: Uuid,
    pub name: String,
    pub kind: OrganizationKind,
}

/// Who the caller is (当前用户).
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    /// `user` or `client`.
    pub kind: &'static str,
    /// The username, or the API client's `client_id`.
    pub name: String,
    pub display_name: String,
    pub organization: OrganizationRef,
    pub roles: Vec<crate::domain::role::Role>,
    /// Region scope (行政区划代码).
    pub region: String,
}

/// The authenticated caller (当前身份): identity, organisation, roles and region scope.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "Missing, invalid or expired token"),
    )
)]
#[get("/me")]
async fn me(caller: Caller, state: web::Data<AppState>) -> Result<web::Json<Me>, ApiError> {
    let who = sign_in::identity(&state.ctx, &caller).await?;
    Ok(web::Json(Me {
        id: caller.id,
        kind: caller.kind.as_str(),
        name: who.name,
        display_name: who.display_name,
        organization: OrganizationRef {
            id: who.organization.id,
            name: who.organization.name,
            kind: who.organization.kind,
        },
        roles: caller.roles.clone(),
        region: caller.region.as_str().to_owned(),
    }))
}
