//! Authorisation sweep: every operation of the document, called on records owned by the demo
//! organisations by each organisation and role not entitled to them, answers 403 or 404 and
//! shows none of their data; a list may answer 200, with the caller's own records only. The
//! table has one row per operation, so an operation added without a row fails
//! `every_operation_of_the_document_has_a_row`.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::contract::{fill, fixtures, Fixtures};
use crate::helpers::{resident_id, spawn_app, TestApp, ADULT_ID, ADULT_PHONE, DEMO_PASSWORD};
use Rule::{AnySignedIn, List, Only, Public};

// The callers: the demo logins, plus a bureau of another Harbin district, a bureau of another
// city, a charity outside the federation and the education charity's volunteer.
const ADMIN: &str = "admin";
const PROVINCE: &str = "province.ca";
const HARBIN: &str = "harbin.ca";
const DAOLI: &str = "daoli.ca";
const NANGANG: &str = "nangang.ca";
const QIQIHAR: &str = "qiqihar.ca";
const FEDERATION: &str = "federation";
const EDU: &str = "charity.edu";
const CARE: &str = "charity.care";
const OUTSIDER: &str = "qiqihar.charity";
const GRID: &str = "grid.worker";
const VOLUNTEER: &str = "vol.contract";
const AUDITOR: &str = "auditor";

const CALLERS: &[&str] = &[
    ADMIN, PROVINCE, HARBIN, DAOLI, NANGANG, QIQIHAR, FEDERATION, EDU, CARE, OUTSIDER, GRID,
    VOLUNTEER, AUDITOR,
];

/// Bureaus whose region covers the people of the fixtures (道里区 230102 and its parents).
const REGION: &[&str] = &[DAOLI, HARBIN, PROVINCE];
const REGION_AND_AUDITOR: &[&str] = &[DAOLI, HARBIN, PROVINCE, AUDITOR];
const BUREAUS: &[&str] = &[DAOLI, HARBIN, PROVINCE, NANGANG, QIQIHAR];
const CHARITIES: &[&str] = &[FEDERATION, EDU, CARE, OUTSIDER];
/// Everyone with a use for the organisation directory (grassroots workers have none).
const DIRECTORY: &[&str] = &[
    ADMIN, AUDITOR, PROVINCE, HARBIN, DAOLI, NANGANG, QIQIHAR, FEDERATION, EDU, CARE, OUTSIDER,
];

/// Who may do an operation to the fixture it is called on.
enum Rule {
    /// No token needed (sign-in, probes, the public pages): not swept.
    Public(&'static str),
    /// Any signed-in caller, by design (public records, self-service): only the token is checked.
    AnySignedIn(&'static str),
    /// Only these callers; every other gets 403 or 404 and none of the fixtures' data.
    Only(&'static [&'static str]),
    /// A list: any caller may get its own records, but only these see the fixture's.
    List(&'static [&'static str], Marks),
}

/// The fixture records a list row looks for.
#[derive(Clone, Copy)]
enum Marks {
    AidRecord,
    /// The published project, whose first progress statement is due.
    DueProject,
    /// The person's and the need's events.
    RegionEvents,
    Report,
    Fund,
    Import,
    Lead,
    /// harbin.ca's own account.
    Me,
    Relation,
    Needs,
    Pairings,
    People,
    Draft,
    CareReferrals,
    Webhook,
}

struct Row {
    method: &'static str,
    path: &'static str,
    /// Added to every call: a purpose, a region, a scope.
    query: &'static str,
    rule: Rule,
}

const fn row(method: &'static str, path: &'static str, rule: Rule) -> Row {
    Row {
        method,
        path,
        query: "",
        rule,
    }
}

const fn row_q(method: &'static str, path: &'static str, query: &'static str, rule: Rule) -> Row {
    Row {
        method,
        path,
        query,
        rule,
    }
}

/// One row per operation of `openapi/openapi.json`. The fixtures: a person, needs, consents and
/// referrals of 道里区民政局 (to 关爱服务中心, one to the federation), a lead of its grid worker,
/// projects, a fund, pairings, aid and a report of 助学基金会, a webhook of 关爱服务中心, an
/// import of 道里区, harbin.ca's declared relative, and 哈尔滨市民政局 with its users and client.
// One row a line reads as the table it is.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    row("GET", "/.well-known/jwks.json", Public("token verification keys")),
    row("GET", "/.well-known/oauth-authorization-server", Public("server metadata")),
    row("GET", "/healthz", Public("liveness probe")),
    row("GET", "/readyz", Public("readiness probe")),
    row("GET", "/metrics", Public("aggregate counters; its own token when configured")),
    row("POST", "/api/v1/auth/token", Public("sign-in")),
    row("POST", "/api/v1/auth/revoke", Public("RFC 7009: 200 for any token")),
    row("GET", "/api/v1/public/organizations/{id}", Public("public record")),
    row("GET", "/api/v1/public/projects", Public("published projects")),
    row("GET", "/api/v1/public/projects/{id}", Public("published projects")),
    row("GET", "/api/v1/public/stats", Public("aggregate totals")),
    // Organisations, users and clients of 哈尔滨市民政局.
    row("GET", "/api/v1/organizations", Only(DIRECTORY)),
    row("POST", "/api/v1/organizations", Only(&[ADMIN])),
    row("GET", "/api/v1/organizations/{id}", Only(&[
        ADMIN, AUDITOR, PROVINCE, HARBIN, DAOLI, NANGANG, QIQIHAR, FEDERATION, EDU, CARE,
        OUTSIDER,
    ])),
    row("PATCH", "/api/v1/organizations/{id}", Only(&[ADMIN])),
    row("GET", "/api/v1/organizations/{id}/clients", Only(&[ADMIN, AUDITOR])),
    row("POST", "/api/v1/organizations/{id}/clients", Only(&[ADMIN])),
    row("PATCH", "/api/v1/organizations/{id}/clients/{client_id}", Only(&[ADMIN])),
    row("GET", "/api/v1/organizations/{id}/users", Only(&[ADMIN, AUDITOR])),
    row("POST", "/api/v1/organizations/{id}/users", Only(&[ADMIN])),
    row("PATCH", "/api/v1/organizations/{id}/users/{user_id}", Only(&[ADMIN])),
    row("GET", "/api/v1/organizations/{id}/relations", Only(&[AUDITOR])),
    // The caller itself.
    row("GET", "/api/v1/me", List(&[HARBIN], Marks::Me)),
    row("GET", "/api/v1/me/relations", List(&[HARBIN], Marks::Relation)),
    row("POST", "/api/v1/me/relations", AnySignedIn("each user declares their own relatives")),
    row("DELETE", "/api/v1/me/relations/{id}", Only(&[HARBIN])),
    // People of 道里区.
    row("GET", "/api/v1/persons", List(REGION_AND_AUDITOR, Marks::People)),
    row("POST", "/api/v1/persons", Only(REGION)),
    row("POST", "/api/v1/persons/lookup", Only(REGION)),
    // A charity reads for a purpose: the care centre and the federation have open referrals;
    // 助学基金会 holds a referral consent without one, which shows it the masked summary.
    row_q("GET", "/api/v1/persons/{id}", "?purpose=referral", Only(&[
        DAOLI, HARBIN, PROVINCE, AUDITOR, CARE, FEDERATION, EDU,
    ])),
    row("PATCH", "/api/v1/persons/{id}", Only(REGION)),
    // No consent names `aid_history`.
    row_q("GET", "/api/v1/persons/{id}/aid-history", "?purpose=referral", Only(REGION_AND_AUDITOR)),
    row("GET", "/api/v1/persons/{id}/consents", Only(REGION_AND_AUDITOR)),
    row("POST", "/api/v1/persons/{id}/consents", Only(REGION)),
    row_q("GET", "/api/v1/persons/{id}/government-aid", "?purpose=referral",
          Only(REGION_AND_AUDITOR)),
    row("POST", "/api/v1/persons/{id}/government-aid", Only(REGION)),
    row("POST", "/api/v1/persons/{id}/reveal", Only(REGION)),
    row("POST", "/api/v1/consents/{id}/withdraw", Only(REGION)),
    row("GET", "/api/v1/needs", List(REGION_AND_AUDITOR, Marks::Needs)),
    row("POST", "/api/v1/needs", Only(REGION)),
    row("GET", "/api/v1/needs/{id}", Only(REGION_AND_AUDITOR)),
    row("PATCH", "/api/v1/needs/{id}", Only(REGION)),
    row("GET", "/api/v1/needs/{id}/matches", Only(REGION)),
    // Each bureau imports for itself (rows outside its region are refused row by row).
    row("GET", "/api/v1/imports", List(&[DAOLI], Marks::Import)),
    row("POST", "/api/v1/imports/persons", Only(BUREAUS)),
    row("GET", "/api/v1/imports/{id}", Only(&[DAOLI])),
    // Referrals of 道里区 to the care centre (and one to the federation, to forward).
    row("GET", "/api/v1/referrals", List(&[DAOLI, CARE], Marks::CareReferrals)),
    row("POST", "/api/v1/referrals", Only(REGION)),
    row("GET", "/api/v1/referrals/{id}", Only(&[DAOLI, CARE, AUDITOR])),
    row("POST", "/api/v1/referrals/{id}/accept", Only(&[CARE])),
    row("POST", "/api/v1/referrals/{id}/decline", Only(&[CARE])),
    row("POST", "/api/v1/referrals/{id}/start", Only(&[CARE])),
    row("POST", "/api/v1/referrals/{id}/complete", Only(&[CARE])),
    row("POST", "/api/v1/referrals/{id}/cancel", Only(&[DAOLI])),
    row("POST", "/api/v1/referrals/{id}/forward", Only(&[FEDERATION])),
    row("GET", "/api/v1/referrals/{id}/history", Only(&[DAOLI, CARE, AUDITOR])),
    row("GET", "/api/v1/referrals/{id}/notes", Only(&[DAOLI, CARE, AUDITOR])),
    row("POST", "/api/v1/referrals/{id}/notes", Only(&[DAOLI, CARE])),
    // The grid worker's lead in 道里区.
    row("GET", "/api/v1/leads", List(&[DAOLI, HARBIN, PROVINCE, GRID, AUDITOR], Marks::Lead)),
    row("POST", "/api/v1/leads", Only(&[FEDERATION, EDU, CARE, OUTSIDER, GRID, VOLUNTEER])),
    row("GET", "/api/v1/leads/{id}", Only(&[DAOLI, HARBIN, PROVINCE, GRID, AUDITOR])),
    row("POST", "/api/v1/leads/{id}/acknowledge", Only(REGION)),
    row("POST", "/api/v1/leads/{id}/assess", Only(REGION)),
    row("POST", "/api/v1/leads/{id}/close", Only(REGION)),
    row("POST", "/api/v1/leads/{id}/reveal", Only(REGION)),
    // Projects of 助学基金会 (a member of the federation): a draft, and a published one for
    // matches and statements.
    row_q("GET", "/api/v1/projects", "?scope=members", List(&[FEDERATION], Marks::Draft)),
    row("POST", "/api/v1/projects", Only(CHARITIES)),
    row("GET", "/api/v1/projects/{id}", Only(&[EDU, FEDERATION])),
    row("PATCH", "/api/v1/projects/{id}", Only(&[EDU])),
    row("POST", "/api/v1/projects/{id}/publish", Only(&[EDU])),
    row("POST", "/api/v1/projects/{id}/close", Only(&[EDU])),
    row("GET", "/api/v1/projects/{id}/versions", Only(&[EDU, FEDERATION])),
    row("GET", "/api/v1/projects/{id}/matches", Only(&[EDU])),
    row("GET", "/api/v1/projects/{id}/disclosures",
        AnySignedIn("a published project's statements")),
    row("POST", "/api/v1/projects/{id}/disclosures", Only(&[EDU])),
    row("GET", "/api/v1/disclosures/due",
        List(&[EDU, HARBIN, PROVINCE, AUDITOR], Marks::DueProject)),
    // The fund of 助学基金会.
    // By default the caller's own organisation's funds (its volunteer is one of it).
    row("GET", "/api/v1/funds", List(&[EDU, VOLUNTEER], Marks::Fund)),
    row("POST", "/api/v1/funds", Only(CHARITIES)),
    row("GET", "/api/v1/funds/{id}", AnySignedIn("funds and balances are public")),
    row("GET", "/api/v1/funds/{id}/disclosures", AnySignedIn("a fund's statements are public")),
    row("POST", "/api/v1/funds/{id}/disclosures", Only(&[EDU])),
    row("GET", "/api/v1/funds/{id}/entries", Only(&[
        EDU, DAOLI, HARBIN, PROVINCE, NANGANG, QIQIHAR, AUDITOR,
    ])),
    row("POST", "/api/v1/funds/{id}/entries", Only(&[EDU])),
    // Aid given by 助学基金会 to the person, alone and in a report.
    row("GET", "/api/v1/aid-records",
        List(&[EDU, DAOLI, HARBIN, PROVINCE, AUDITOR], Marks::AidRecord)),
    row("POST", "/api/v1/aid-records", Only(&[EDU])),
    row("GET", "/api/v1/feedback-reports", List(&[EDU, HARBIN, PROVINCE, AUDITOR], Marks::Report)),
    row("POST", "/api/v1/feedback-reports", Only(&[EDU])),
    row("GET", "/api/v1/feedback-reports/{id}", Only(&[EDU, HARBIN, PROVINCE, AUDITOR])),
    // The volunteer's pairings with people who consented to follow-up by 助学基金会.
    row("GET", "/api/v1/pairings", List(&[EDU, VOLUNTEER], Marks::Pairings)),
    row("POST", "/api/v1/pairings", Only(&[EDU])),
    row("GET", "/api/v1/pairings/{id}", Only(&[EDU, VOLUNTEER])),
    row("POST", "/api/v1/pairings/{id}/end", Only(&[EDU])),
    row("GET", "/api/v1/pairings/{id}/visits", Only(&[EDU, VOLUNTEER])),
    row("POST", "/api/v1/pairings/{id}/visits", Only(&[VOLUNTEER])),
    // Figures of 道里区: other bureaus may not ask for a region outside their own.
    row_q("GET", "/api/v1/stats/aid", "?region=230102", Only(REGION_AND_AUDITOR)),
    row_q("GET", "/api/v1/stats/coverage", "?region=230102", Only(REGION_AND_AUDITOR)),
    row_q("GET", "/api/v1/stats/referrals", "?region=230102", Only(REGION_AND_AUDITOR)),
    row_q("GET", "/api/v1/supervision/duplicate-aid", "?region=230102", Only(REGION_AND_AUDITOR)),
    row_q("GET", "/api/v1/supervision/overdue", "?region=230102", Only(REGION_AND_AUDITOR)),
    row_q("GET", "/api/v1/events", "?limit=1000", List(REGION_AND_AUDITOR, Marks::RegionEvents)),
    // The care centre's subscription.
    row("GET", "/api/v1/webhooks", List(&[CARE], Marks::Webhook)),
    row("POST", "/api/v1/webhooks", Only(&[
        DAOLI, HARBIN, PROVINCE, NANGANG, QIQIHAR, FEDERATION, EDU, CARE, OUTSIDER, AUDITOR,
    ])),
    row("GET", "/api/v1/webhooks/{id}", Only(&[CARE])),
    row("DELETE", "/api/v1/webhooks/{id}", Only(&[CARE])),
    row("GET", "/api/v1/webhooks/{id}/deliveries", Only(&[CARE])),
    row("POST", "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", Only(&[CARE])),
    // Supervision.
    row("GET", "/api/v1/audit-events", Only(&[AUDITOR])),
    row("GET", "/api/v1/audit-events/checkpoints", Only(&[AUDITOR])),
    row("GET", "/api/v1/audit-events/verify", Only(&[AUDITOR])),
];

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("read openapi/openapi.json");
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

/// Every (method, path) of the document.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|m| ["get", "put", "post", "patch", "delete"].contains(&m.as_str()))
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn every_operation_of_the_document_has_a_row() {
    let ops = operations(&spec());
    let mut rows = BTreeSet::new();
    let mut repeated = Vec::new();
    for r in TABLE {
        if let Rule::Public(why) | Rule::AnySignedIn(why) = r.rule {
            assert!(
                !why.is_empty(),
                "{} {}: say why it is not swept",
                r.method,
                r.path
            );
        }
        if !rows.insert((r.method.to_owned(), r.path.to_owned())) {
            repeated.push(format!("{} {}", r.method, r.path));
        }
    }
    let missing: Vec<String> = ops
        .difference(&rows)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    let stale: Vec<String> = rows
        .difference(&ops)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty() && repeated.is_empty(),
        "the sweep's table must have exactly one row per operation of openapi/openapi.json\n\
         operations without a row (say who may call them): {missing:#?}\n\
         rows for no operation: {stale:#?}\nrepeated rows: {repeated:#?}"
    );
}

/// The contract test's fixtures and the records it does not make.
struct Sweep {
    f: Fixtures,
    webhook: String,
    delivery: String,
    import: String,
    aid_record: String,
    report: String,
    relation: String,
    /// harbin.ca's user id.
    harbin_user: String,
}

const CSV_HEADER: &str = "external_id,name,id_number,phone,region_code,tier,relapse_monitoring,\
                          certifying_region,valid_from,valid_to\n";

/// The person the import brings in (a name no other fixture has).
const IMPORTED_NAME: &str = "赵六";

fn imported_id() -> String {
    resident_id("23010219700101001")
}

fn id_of(v: &Value, what: &str) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} has an id: {v}"))
        .to_owned()
}

/// Asserts 201 and returns the created record.
async fn created(res: reqwest::Response, what: &str) -> Value {
    let status = res.status();
    let text = res.text().await.expect("a readable body");
    assert_eq!(status, 201, "create {what}: {text}");
    serde_json::from_str(&text).expect("a JSON body")
}

/// An organisation with one user (the demo password), as the administrator makes them.
async fn org_with_user(app: &TestApp, admin: &str, org: Value, username: &str, role: &str) {
    let res = app.post("/api/v1/organizations", Some(admin), &org).await;
    let org = id_of(&created(res, "organisation").await, "organisation");
    let res = app
        .post(
            &format!("/api/v1/organizations/{org}/users"),
            Some(admin),
            &json!({"username": username, "display_name": username, "password": DEMO_PASSWORD,
                    "roles": [role]}),
        )
        .await;
    created(res, username).await;
}

fn uscc(first16: &str) -> String {
    aidbridge::domain::uscc::Uscc::complete(first16).expect("a valid USCC stem")
}

async fn sweep_fixtures(app: &TestApp, spec: &Value) -> (Sweep, BTreeMap<&'static str, String>) {
    let admin = app.token(ADMIN).await;
    let harbin_org = app.org_id("哈尔滨市民政局").await;
    org_with_user(
        app,
        &admin,
        json!({"kind": "civil_affairs_bureau", "name": "哈尔滨市南岗区民政局",
               "uscc": uscc("11230103MB000010"), "region_code": "230103", "parent_id": harbin_org}),
        NANGANG,
        "civil_affairs",
    )
    .await;
    org_with_user(
        app,
        &admin,
        json!({"kind": "charity", "name": "齐齐哈尔市扶贫慈善基金会",
               "uscc": uscc("53230200MJ000011"), "region_code": "230200"}),
        OUTSIDER,
        "charity",
    )
    .await;
    let qiqihar = app.qiqihar_token().await;

    // Subscribed before the fixtures, so that their referral events are delivered to it.
    let care = app.token(CARE).await;
    let (url, _inbox) = crate::webhooks::receiver(0);
    let res = app
        .post(
            "/api/v1/webhooks",
            Some(&care),
            &json!({"url": url, "event_types": ["referral.*"]}),
        )
        .await;
    let webhook = id_of(&created(res, "webhook").await, "webhook");

    let f = fixtures(app).await;

    let daoli = app.token(DAOLI).await;
    let csv = format!(
        "{CSV_HEADER}SWEEP-1,{IMPORTED_NAME},{},,230102001,,false,,,\n",
        imported_id()
    );
    let res = app
        .client
        .post(app.url("/api/v1/imports/persons"))
        .bearer_auth(&daoli)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv)
        .send()
        .await
        .expect("the server answers");
    let import = id_of(&created(res, "import").await, "import");

    let edu = app.token(EDU).await;
    let example = |path| match body_for(spec, "POST", path, &f) {
        Body::Json(b) => b,
        _ => panic!("POST {path} takes JSON"),
    };
    let (record, report_body) = (
        example("/api/v1/aid-records"),
        example("/api/v1/feedback-reports"),
    );
    let res = app.post("/api/v1/aid-records", Some(&edu), &record).await;
    let aid_record = id_of(&created(res, "aid record").await, "aid record");
    let res = app
        .post("/api/v1/feedback-reports", Some(&edu), &report_body)
        .await;
    let report = id_of(&created(res, "feedback report").await, "feedback report");

    let harbin = app.token(HARBIN).await;
    let res = app
        .post(
            "/api/v1/me/relations",
            Some(&harbin),
            &json!({"id_number": "11010519491231002X", "relation": "sibling"}),
        )
        .await;
    let relation = id_of(&created(res, "relation").await, "relation");
    let me: Value = app
        .get("/api/v1/me", Some(&harbin))
        .await
        .json()
        .await
        .expect("GET /me answers JSON");
    let harbin_user = id_of(&me, "harbin.ca");

    // Deliver the referral events, so the subscription has a delivery to ask again for.
    let ctx = app.service_context();
    aidbridge::service::events::relay(&ctx)
        .await
        .expect("number the events");
    aidbridge::service::webhooks::send_due(&ctx)
        .await
        .expect("deliver the events");
    let log: Value = app
        .get(
            &format!("/api/v1/webhooks/{webhook}/deliveries"),
            Some(&care),
        )
        .await
        .json()
        .await
        .expect("the delivery log is JSON");
    let delivery = log["items"]
        .as_array()
        .and_then(|items| items.iter().find(|d| d["status"] == "delivered"))
        .map(|d| id_of(d, "delivery"))
        .unwrap_or_else(|| panic!("a delivered delivery in {log}"));

    let mut tokens = BTreeMap::new();
    for caller in CALLERS {
        let token = match *caller {
            QIQIHAR => qiqihar.clone(),
            c => app.token(c).await,
        };
        tokens.insert(*caller, token);
    }
    let sweep = Sweep {
        f,
        webhook,
        delivery,
        import,
        aid_record,
        report,
        relation,
        harbin_user,
    };
    (sweep, tokens)
}

/// The path with the fixture's ids in it.
fn target(path: &str, s: &Sweep) -> String {
    let with = |id: &str| path.replace("{id}", id);
    if path.starts_with("/api/v1/webhooks/") {
        with(&s.webhook).replace("{delivery_id}", &s.delivery)
    } else if path.starts_with("/api/v1/imports/") {
        with(&s.import)
    } else if path.starts_with("/api/v1/feedback-reports/") {
        with(&s.report)
    } else if path.starts_with("/api/v1/me/relations/") {
        with(&s.relation)
    } else if path == "/api/v1/projects/{id}/matches" {
        // A draft has no matches for anyone: the published project is asked.
        with(&s.f.published_project)
    } else {
        fill(path, &s.f, "real")
    }
}

enum Body {
    None,
    Json(Value),
    Csv(String),
}

impl Body {
    fn text(&self) -> String {
        match self {
            Body::None => String::new(),
            Body::Json(v) => v.to_string(),
            Body::Csv(s) => s.clone(),
        }
    }
}

/// A body the operation would accept from an entitled caller (the document's example pointed at
/// the fixtures), so that a refusal is the authorisation's and not validation's.
fn body_for(spec: &Value, method: &str, path: &str, f: &Fixtures) -> Body {
    let op = &spec["paths"][path][method.to_lowercase()];
    let Some(content) = op.pointer("/requestBody/content") else {
        return Body::None;
    };
    let Some(schema_ref) = content
        .pointer("/application~1json/schema/$ref")
        .and_then(Value::as_str)
    else {
        if content.get("text/csv").is_some() {
            return Body::Csv(format!(
                "{CSV_HEADER}SWEEP-2,孙七,{},,230102001,,false,,,\n",
                resident_id("23010219710202002")
            ));
        }
        // Forms (sign-in) are public rows, never swept.
        return Body::Json(json!({}));
    };
    let name = schema_ref.rsplit('/').next().unwrap_or_default();
    let mut b = spec["components"]["schemas"][name]["example"].clone();
    if !b.is_object() {
        return Body::Json(json!({}));
    }
    if b.get("person_id").is_some() {
        b["person_id"] = json!(f.person);
    }
    if b.get("project_id").is_some() {
        b["project_id"] = json!(f.published_project);
    }
    match path {
        "/api/v1/referrals/{id}/forward" => b["organization_id"] = json!(f.care),
        "/api/v1/referrals" => {
            b["need_ids"] = json!([f.open_need]);
            b["target"] = json!({"organization_id": f.care});
        }
        "/api/v1/pairings" => {
            b["person_id"] = json!(f.unpaired);
            b["volunteer_id"] = json!(f.volunteer);
        }
        _ => {}
    }
    if let Some(records) = b.get_mut("records").and_then(Value::as_array_mut) {
        for r in records {
            r["person_id"] = json!(f.person);
            r["project_id"] = json!(f.published_project);
        }
    }
    Body::Json(b)
}

/// What a list row's fixture looks like in an answer.
fn marks(m: Marks, s: &Sweep) -> Vec<String> {
    let f = &s.f;
    match m {
        Marks::AidRecord => vec![s.aid_record.clone()],
        Marks::DueProject => vec![f.published_project.clone()],
        Marks::RegionEvents => vec![f.person.clone(), f.need.clone()],
        Marks::Report => vec![s.report.clone()],
        Marks::Fund => vec![f.fund.clone()],
        Marks::Import => vec![s.import.clone()],
        Marks::Lead => vec![f.lead.clone()],
        Marks::Me => vec![s.harbin_user.clone()],
        Marks::Relation => vec![s.relation.clone()],
        Marks::Needs => vec![f.need.clone(), f.open_need.clone()],
        Marks::Pairings => vec![f.pairing.clone(), f.pairing_to_end.clone()],
        Marks::People => vec![
            f.person.clone(),
            f.unpaired.clone(),
            "张三".to_owned(),
            IMPORTED_NAME.to_owned(),
        ],
        Marks::Draft => vec![f.project.clone()],
        Marks::CareReferrals => f.referrals.to_vec(),
        Marks::Webhook => vec![s.webhook.clone()],
    }
}

/// Everything that identifies a fixture: no refusal may carry any of it.
fn every_mark(s: &Sweep) -> Vec<String> {
    let f = &s.f;
    let mut all: Vec<String> = [
        Marks::AidRecord,
        Marks::Report,
        Marks::Fund,
        Marks::Import,
        Marks::Lead,
        Marks::Me,
        Marks::Relation,
        Marks::Needs,
        Marks::Pairings,
        Marks::People,
        Marks::Draft,
        Marks::CareReferrals,
        Marks::Webhook,
    ]
    .into_iter()
    .flat_map(|m| marks(m, s))
    .collect();
    all.extend([
        ADULT_ID.to_owned(),
        aidbridge::domain::resident_id::mask(ADULT_ID),
        ADULT_PHONE.to_owned(),
        aidbridge::domain::phone::mask(ADULT_PHONE),
        imported_id(),
        f.consent.clone(),
        f.client.clone(),
        f.user.clone(),
        f.to_federation.clone(),
        f.volunteer.clone(),
        s.delivery.clone(),
    ]);
    all
}

async fn send(
    app: &TestApp,
    method: &Method,
    url: &str,
    token: Option<&str>,
    body: &Body,
) -> (u16, String) {
    let mut req = app.client.request(method.clone(), app.url(url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Csv(s) => req
            .header("content-type", "text/csv; charset=utf-8")
            .body(s.clone()),
    };
    let res = req.send().await.expect("the server answers");
    let status = res.status().as_u16();
    (status, res.text().await.expect("a readable body"))
}

/// Error codes that say a record named in the body is not one the caller may use: the API
/// refuses such references as field errors (422), where a record in the path would be a 404.
const REFERENCE_CODES: &[&str] = &["not_found", "not_a_volunteer"];

/// The (field, code) pairs of a validation problem.
fn field_errors(text: &str) -> Vec<(String, String)> {
    let p: Value = serde_json::from_str(text).unwrap_or_default();
    p["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("field"), text("code"))
        })
        .collect()
}

/// Whether a 422 refuses only references to records in the body, and says exactly what it says
/// when those records do not exist at all: then it tells no more than a 404 would.
async fn refused_as_reference(
    app: &TestApp,
    method: &Method,
    url: &str,
    token: Option<&str>,
    body: &Body,
    text: &str,
) -> bool {
    let errors = field_errors(text);
    let Body::Json(sent) = body else {
        return false;
    };
    if errors.is_empty()
        || !errors
            .iter()
            .all(|(_, c)| REFERENCE_CODES.contains(&c.as_str()))
    {
        return false;
    }
    // `records[0].project_id` -> `/records/0/project_id`.
    let mut other = sent.to_string();
    for (field, _) in &errors {
        let pointer = format!("/{}", field.replace(['.', '['], "/").replace(']', ""));
        let Some(id) = sent.pointer(&pointer).and_then(Value::as_str) else {
            return false;
        };
        other = other.replace(id, &uuid::Uuid::new_v4().to_string());
    }
    let other: Value = serde_json::from_str(&other).expect("still JSON");
    let (status, again) = send(app, method, url, token, &Body::Json(other)).await;
    status == 422 && field_errors(&again) == errors
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

#[tokio::test]
async fn no_caller_reaches_records_it_is_not_entitled_to() {
    let spec = spec();
    let app = spawn_app().await;
    let (s, tokens) = sweep_fixtures(&app, &spec).await;
    let every = every_mark(&s);
    // Leaks and wrong answers to refused callers: the test's purpose.
    let mut leaks = Vec::new();
    // Entitled callers refused: a wrong row or fixture, which would make the sweep vacuous.
    let mut unreached = Vec::new();
    let mut calls = 0;
    let mut swept = 0;
    // Operations that refused a record named in the body as a field error.
    let mut by_reference = BTreeSet::new();
    for r in TABLE {
        if let Rule::Public(_) = r.rule {
            continue;
        }
        swept += 1;
        let method = Method::from_bytes(r.method.as_bytes()).expect("an HTTP method");
        let url = format!("{}{}", target(r.path, &s), r.query);
        let body = body_for(&spec, r.method, r.path, &s.f);
        let sent = format!("{url} {}", body.text());
        let op = format!("{} {}{}", r.method, r.path, r.query);

        let (status, text) = send(&app, &method, &url, None, &body).await;
        calls += 1;
        if status != 401 {
            leaks.push(format!(
                "{op} without a token -> {status}: {}",
                excerpt(&text)
            ));
        }
        for caller in CALLERS {
            let token = tokens.get(caller).map(String::as_str);
            let (entitled, row_marks) = match &r.rule {
                Rule::Only(who) => (who.contains(caller), None),
                Rule::List(who, m) => (who.contains(caller), Some(marks(*m, &s))),
                Rule::AnySignedIn(_) | Rule::Public(_) => (true, None),
            };
            if entitled {
                // Reads show the fixture is reachable; changes are left to the entitled tests.
                if method != Method::GET {
                    continue;
                }
                let (status, text) = send(&app, &method, &url, token, &body).await;
                calls += 1;
                let shown = row_marks
                    .as_ref()
                    .is_none_or(|m| m.iter().any(|x| text.contains(x.as_str())));
                if !(200..300).contains(&status) || !shown {
                    unreached.push(format!("{op} by {caller} -> {status}: {}", excerpt(&text)));
                }
                continue;
            }
            let (status, text) = send(&app, &method, &url, token, &body).await;
            calls += 1;
            let by_ref = status == 422
                && refused_as_reference(&app, &method, &url, token, &body, &text).await;
            if by_ref {
                by_reference.insert(op.clone());
                calls += 1;
            }
            let list = row_marks.is_some();
            let refused = matches!(status, 403 | 404) || by_ref || (list && status == 200);
            let looked_for = row_marks.unwrap_or_else(|| every.clone());
            // What the caller sent itself is no disclosure.
            let shown: Vec<&String> = looked_for
                .iter()
                .filter(|x| !sent.contains(x.as_str()) && text.contains(x.as_str()))
                .collect();
            if !refused || !shown.is_empty() {
                leaks.push(format!(
                    "{op} by {caller} -> {status}{}: {}",
                    if shown.is_empty() {
                        String::new()
                    } else {
                        format!(" showing {shown:?}")
                    },
                    excerpt(&text)
                ));
            }
        }
    }
    eprintln!(
        "sweep: {} rows, {swept} swept, {} callers, {calls} calls; refused as a field error \
         (as for a record that does not exist): {by_reference:?}",
        TABLE.len(),
        CALLERS.len()
    );
    assert!(
        leaks.is_empty() && unreached.is_empty(),
        "refused callers answered otherwise than 403/404, or shown fixture data: {leaks:#?}\n\
         entitled callers refused (the row or fixture is wrong): {unreached:#?}"
    );
}
