//! The OpenAPI document: info, tags, security schemes, and the problem responses every
//! operation may return. Paths are collected from the handlers by utoipa-actix-web.

use serde_json::{json, Value};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::OpenApi as Spec;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem, PROBLEM_CONTENT_TYPE};

pub const TOKEN_URL: &str = "/api/v1/auth/token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AidBridge API",
        description = "AidBridge (善桥) links government social assistance (政府救助) with charity aid (慈善帮扶) in Heilongjiang: \
referral (转介), leads (线索), two-way information exchange, projects, funds, disclosure and supervision.\n\n\
Sign in with **Authorize** (OAuth2 password flow, or client credentials for systems), or send \
`Authorization: Bearer <token>` from `POST /api/v1/auth/token`. Errors are RFC 9457 \
`application/problem+json` with a stable `code` and, for validation, `errors[]` naming each field; \
their messages are Chinese by default and English with `Accept-Language: en` (codes and fields do \
not change). Changes to a record honour `If-Match` with the `ETag` it was read with. \
Money is integer fen; times are RFC 3339 UTC; ids are UUIDs.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    servers((url = "/", description = "This server")),
    tags(
        (name = "service", description = "Health, readiness and metrics (服务状态)"),
        (name = "auth", description = "Tokens and the current caller (认证)"),
        (name = "admin", description = "Organisations, users and API clients (组织与账号管理)"),
        (name = "people", description = "Person registry, consent, government aid and needs (困难群众、知情同意、政府救助、救助需求)"),
        (name = "referrals", description = "Referrals from bureaus to charities (转介)"),
        (name = "leads", description = "Leads: reverse referral and grassroots discovery (线索)"),
        (name = "exchange", description = "The event feed for systems that keep in sync (信息交换)"),
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

/// Operations that never touch the database (no 503).
const WITHOUT_DATABASE: &[&str] = &["healthz", "metrics", "jwks", "authorization_server"];

/// Operations whose success answers carry the record's version as `ETag`.
const VERSIONED: &[&str] = &[
    "create_person",
    "get_person",
    "update_person",
    "create_need",
    "get_need",
    "update_need",
    "get_organization",
    "update_organization",
    "update_user",
    "update_client",
    "create_project",
    "get_project",
    "update_project",
    "publish_project",
    "close_project",
    "create_fund",
    "get_fund",
    "create_referral",
    "get_referral",
    "accept_referral",
    "decline_referral",
    "cancel_referral",
    "start_referral",
    "complete_referral",
    "forward_referral",
    "create_lead",
    "get_lead",
    "acknowledge_lead",
    "assess_lead",
    "close_lead",
];

/// Changes that honour `If-Match` (optimistic concurrency).
const CONDITIONAL: &[&str] = &[
    "update_person",
    "update_need",
    "update_organization",
    "update_user",
    "update_client",
    "update_project",
    "publish_project",
    "close_project",
];

/// Documents `ETag` on the answers of versioned operations, and `If-Match` with its 412 on
/// the conditional ones.
fn add_versioning(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        if VERSIONED.contains(&id.as_str()) {
            for (status, response) in op["responses"].as_object_mut().expect("responses") {
                if status.starts_with('2') {
                    response["headers"]["ETag"] = json!({
                        "description": "The record's version; send it back as If-Match to change it",
                        "schema": {"type": "string", "example": "\"3\""},
                    });
                }
            }
        }
        if CONDITIONAL.contains(&id.as_str()) {
            let params = op["parameters"].as_array_mut();
            let header = json!({
                "name": "If-Match",
                "in": "header",
                "required": false,
                "description": "The ETag of the version you read: the change applies only to that version (412 otherwise). `*` matches any.",
                "schema": {"type": "string", "example": "\"3\""},
            });
            match params {
                Some(ps) => ps.push(header),
                None => op["parameters"] = json!([header]),
            }
            op["responses"]["412"] = problem_response(
                "The record changed since the version named in If-Match (`current_etag` when known)",
            );
            if op["responses"].get("409").is_none() {
                op["responses"]["409"] = problem_response(
                    "Another request changed the record at the same time (`concurrent_update`)",
                );
            }
        }
    }
}

/// Documents `Idempotency-Key` on every POST a token authorises (the middleware in
/// `api::idempotency`), with its answers: a replay carries `Idempotent-Replayed: true`.
fn add_idempotency(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(op) = item.get_mut("post") else {
            continue;
        };
        let secured = op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty());
        if !secured || !path.starts_with("/api/v1/") || path == crate::api::idempotency::STREAMED {
            continue;
        }
        let header = json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Any unique string (1–255 printable ASCII, e.g. a UUID). The same key and request again within 24 h answers with the first response (marked `Idempotent-Replayed: true`) without acting twice; the same key with another request is 422 `idempotency_key_reused`; while the first is still running, 409 `request_in_progress`.",
            "schema": {"type": "string", "maxLength": 255, "example": "3f2c7a9e-0b1d-4c55-9e1a-2b7d8c6f5a40"},
        });
        match op["parameters"].as_array_mut() {
            Some(ps) => ps.push(header),
            None => op["parameters"] = json!([header]),
        }
        for (status, text) in [
            ("400", "Invalid field or header (`invalid_idempotency_key`)"),
            ("409", "A conflict, or the first request with this Idempotency-Key is still running (`request_in_progress`)"),
            ("422", "Invalid field, or the Idempotency-Key was used for another request (`idempotency_key_reused`)"),
        ] {
            if op["responses"].get(status).is_none() {
                op["responses"][status] = problem_response(text);
            }
        }
    }
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// Gives every operation the problem responses it can give, from what it takes: a token
/// (401, 403), path parameters (400, 404), query parameters (400), a JSON body (400, 413, 415,
/// 422), the database (503), and 500 everywhere. A handler's own description wins; a test walks
/// the routes and fails when the server answers a status the document does not list.
/// Operations without a token say so (`security: []`).
fn add_problem_responses(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let secured = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            if !secured {
                op["security"] = json!([]);
            }
            let params = op.get("parameters").and_then(Value::as_array);
            let in_place =
                |place: &str| params.is_some_and(|ps| ps.iter().any(|p| p["in"] == place));
            let (in_path, in_query) = (in_place("path"), in_place("query"));
            let json_body = op
                .pointer("/requestBody/content/application~1json")
                .is_some();
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            let mut defaults = vec![("500", "Unexpected error; logged, no internals in the body")];
            if !WITHOUT_DATABASE.contains(&id.as_str()) {
                defaults.push((
                    "503",
                    "Database unavailable; retry after Retry-After seconds",
                ));
            }
            if secured {
                defaults.push(("401", "Missing, invalid or expired access token"));
                defaults.push(("403", "The caller's role or scope does not allow this"));
            }
            if in_path {
                defaults.push(("400", "A path parameter is malformed (named in `errors`)"));
                defaults.push(("404", "No such resource within the caller's reach"));
            }
            if in_query {
                defaults.push((
                    "400",
                    "A query parameter cannot be read or is out of range (named in `errors`)",
                ));
            }
            if json_body {
                defaults.push(("400", "The body is not valid JSON"));
                defaults.push(("413", "The body is larger than the configured limit"));
                defaults.push(("415", "The body is not application/json"));
                defaults.push(("422", "A field breaks a rule (each named in `errors`)"));
            }
            let responses = op["responses"].as_object_mut().expect("responses");
            for (status, description) in defaults {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem_response(description));
            }
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && response.get("content").is_none() {
                    let description = response["description"].as_str().unwrap_or("").to_owned();
                    *response = problem_response(&description);
                }
            }
        }
    }
}

/// Schema fixes generated clients need: `Problem` as one plain object that allows extension
/// members, pages that refer to their item schema, free-form objects that say so, and the
/// catalogue of problem codes in `Problem.code`.
fn polish_schemas(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(problem) = schemas.get_mut("Problem") {
        let mut plain = json!({"type": "object", "additionalProperties": true});
        plain["description"] = problem["description"].clone();
        for part in problem["allOf"].as_array().into_iter().flatten() {
            if part.get("properties").is_some() {
                plain["properties"] = part["properties"].clone();
                plain["required"] = part["required"].clone();
            }
        }
        plain["properties"]["code"]["description"] = json!(crate::error::code_catalogue());
        *problem = plain;
    }
    let names: Vec<String> = schemas.keys().cloned().collect();
    for (name, schema) in schemas.iter_mut() {
        if let Some(item) = name.strip_prefix("Page_") {
            if names.iter().any(|n| n == item) {
                schema["properties"]["items"]["items"] =
                    json!({"$ref": format!("#/components/schemas/{item}")});
            }
        }
        free_form_objects(schema);
    }
}

/// `{"type": "object"}` without properties is a free-form object: say so, or TypeScript
/// generators read it as an empty record.
fn free_form_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let bare_object = m.get("type").is_some_and(|t| {
                t == "object" || t.as_array().is_some_and(|a| a.contains(&json!("object")))
            }) && !m.contains_key("properties")
                && !m.contains_key("additionalProperties")
                && !m.contains_key("allOf")
                && !m.contains_key("oneOf");
            if bare_object {
                m.insert("additionalProperties".into(), json!(true));
            }
            for child in m.values_mut() {
                free_form_objects(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(free_form_objects),
        _ => {}
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
    let mut doc = serde_json::to_value(&api).expect("the document serialises");
    add_versioning(&mut doc);
    add_idempotency(&mut doc);
    add_problem_responses(&mut doc);
    polish_schemas(&mut doc);
    serde_json::from_value(doc).expect("the polished document is still a document")
}

/// The document as committed: pretty JSON with a final newline.
pub fn spec_json() -> String {
    let mut s = spec().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
