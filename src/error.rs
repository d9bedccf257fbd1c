//! RFC 9457 problem+json: how a [`service::Error`](crate::service::Error) is answered over HTTP,
//! in one place. Handlers return `Result<_, ApiError>` (the service error under its HTTP name);
//! the kind decides the status, `code` stays the same whatever the language of `detail`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub use crate::service::error::{field_errors, FieldError, Kind};

use crate::api::i18n::{self, Lang};

/// The error every handler returns: the service layer's error, rendered as problem+json.
pub type ApiError = crate::service::Error;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Every problem `code` the API answers, with its status and meaning (English, Chinese). Stable: clients branch on
/// these. A test fails when the code uses one that is not listed here, or lists one never used.
pub const PROBLEM_CODES: &[(&str, u16, &str, &str)] = &[
    (
        "malformed_json",
        400,
        "the body is not valid JSON",
        "请求体不是有效的 JSON",
    ),
    (
        "unreadable_body",
        400,
        "the body could not be read",
        "无法读取请求体",
    ),
    (
        "invalid_query",
        400,
        "a query parameter cannot be read or is out of range; `errors` names it",
        "查询参数无法读取或超出范围；errors 指明参数",
    ),
    (
        "invalid_path_parameter",
        400,
        "a path parameter is malformed (not a UUID); `errors` names it",
        "路径参数格式不正确（不是 UUID）；errors 指明参数",
    ),
    (
        "missing_token",
        401,
        "no `Authorization: Bearer` token",
        "缺少 Authorization: Bearer 访问令牌",
    ),
    (
        "invalid_token",
        401,
        "the token is not valid, or its principal no longer exists",
        "访问令牌无效，或其主体已不存在",
    ),
    (
        "token_expired",
        401,
        "the token has expired; get a new one",
        "访问令牌已过期，请重新获取",
    ),
    (
        "forbidden",
        403,
        "the caller's role or region does not allow this",
        "调用方的角色或辖区不允许此操作",
    ),
    (
        "conflict_of_interest",
        403,
        "you declared this person a relative; another member of your organisation must act",
        "您已申报此人为近亲属，请由本单位其他人员办理",
    ),
    (
        "not_found",
        404,
        "no such resource within the caller's reach",
        "在调用方可及范围内不存在该资源",
    ),
    ("route_not_found", 404, "no such path", "不存在该路径"),
    (
        "method_not_allowed",
        405,
        "the path exists with other methods (see `Allow`)",
        "该路径只支持其他方法（见 Allow）",
    ),
    (
        "duplicate",
        409,
        "a record with this value exists; `field` names it",
        "已存在相同值的记录；field 指明字段",
    ),
    (
        "duplicate_person",
        409,
        "this ID number is registered; `existing_id` when the caller may see the person",
        "该身份证号码已登记；调用方可见时给出 existing_id",
    ),
    (
        "already_registered",
        409,
        "the person is registered outside the caller's region; nothing more is said",
        "该人员已在调用方辖区以外登记；不提供其他信息",
    ),
    (
        "illegal_transition",
        409,
        "the current state does not allow this; `from` and `to` name the states",
        "当前状态不允许此操作；from 与 to 指明状态",
    ),
    (
        "concurrent_update",
        409,
        "another request changed the same record meanwhile; reload and retry",
        "另一请求已修改同一记录，请重新读取后重试",
    ),
    (
        "already_withdrawn",
        409,
        "the consent was already withdrawn",
        "该同意已撤回",
    ),
    (
        "project_closed",
        409,
        "the project is closed and no longer changed",
        "项目已结束，不再修改",
    ),
    (
        "project_not_open",
        409,
        "aid is recorded only in a published project",
        "仅能在已发布的项目中登记帮扶",
    ),
    (
        "no_places_left",
        409,
        "the project has no places left",
        "项目名额已满",
    ),
    (
        "budget_exceeded",
        409,
        "the project's budget does not cover this; `budget_left_fen` says what is left",
        "项目预算不足；budget_left_fen 为剩余预算",
    ),
    (
        "per_person_cap_exceeded",
        409,
        "this would give the person more than the project's per-person cap",
        "超出项目每人资助上限",
    ),
    (
        "insufficient_balance",
        409,
        "the fund's balance does not cover this expenditure",
        "基金余额不足以支付此项支出",
    ),
    (
        "already_reversed",
        409,
        "the ledger entry has already been reversed",
        "该账目已冲正",
    ),
    ("fund_closed", 409, "the fund is closed", "基金已终止"),
    (
        "already_paired",
        409,
        "the volunteer is already paired with the person",
        "该志愿者已与此人结对",
    ),
    ("pairing_ended", 409, "the pairing has ended", "结对已结束"),
    (
        "consent_withdrawn",
        409,
        "the person's consent for this purpose is no longer in force",
        "此人对该目的的同意已不再有效",
    ),
    (
        "already_taken",
        409,
        "another charity has taken this open referral",
        "该公开转介已被其他慈善组织接收",
    ),
    (
        "deadline_passed",
        409,
        "the response deadline has passed",
        "答复期限已过",
    ),
    (
        "precondition_failed",
        412,
        "the record changed since the version named in `If-Match`; reload",
        "记录在 If-Match 所指版本之后已被修改，请重新读取",
    ),
    (
        "payload_too_large",
        413,
        "the body is larger than the limit",
        "请求体超过限制",
    ),
    (
        "unsupported_media_type",
        415,
        "send the body as application/json",
        "请以 application/json 发送请求体",
    ),
    (
        "validation_failed",
        422,
        "fields break rules; `errors` lists each with a code",
        "字段违反规则；errors 逐一列出",
    ),
    (
        "consent_required",
        422,
        "no consent covers the recipient for this purpose; record one (or state the emergency basis)",
        "没有覆盖该接收方和用途的同意；请先登记同意（或说明紧急情形依据）",
    ),
    (
        "reference_not_found",
        422,
        "a referenced record does not exist",
        "引用的记录不存在",
    ),
    (
        "constraint_violated",
        422,
        "the data breaks a rule of the register",
        "数据违反登记规则",
    ),
    (
        "invalid_idempotency_key",
        400,
        "the `Idempotency-Key` header is empty, longer than 255 characters or not printable ASCII",
        "Idempotency-Key 请求头为空、超过 255 个字符或含非可打印 ASCII 字符",
    ),
    (
        "idempotency_key_reused",
        422,
        "this `Idempotency-Key` was used for a different request within 24 hours",
        "该 Idempotency-Key 在 24 小时内已用于另一个请求",
    ),
    (
        "subscription_limit",
        409,
        "the organisation already has the most active webhook subscriptions allowed (`limit`); delete one first",
        "本组织的有效 Webhook 订阅已达上限（limit），请先删除一个",
    ),
    (
        "request_in_progress",
        409,
        "the first request with this `Idempotency-Key` is still running; retry after `Retry-After`",
        "使用该 Idempotency-Key 的首个请求仍在处理，请稍后重试",
    ),
    (
        "already_ended",
        409,
        "the subscription has already ended",
        "该订阅已终止",
    ),
    (
        "already_pending",
        409,
        "the delivery is still waiting to be made",
        "该投递仍在等待发送",
    ),
    (
        "internal_error",
        500,
        "an unexpected error; logged with the request id, no internals shown",
        "发生意外错误，已连同请求编号记录日志，不显示内部信息",
    ),
    (
        "service_unavailable",
        503,
        "the database is unreachable; retry after `Retry-After` seconds",
        "数据库无法访问，请在 Retry-After 秒后重试",
    ),
];

/// The catalogue as Markdown, for the OpenAPI document.
pub fn code_catalogue() -> String {
    let mut s = String::from(
        "Stable error code; clients branch on this, not on `detail` (whose language follows \
         `Accept-Language`).\n\n| code | status | meaning |\n|---|---|---|\n",
    );
    for (code, status, meaning, _) in PROBLEM_CODES {
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

/// The problem document for an error, its messages in `lang` (codes and fields never change).
pub fn problem(e: &ApiError, lang: Lang) -> Problem {
    let status = status_of(e.kind);
    let errors: Vec<FieldError> = e
        .errors
        .iter()
        .map(|f| FieldError {
            message: i18n::field_message(f, lang),
            ..f.clone()
        })
        .collect();
    Problem {
        r#type: format!("urn:aidbridge:problem:{}", e.code),
        title: i18n::title(e.kind, status.canonical_reason().unwrap_or("Error"), lang),
        status: status.as_u16(),
        detail: i18n::detail(e.code, &e.detail, &errors, lang),
        code: e.code.to_owned(),
        errors,
        extra: e.extra.clone(),
    }
}

/// The problem+json answer for an error in `lang`.
pub fn problem_response(e: &ApiError, lang: Lang) -> HttpResponse {
    let status = status_of(e.kind);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
    res.insert_header((header::CONTENT_LANGUAGE, lang.tag()));
    if let Some(secs) = e.retry_after {
        res.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    res.body(serde_json::to_string(&problem(e, lang)).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.kind)
    }

    /// In the default language; `api::i18n::localize` answers in the request's.
    fn error_response(&self) -> HttpResponse {
        problem_response(self, Lang::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_carries_code_type_and_fields() {
        let e = ApiError::field("uscc", "check_character", "wrong");
        let p = problem(&e, Lang::En);
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
            .map(|(c, _, _, _)| c.to_string())
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
        for (code, status, _, _) in PROBLEM_CODES {
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
