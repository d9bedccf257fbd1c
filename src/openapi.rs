//! The OpenAPI document: info, tags, security schemes, and the problem responses every
//! operation may return. Paths are collected from the handlers by utoipa-actix-web.

use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{Content, OpenApi as Spec, Ref, RefOr};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem, PROBLEM_CONTENT_TYPE};

pub const TOKEN_URL: &str = "/api/v1/auth/token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AidBridge (善桥) API",
        description = "Links government social assistance (政府救助) with charity aid (慈善帮扶) in Heilongjiang: \
referral (转介), leads (线索), two-way information exchange, projects, funds, disclosure and supervision.\n\n\
Sign in with **Authorize** (OAuth2 password flow, or client credentials for systems), or send \
`Authorization: Bearer <token>` from `POST /api/v1/auth/token`. Errors are RFC 9457 \
`application/problem+json` with a stable `code` and, for validation, `errors[]` naming each field. \
Money is integer fen; times are RFC 3339 UTC; ids are UUIDs.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "service", description = "Health, readiness and metrics (服务状态)"),
        (name = "auth", description = "Tokens and the current caller (认证)"),
        (name = "admin", description = "Organisations, users and API clients (组织与账号管理)"),
        (name = "people", description = "Person registry, consent, government aid and needs (困难群众、知情同意、政府救助、救助需求)"),
        (name = "supervision", description = "Audit trail and oversight (监督管理)"),
    ),
    components(schemas(Problem, FieldError))
)]
pub struct ApiDoc;

fn add_security_schemes(api: &mut Spec) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("Access token from POST /api/v1/auth/token"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "oauth2",
        SecurityScheme::OAuth2(OAuth2::with_description(
            [
                Flow::Password(Password::new(TOKEN_URL, Scopes::new())),
                Flow::ClientCredentials(ClientCredentials::new(TOKEN_URL, Scopes::new())),
            ],
            "Password grant for staff, client credentials for municipal systems and charity portals",
        )),
    );
}

fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_CONTENT_TYPE,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build(),
    )
}

/// Gives every operation its error responses: problem+json bodies for its own 4XX/5XX, plus
/// 401/403 where a token is needed and 500/503 everywhere.
fn add_problem_responses(api: &mut Spec) {
    for item in api.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut op.responses.responses;
            let mut defaults = vec![
                ("500", "Unexpected error; logged, no internals in the body"),
                (
                    "503",
                    "Database unavailable; retry after Retry-After seconds",
                ),
            ];
            if secured {
                defaults.push(("401", "Missing, invalid or expired access token"));
                defaults.push(("403", "The caller's role or scope does not allow this"));
            }
            for (status, description) in defaults {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem_response(description));
            }
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, RefOr::T(r)) = (is_error, response) {
                    if r.content.is_empty() {
                        *r = match problem_response(&r.description) {
                            RefOr::T(p) => p,
                            RefOr::Ref(_) => continue,
                        };
                    }
                }
            }
        }
    }
}

/// The complete document, as served at `/api-docs/openapi.json` and committed in `openapi/`.
pub fn spec() -> Spec {
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::api::configure)
        .split_for_parts();
    add_security_schemes(&mut api);
    add_problem_responses(&mut api);
    api
}

/// The document as committed: pretty JSON with a final newline.
pub fn spec_json() -> String {
    let mut s = spec().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
