//! Unknown routes: 404, or 405 with `Allow` when the path exists for other methods.
//! The route table comes from the generated OpenAPI document, so it cannot drift from the routes.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, Kind};

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                let mut methods = Vec::new();
                for (m, op) in [
                    ("GET", &item.get),
                    ("POST", &item.post),
                    ("PUT", &item.put),
                    ("PATCH", &item.patch),
                    ("DELETE", &item.delete),
                ] {
                    if op.is_some() {
                        methods.push(m);
                    }
                }
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The methods allowed on `path`, or `None` when no route matches it.
    pub fn allowed(&self, path: &str) -> Option<Vec<&'static str>> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut found: Option<Vec<&'static str>> = None;
        for (segments, methods) in &self.routes {
            let matches = segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| (s.starts_with('{') && !p.is_empty()) || s == p);
            if matches {
                found.get_or_insert_with(Vec::new).extend(methods);
            }
        }
        found
    }
}

pub async fn not_found(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let method = req.method().as_str();
    match table.allowed(req.path()) {
        // The method is served, just not at this spelling of the path (a trailing slash, say).
        Some(methods) if !methods.is_empty() && !methods.contains(&method) => {
            let allow = methods.join(", ");
            // The error stays attached, so the answer is re-rendered in the request's language.
            let mut res = HttpResponse::from_error(ApiError::new(
                Kind::MethodNotAllowed,
                "method_not_allowed",
                format!("{} is not allowed here; allowed: {allow}", req.method()),
            ));
            if let Ok(v) = header::HeaderValue::from_str(&allow) {
                res.headers_mut().insert(header::ALLOW, v);
            }
            res
        }
        _ => HttpResponse::from_error(ApiError::new(
            Kind::NotFound,
            "route_not_found",
            format!("no route {}", req.path()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_collects_methods() {
        let t = RouteTable {
            routes: vec![
                (
                    vec!["api".into(), "v1".into(), "organizations".into()],
                    vec!["GET", "POST"],
                ),
                (
                    vec![
                        "api".into(),
                        "v1".into(),
                        "organizations".into(),
                        "{id}".into(),
                    ],
                    vec!["GET", "PATCH"],
                ),
            ],
        };
        assert_eq!(
            t.allowed("/api/v1/organizations"),
            Some(vec!["GET", "POST"])
        );
        assert_eq!(
            t.allowed("/api/v1/organizations/abc"),
            Some(vec!["GET", "PATCH"])
        );
        assert_eq!(t.allowed("/api/v1/nothing"), None);
        assert_eq!(t.allowed("/api/v1/organizations/abc/x"), None);
    }
}
