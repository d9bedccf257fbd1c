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
use crate::auth::{password, Caller, PrincipalKind};
use crate::db::{organizations, throttle, users};
use crate::error::ApiError;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_token).service(me);
}

/// Token request (RFC 6749 §4.3 / §4.4), as a form or JSON.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password` or `client_credentials`.
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    #[schema(example = "admin")]
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
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

fn locked_out(until: chrono::DateTime<chrono::Utc>, error: &'static str) -> HttpResponse {
    let secs = (until - chrono::Utc::now()).num_seconds().max(1);
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
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
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
) -> Result<HttpResponse, ApiError> {
    let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
    let body = read_body(&req, &mut payload.into_inner(), limit).await?;
    let mut tr = match parse_token_request(&req, &body) {
        Ok(tr) => tr,
        Err(msg) => return Ok(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", msg)),
    };
    let via_basic = basic_credentials(&req);
    match tr.grant_type.as_deref() {
        Some("password") => password_grant(&state, &keys, &tr).await,
        Some("client_credentials") => {
            if let Some((id, secret)) = via_basic.clone() {
                tr.client_id = Some(id);
                tr.client_secret = Some(secret);
            }
            client_grant(&state, &keys, &tr).await
        }
        Some(_) => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password or client_credentials",
        )),
        None => Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        )),
    }
}

fn token_response(keys: &TokenKeys, token: String, roles: &[String]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: keys.ttl_seconds,
            scope: roles.join(" "),
        })
}

async fn check_secret(secret: String, hash: Option<String>) -> Result<bool, ApiError> {
    web::block(move || password::verify(&secret, hash.as_deref()))
        .await
        .map_err(ApiError::internal)
}

/// A user or API client as far as signing in needs it.
struct Principal {
    id: Uuid,
    typ: &'static str,
    organization_id: Uuid,
    secret_hash: String,
    roles: Vec<String>,
    region: String,
    enabled: bool,
    /// Suspended organisations' members and clients cannot sign in.
    organization_active: bool,
}

/// How a grant reports failure (RFC 6749 §5.2).
struct GrantFailure {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

/// The one sign-in procedure of both grants: lock-out check, constant-work secret check,
/// failure counting, and the token.
async fn sign_in(
    state: &AppState,
    keys: &TokenKeys,
    throttle_key: String,
    secret: &str,
    lookup: impl AsyncFnOnce(&mut crate::db::Conn) -> Result<Option<Principal>, ApiError>,
    failure: GrantFailure,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    if let Some(until) = throttle::locked_until(&mut conn, &throttle_key).await? {
        return Ok(locked_out(until, failure.error));
    }
    let principal = lookup(&mut conn).await?;
    let verified = check_secret(
        secret.to_owned(),
        principal.as_ref().map(|p| p.secret_hash.clone()),
    )
    .await?;
    let principal = match principal {
        Some(p) if verified && p.enabled && p.organization_active => p,
        _ => {
            let c = &state.config;
            throttle::record_failure(
                &mut conn,
                &throttle_key,
                c.login_max_failures,
                c.login_window_seconds,
                c.login_lockout_seconds,
            )
            .await?;
            log::info!("sign-in failed for {throttle_key}");
            return Ok(oauth_error(
                failure.status,
                failure.error,
                failure.description,
            ));
        }
    };
    throttle::clear(&mut conn, &throttle_key).await?;
    let token = keys
        .issue(
            principal.id,
            principal.typ,
            principal.organization_id,
            principal.roles.clone(),
            principal.region,
        )
        .map_err(ApiError::internal)?;
    Ok(token_response(keys, token, &principal.roles))
}

async fn password_grant(
    state: &AppState,
    keys: &TokenKeys,
    tr: &TokenRequest,
) -> Result<HttpResponse, ApiError> {
    let (Some(username), Some(secret)) = (tr.username.as_deref(), tr.password.as_deref()) else {
        return Ok(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "username and password are required",
        ));
    };
    let username = username.trim().to_ascii_lowercase();
    let lookup = async |conn: &mut crate::db::Conn| {
        let Some(u) = users::find_user_by_name(conn, &username).await? else {
            return Ok(None);
        };
        let org = organizations::find(conn, u.organization_id).await?;
        Ok(Some(Principal {
            id: u.id,
            typ: "user",
            organization_id: u.organization_id,
            secret_hash: u.password_hash,
            roles: u.roles,
            region: u.region_code,
            enabled: u.enabled,
            organization_active: org.is_some_and(|o| o.status == "active"),
        }))
    };
    let failure = GrantFailure {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_grant",
        description: "the username or password is wrong",
    };
    sign_in(
        state,
        keys,
        format!("user:{username}"),
        secret,
        lookup,
        failure,
    )
    .await
}

async fn client_grant(
    state: &AppState,
    keys: &TokenKeys,
    tr: &TokenRequest,
) -> Result<HttpResponse, ApiError> {
    let (Some(client_id), Some(secret)) = (tr.client_id.as_deref(), tr.client_secret.as_deref())
    else {
        return Ok(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required",
        ));
    };
    let lookup = async |conn: &mut crate::db::Conn| {
        let Some(c) = users::find_client_by_client_id(conn, client_id).await? else {
            return Ok(None);
        };
        // A client acts for its organisation, with that organisation's region.
        let org = organizations::find(conn, c.organization_id).await?;
        Ok(Some(Principal {
            id: c.id,
            typ: "client",
            organization_id: c.organization_id,
            secret_hash: c.secret_hash,
            roles: c.roles,
            region: org
                .as_ref()
                .map(|o| o.region_code.clone())
                .unwrap_or_default(),
            enabled: c.enabled,
            organization_active: org.is_some_and(|o| o.status == "active"),
        }))
    };
    let failure = GrantFailure {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: "client authentication failed",
    };
    sign_in(
        state,
        keys,
        format!("client:{client_id}"),
        secret,
        lookup,
        failure,
    )
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
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
    let mut conn = state.pool.get().await?;
    let org = organizations::find(&mut conn, caller.organization_id)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_token", "the token's organisation no longer exists")
        })?;
    let (name, display_name) = match caller.kind {
        PrincipalKind::User => {
            let u = users::find_user(&mut conn, caller.id)
                .await?
                .ok_or_else(|| {
                    ApiError::unauthorized("invalid_token", "the token's user no longer exists")
                })?;
            (u.username, u.display_name)
        }
        PrincipalKind::Client => {
            let c = users::find_client(&mut conn, caller.id)
                .await?
                .ok_or_else(|| {
                    ApiError::unauthorized("invalid_token", "the token's client no longer exists")
                })?;
            (c.client_id, c.name)
        }
    };
    Ok(web::Json(Me {
        id: caller.id,
        kind: caller.kind.as_str(),
        name,
        display_name,
        organization: OrganizationRef {
            id: org.id,
            name: org.name,
            kind: org.kind,
        },
        roles: caller.roles.clone(),
        region: caller.region.clone(),
    }))
}
