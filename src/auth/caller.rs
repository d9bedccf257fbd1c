//! The authenticated caller, extracted from the bearer token, and its scope checks.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};
use uuid::Uuid;

use super::token::{TokenError, TokenKeys};
use crate::domain::region;
use crate::domain::role::{has_any, Role};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Client,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
        }
    }
}

/// Who is calling: a user or an API client acting for an organisation.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub kind: PrincipalKind,
    pub organization_id: Uuid,
    pub roles: Vec<Role>,
    pub region: String,
}

impl Caller {
    /// 403 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if has_any(&self.roles, roles) {
            Ok(())
        } else {
            let names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!(
                "this needs one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller's region scope includes `code`.
    pub fn covers_region(&self, code: &str) -> bool {
        region::covers(&self.region, code)
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
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
    let claims = keys.verify(token).map_err(|e| match e {
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
    Ok(Caller {
        id: claims.sub,
        kind,
        organization_id: claims.org,
        // Unknown role names (from a newer version) grant nothing.
        roles: claims.roles.iter().filter_map(|r| r.parse().ok()).collect(),
        region: claims.region,
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
