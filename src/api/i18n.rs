//! Problem messages in Chinese (the default: the users are case workers in Heilongjiang) or
//! English, chosen by `Accept-Language`. Codes and field names never change with the language.
//!
//! The service layer writes English messages; Chinese comes from a table of the English
//! message templates (`{}` marks a value carried over), and where no template fits, from the
//! field's or problem's code, so every message has a Chinese form.

use actix_web::http::header::{HeaderMap, ACCEPT_LANGUAGE};

use crate::error::{FieldError, Kind, PROBLEM_CODES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub const DEFAULT: Lang = Lang::Zh;

    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The supported language the client ranks highest (RFC 9110 §12.5.4); Chinese when the
    /// header is absent or names neither.
    pub fn from_accept_language(value: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in value.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces
                .filter_map(|p| {
                    let p = p.trim();
                    p.get(..2)
                        .filter(|k| k.eq_ignore_ascii_case("q="))
                        .map(|_| &p[2..])
                })
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::DEFAULT, |(_, l)| l)
    }

    pub fn from_headers(headers: &HeaderMap) -> Lang {
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map_or(Lang::DEFAULT, Lang::from_accept_language)
    }
}

/// The problem's title: the status text in the chosen language.
pub fn title(kind: Kind, english: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return english.to_owned();
    }
    match kind {
        Kind::BadRequest => "请求无法读取",
        Kind::Unauthenticated => "未认证",
        Kind::Forbidden => "无权访问",
        Kind::NotFound => "未找到",
        Kind::MethodNotAllowed => "方法不允许",
        Kind::Conflict => "状态冲突",
        Kind::PreconditionFailed => "前提条件不满足",
        Kind::PayloadTooLarge => "请求体过大",
        Kind::UnsupportedMediaType => "媒体类型不支持",
        Kind::Invalid => "字段无效",
        Kind::TooManyRequests => "请求过多",
        Kind::Unavailable => "服务暂不可用",
        Kind::Internal => "服务器内部错误",
    }
    .to_owned()
}

/// English templates and their Chinese: `{}` in the English captures a value, `{0}`, `{1}` in
/// the Chinese puts it back.
const TEMPLATES: &[(&str, &str)] = &[
    // Validation rules (validator and the domain's checks).
    ("length must be between {} and {}", "长度须在 {0} 到 {1} 之间"),
    ("length must be at least {}", "长度至少为 {0}"),
    ("length must be at most {}", "长度至多为 {0}"),
    ("invalid length", "长度不正确"),
    ("must be between {} and {}", "须在 {0} 到 {1} 之间"),
    ("must be at least {}", "须不小于 {0}"),
    ("must be at most {}", "须不大于 {0}"),
    ("out of range", "超出范围"),
    ("invalid ({})", "无效（{0}）"),
    ("a mainland mobile number has 11 digits and starts with 13–19", "大陆手机号为 11 位数字，以 13–19 开头"),
    ("a resident ID number has 18 characters; got {}", "居民身份证号码应为 18 位，实际为 {0} 位"),
    ("17 digits followed by a digit or X", "前 17 位为数字，最后一位为数字或 X"),
    ("the first two digits are not a province code", "前两位不是省级行政区划代码"),
    ("characters 7–14 are not a real date of birth", "第 7–14 位不是真实的出生日期"),
    ("the date of birth is in the future", "出生日期晚于今天"),
    ("the check digit (last character) is wrong", "校验码（最后一位）错误"),
    ("this is a 15-digit first-generation ID number; enter the 18-digit number on the current card", "这是 15 位的第一代身份证号码，请填写现行身份证上的 18 位号码"),
    ("a unified social credit code has 18 characters; got {}", "统一社会信用代码应为 18 位，实际为 {0} 位"),
    ("character {} at position {} is not allowed (digits and A-Z without I, O, S, V, Z)", "第 {1} 位的字符 {0} 不允许（只能是数字和除 I、O、S、V、Z 外的大写字母）"),
    ("the organisation code's check character (position 17) is wrong", "组织机构代码的校验码（第 17 位）错误"),
    ("the check character is wrong (expected {})", "校验码错误（应为 {0}）"),
    ("a region code has 2, 4, 6, 9 or 12 digits (province, city, county, township, village); got {}", "行政区划代码应为 2、4、6、9 或 12 位（省、市、县、乡、村），实际为 {0} 位"),
    ("a region code has only digits", "行政区划代码只能包含数字"),
    ("a region code prefix has up to 12 digits", "行政区划代码前缀最多 12 位数字"),
    ("region code must be in Heilongjiang (start with {})", "行政区划代码须属于黑龙江省（以 {0} 开头）"),
    ("rigid_expenditure_hardship status lasts at most 12 months", "刚性支出困难家庭认定有效期最长 12 个月"),
    ("valid_to is before valid_from", "valid_to 早于 valid_from"),
    ("period_end is before period_start", "period_end 早于 period_start"),
    ("use lower-case letters, digits and _ . - (starting with a letter or digit)", "只能使用小写字母、数字和 _ . -（以字母或数字开头）"),
    ("a member of a {} cannot hold the role {}", "{0} 的成员不能担任 {1} 角色"),
    ("API clients cannot be administrators", "接入系统不能担任管理员"),
    ("auditor and admin are never combined with another role", "审计和管理员角色不能与其他角色兼任"),
    ("must lie within the organisation's region {}", "须在本组织的辖区 {0} 之内"),
    ("a {} needs its unified social credit code", "{0} 须填写统一社会信用代码"),
    ("only charities, charity federations and the Red Cross hold public-fundraising qualification", "只有慈善组织、慈善总会和红十字会可具有公开募捐资格"),
    ("name at least one purpose", "至少填写一个处理目的"),
    ("name the data categories the organisation may see", "请列明该组织可查看的数据类别"),
    ("give exactly one of organization_id or region_code (a separate consent per recipient)", "organization_id 与 region_code 须且只能填写一个（每个接收方单独取得同意）"),
    ("64 lower-case hex characters", "64 位小写十六进制字符"),
    ("consent cannot be given in the future", "同意时间不能晚于现在"),
    ("a region-wide consent shows charities a de-identified summary only; name an organisation to share data categories", "区域范围的同意只向慈善组织展示去标识化摘要；如需共享数据类别，请指定接收组织"),
    ("expires_at must be after given_at", "expires_at 须晚于 given_at"),
    ("name the guardian who gave consent", "请填写给予同意的监护人"),
    ("a guardian must be an adult", "监护人须为成年人"),
    ("a guardian is recorded only when given_by is guardian", "只有 given_by 为 guardian 时才记录监护人"),
    ("the person is under 14: consent must be given by a guardian (PIPL art. 31)", "该人员未满 14 周岁：须由监护人给予同意（《个人信息保护法》第三十一条）"),
    ("the recipient must be an active charity organisation", "接收方须为正常状态的慈善组织"),
    ("say why the full ID number and phone are needed", "请说明需要完整身份证号码和电话的理由"),
    ("contains a control character", "包含控制字符"),
    ("contains a NUL character", "包含空字符（NUL）"),
    ("must not be blank", "不能为空白"),
    ("must lie between the years {} and {}", "须在 {0} 年至 {1} 年之间"),
    ("a time is out of range", "时间超出范围"),
    ("pass back the next_cursor of the previous page", "请传入上一页返回的 next_cursor"),
    ("{} is not a UUID", "{0} 不是 UUID"),
    ("missing field `{}`", "缺少必填字段 {0}"),
    ("free text must not contain {}; record it in its own (encrypted) field", "自由文本不得包含{0}；请填写在专门的（加密）字段中"),
    ("name the purpose you read for; the consent must cover it", "请说明读取目的；须在同意范围之内"),
    // Problem details.
    ("{} fields are invalid", "{0} 个字段无效"),
    ("{} query parameters are invalid", "{0} 个查询参数无效"),
    ("query parameter {}: {}", "查询参数 {0}：{1}"),
    ("path parameter {} must be a UUID", "路径参数 {0} 须为 UUID"),
    ("the body is not valid JSON: {}", "请求体不是有效的 JSON：{0}"),
    ("the request body is larger than {} bytes", "请求体超过 {0} 字节"),
    ("the request body is too large", "请求体过大"),
    ("send the body as application/json", "请以 application/json 发送请求体"),
    ("send an access token: Authorization: Bearer <token>", "请提供访问令牌：Authorization: Bearer <token>"),
    ("the Authorization header must be 'Bearer <token>'", "Authorization 请求头须为 'Bearer <token>'"),
    ("the access token has expired", "访问令牌已过期"),
    ("send the metrics token: Authorization: Bearer <token>", "请提供监控指标令牌：Authorization: Bearer <token>"),
    ("the access token is not valid", "访问令牌无效"),
    ("the token's {} no longer exists", "令牌对应的{0}已不存在"),
    ("the caller's organisation no longer exists", "调用方所属的组织已不存在"),
    ("this needs one of the roles: {}", "需要以下角色之一：{0}"),
    ("this role has no access to people's records", "该角色无权访问困难群众信息"),
    ("region {} is outside your region {}", "区域 {0} 超出您的辖区 {1}"),
    ("auditors see masked identifiers only", "审计人员只能查看脱敏的证件信息"),
    ("only civil-affairs staff of the person's region may reveal identifiers", "只有该人员所在辖区的民政工作人员可以查看完整证件信息"),
    ("the directory lists active organisations only", "组织名录只列出正常状态的组织"),
    ("{} not found", "未找到{0}"),
    ("no route {}", "不存在路径 {0}"),
    ("{} is not allowed here; allowed: {}", "此路径不允许 {0}；允许：{1}"),
    ("a person with this ID number is already registered", "该身份证号码已登记"),
    ("this person is already registered outside your region; ask that region's bureau", "该人员已在您的辖区以外登记，请联系当地民政部门"),
    ("a record with this {} already exists", "已存在相同 {0} 的记录"),
    ("a record with these values already exists", "已存在相同的记录"),
    ("a referenced record does not exist", "引用的记录不存在"),
    ("the data breaks a rule of the register", "数据违反登记规则"),
    ("a need cannot go from {} to {}", "需求不能从 {0} 变为 {1}"),
    ("this consent was already withdrawn", "该同意已撤回"),
    ("another request changed the same data at the same time; retry", "另一请求同时修改了相同数据，请重试"),
    ("another request changed the same record meanwhile; reload and retry", "另一请求已修改该记录，请重新读取后重试"),
    ("the record changed since you read it; reload it and apply your change again", "记录在您读取后已被修改，请重新读取后再提交修改"),
    ("the database is not reachable right now", "数据库暂时无法访问"),
    ("too many sign-ins at once; try again in a few seconds", "同时登录的请求过多，请几秒后重试"),
    ("the database schema is not migrated", "数据库结构尚未迁移"),
    ("migrations pending: database at {}, this build needs {}", "数据库迁移未完成：数据库处于 {0}，本程序需要 {1}"),
    ("an unexpected error occurred; it has been logged", "发生意外错误，已记录日志"),
];

/// Names of things that `{} not found` and `the token's {}` put into a message.
const NOUNS: &[(&str, &str)] = &[
    ("person", "人员"),
    ("need", "需求"),
    ("organization", "组织"),
    ("organisation", "组织"),
    ("consent", "同意记录"),
    ("user", "用户"),
    ("client", "接入系统"),
    ("api client", "接入系统"),
    ("resource", "资源"),
    ("an ID number", "身份证号码"),
    ("a mobile number", "手机号码"),
];

/// Field codes' Chinese, for messages no template fits.
const FIELD_CODES: &[(&str, &str)] = &[
    ("required", "必填"),
    ("invalid", "类型或格式不正确"),
    ("length", "长度不正确"),
    ("range", "超出范围"),
    ("invalid_region_code", "行政区划代码无效"),
    ("invalid_uscc", "统一社会信用代码无效"),
    ("invalid_phone", "手机号码无效"),
    ("invalid_period", "有效期无效"),
    ("invalid_uuid", "不是有效的 UUID"),
    ("invalid_username", "用户名格式不正确"),
    ("invalid_sha256", "不是有效的 SHA-256 值"),
    ("invalid_cursor", "分页游标无效"),
    ("control_character", "包含控制字符"),
];

/// Fills `template`'s `{}` from `text`, or `None` when the text does not have its shape.
fn captures<'t>(template: &str, text: &'t str) -> Option<Vec<&'t str>> {
    let parts: Vec<&str> = template.split("{}").collect();
    let mut rest = text.strip_prefix(parts[0])?;
    let mut values = Vec::new();
    for (i, part) in parts.iter().enumerate().skip(1) {
        let last = i == parts.len() - 1;
        let at = if last {
            if part.is_empty() {
                rest.len()
            } else {
                rest.strip_suffix(part).map(str::len)?
            }
        } else {
            rest.find(part)?
        };
        values.push(&rest[..at]);
        rest = &rest[at + part.len()..];
    }
    (rest.is_empty() || parts.len() == 1 && text == parts[0]).then_some(values)
}

fn noun(value: &str) -> &str {
    NOUNS
        .iter()
        .find(|(en, _)| *en == value)
        .map_or(value, |(_, zh)| zh)
}

/// The Chinese of an English message, if a template fits.
pub fn to_chinese(english: &str) -> Option<String> {
    TEMPLATES.iter().find_map(|(en, zh)| {
        let values = captures(en, english)?;
        let mut out = (*zh).to_owned();
        for (i, v) in values.iter().enumerate() {
            // A value may itself be a message ("query parameter limit: must be at most 200").
            let v = to_chinese(v).unwrap_or_else(|| noun(v).to_owned());
            out = out.replace(&format!("{{{i}}}"), &v);
        }
        Some(out)
    })
}

/// A field error's message in the chosen language.
pub fn field_message(e: &FieldError, lang: Lang) -> String {
    if lang == Lang::En {
        return e.message.clone();
    }
    to_chinese(&e.message).unwrap_or_else(|| match FIELD_CODES.iter().find(|(c, _)| *c == e.code) {
        Some((_, zh)) => format!("{zh}（{}）", e.message),
        None => format!("无效（{}）", e.message),
    })
}

/// A problem's detail in the chosen language; `errors` are the already translated field errors.
pub fn detail(code: &str, english: &str, errors: &[FieldError], lang: Lang) -> String {
    if lang == Lang::En {
        return english.to_owned();
    }
    if code == "validation_failed" {
        return match errors {
            [one] => format!("{}：{}", one.field, one.message),
            many => format!("{} 个字段无效", many.len()),
        };
    }
    if let [one] = errors {
        if english.starts_with(&format!("{}: ", one.field)) {
            return format!("{}：{}", one.field, one.message);
        }
    }
    to_chinese(english).unwrap_or_else(|| {
        PROBLEM_CODES
            .iter()
            .find(|(c, _, _, _)| *c == code)
            .map_or_else(|| english.to_owned(), |(_, _, _, zh)| (*zh).to_owned())
    })
}

/// Answers an error in the request's language: errors are rendered in the default language
/// when raised, and rendered again here when the client prefers another. Headers the handler
/// added (`Allow` on a 405) are kept.
pub fn localize(
    res: actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
    lang: Lang,
) -> actix_web::dev::ServiceResponse<actix_web::body::BoxBody> {
    if lang == Lang::DEFAULT {
        return res;
    }
    let Some(err) = res
        .response()
        .error()
        .and_then(|e| e.as_error::<crate::error::ApiError>())
    else {
        return res;
    };
    let mut again = crate::error::problem_response(err, lang);
    for (name, value) in res.headers() {
        if !again.headers().contains_key(name) {
            again.headers_mut().insert(name.clone(), value.clone());
        }
    }
    res.into_response(again)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.5, zh-TW;q=0.8"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("fr, en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr, de"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en;q=0"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en;Q=0.8, zh;q=0.9"), Lang::Zh);
    }

    #[test]
    fn templates_carry_the_values_over() {
        assert_eq!(
            to_chinese("region 2302 is outside your region 2301").as_deref(),
            Some("区域 2302 超出您的辖区 2301")
        );
        assert_eq!(
            to_chinese("length must be between 1 and 100").as_deref(),
            Some("长度须在 1 到 100 之间")
        );
        assert_eq!(
            to_chinese("person not found").as_deref(),
            Some("未找到人员")
        );
        assert_eq!(
            to_chinese("a need cannot go from met to open").as_deref(),
            Some("需求不能从 met 变为 open")
        );
        assert_eq!(to_chinese("something nobody wrote"), None);
        assert_eq!(
            to_chinese("query parameter limit: must be between 1 and 200").as_deref(),
            Some("查询参数 limit：须在 1 到 200 之间")
        );
    }

    #[test]
    fn every_template_is_distinct_and_fills_all_its_values() {
        for (i, (en, zh)) in TEMPLATES.iter().enumerate() {
            let n = en.matches("{}").count();
            for k in 0..n {
                assert!(zh.contains(&format!("{{{k}}}")), "{en} loses value {k}");
            }
            assert!(
                TEMPLATES[..i].iter().all(|(other, _)| other != en),
                "{en} twice"
            );
        }
    }

    #[test]
    fn a_message_no_template_fits_is_explained_by_its_code() {
        let e = FieldError::new("limit", "invalid", "invalid digit found in string");
        assert_eq!(
            field_message(&e, Lang::Zh),
            "类型或格式不正确（invalid digit found in string）"
        );
        assert_eq!(field_message(&e, Lang::En), "invalid digit found in string");
    }
}
