//! Admin endpoints: role boundaries, organisation validation (USCC, region), users and clients.

use serde_json::{json, Value};

use crate::helpers::{fields, problem, spawn_app, CHARITY_USCC};

fn new_charity() -> Value {
    json!({"kind": "charity", "name": "黑龙江省助医慈善基金会", "uscc": CHARITY_USCC, "region_code": "230000", "public_fundraising": true})
}

#[tokio::test]
async fn only_admins_manage_organisations_users_and_clients() {
    let app = spawn_app().await;
    let org = app.org_id("哈尔滨市民政局").await;
    let writes: Vec<(&str, String, Value)> = vec![
        ("POST", "/api/v1/organizations".into(), new_charity()),
        (
            "PATCH",
            format!("/api/v1/organizations/{org}"),
            json!({"name": "x"}),
        ),
        (
            "POST",
            format!("/api/v1/organizations/{org}/users"),
            json!({"username": "someone", "display_name": "x", "password": "long-enough-password", "roles": ["civil_affairs"]}),
        ),
        (
            "POST",
            format!("/api/v1/organizations/{org}/clients"),
            json!({"name": "x", "roles": ["civil_affairs"]}),
        ),
    ];
    let reads = [
        format!("/api/v1/organizations/{org}/users"),
        format!("/api/v1/organizations/{org}/clients"),
    ];
    for username in ["province.ca", "federation", "grid.worker", "auditor"] {
        let token = app.token(username).await;
        for (method, path, body) in &writes {
            let req = match *method {
                "POST" => app.client.post(app.url(path)),
                _ => app.client.patch(app.url(path)),
            };
            let res = req.bearer_auth(&token).json(body).send().await.unwrap();
            let p = problem(res, 403).await;
            assert_eq!(p["code"], "forbidden", "{username} {method} {path}");
        }
        for path in &reads {
            let status = app.get(path, Some(&token)).await.status();
            // Auditors read everything; nobody else reads admin data.
            let expected = if username == "auditor" { 200 } else { 403 };
            assert_eq!(status, expected, "{username} GET {path}");
        }
    }
    for (method, path, body) in &writes {
        let req = match *method {
            "POST" => app.client.post(app.url(path)),
            _ => app.client.patch(app.url(path)),
        };
        problem(req.json(body).send().await.unwrap(), 401).await;
    }
    // Members read their own organisation; grassroots workers no other (the directory is for
    // civil-affairs and charity staff, tests/api/admin.rs::the_directory_…).
    let harbin = app.token("harbin.ca").await;
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{org}"), Some(&harbin))
            .await
            .status(),
        200
    );
    let other = app.org_id("黑龙江省慈善总会").await;
    let grid = app.token("grid.worker").await;
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{other}"), Some(&grid))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM organizations WHERE name = 'x'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_admin_registers_an_organisation() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let res = app
        .post("/api/v1/organizations", Some(&admin), &new_charity())
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/organizations/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(
        body["region_code"], "23",
        "230000 is stored as the province prefix"
    );
    assert_eq!(body["status"], "active");
    assert_eq!(body["public_fundraising"], true);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM organizations WHERE uscc = '{CHARITY_USCC}' AND kind = 'charity'"
        ))
        .await,
        1
    );
    let fetched: Value = app.get(&location, Some(&admin)).await.json().await.unwrap();
    assert_eq!(fetched["name"], "黑龙江省助医慈善基金会");

    let dup = problem(
        app.post("/api/v1/organizations", Some(&admin), &new_charity())
            .await,
        409,
    )
    .await;
    assert_eq!(dup["code"], "duplicate");
    assert_eq!(dup["field"], "uscc");
}

#[tokio::test]
async fn invalid_uscc_and_region_codes_are_named_in_the_problem() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let cases = [
        (json!({"uscc": "53230000MJ000123XF"}), "uscc", "expected E"),
        (json!({"uscc": "5323000"}), "uscc", "18 characters"),
        (json!({"uscc": "53230000MJ00012IXE"}), "uscc", "position 16"),
        (json!({"uscc": null}), "uscc", "unified social credit code"),
        (
            json!({"region_code": "110105"}),
            "region_code",
            "Heilongjiang",
        ),
        (
            json!({"region_code": "2301021"}),
            "region_code",
            "2, 4, 6, 9 or 12",
        ),
        (json!({"region_code": "23ab"}), "region_code", "digits"),
        (json!({"name": ""}), "name", "length"),
        (
            json!({"kind": "civil_affairs_bureau"}),
            "public_fundraising",
            "only charities",
        ),
    ];
    for (patch, field, words) in cases {
        let mut body = new_charity();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let p = problem(
            app.post("/api/v1/organizations", Some(&admin), &body).await,
            422,
        )
        .await;
        assert_eq!(fields(&p), vec![field.to_string()], "{body}: {p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(words),
            "{p}"
        );
    }
    let p = problem(
        app.post(
            "/api/v1/organizations",
            Some(&admin),
            &json!({"kind": "bank", "name": "x", "region_code": "23"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["kind"]);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM organizations WHERE name LIKE '黑龙江省助医%'")
            .await,
        0
    );
}

#[tokio::test]
async fn organisations_list_filters_and_pages() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let page: Value = app
        .get("/api/v1/organizations?region=2301&limit=2", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items
        .iter()
        .all(|o| o["region_code"].as_str().unwrap().starts_with("2301")));
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let next: Value = app
        .get(
            &format!("/api/v1/organizations?region=2301&limit=2&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    let more = next["items"].as_array().unwrap();
    assert!(!more.is_empty());
    assert!(more
        .iter()
        .all(|o| !items.iter().any(|i| i["id"] == o["id"])));
    // Demo data in 2301: Harbin bureau, Daoli bureau, education foundation, care centre.
    assert_eq!(items.len() + more.len(), 4);
    assert!(next.get("next_cursor").is_none(), "absent on the last page");

    let charities: Value = app
        .get(
            "/api/v1/organizations?kind=charity_federation",
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(charities["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn users_get_roles_that_fit_their_organisation() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let charity = app.org_id("哈尔滨市助学慈善基金会").await;
    let path = format!("/api/v1/organizations/{charity}/users");
    let p = problem(
        app.post(
            &path,
            Some(&admin),
            &json!({"username": "edu.two", "display_name": "x", "password": "long-enough-password", "roles": ["charity", "civil_affairs"]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["roles[1]"]);
    let p = problem(
        app.post(
            &path,
            Some(&admin),
            &json!({"username": "edu.two", "display_name": "x", "password": "long-enough-password", "roles": ["charity"], "region_code": "230202"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["region_code"]);
    let p = problem(
        app.post(&path, Some(&admin), &json!({"username": "Edu Two", "display_name": "x", "password": "short", "roles": ["charity"]}))
            .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["password", "username"]);

    let res = app
        .post(
            &path,
            Some(&admin),
            &json!({"username": "edu.two", "display_name": "项目官员二", "password": "long-enough-password", "roles": ["charity"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["region_code"], "2301");
    assert!(user.get("password_hash").is_none());
    assert_eq!(
        app.try_token("edu.two", "long-enough-password")
            .await
            .status(),
        200
    );
    let taken = app
        .post(
            &path,
            Some(&admin),
            &json!({"username": "edu.two", "display_name": "x", "password": "long-enough-password", "roles": ["charity"]}),
        )
        .await;
    assert_eq!(problem(taken, 409).await["field"], "username");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM users WHERE password_hash LIKE '$argon2id$%' AND username = 'edu.two'")
            .await,
        1
    );
}

#[tokio::test]
async fn client_secrets_are_shown_once_and_stored_hashed() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let org = app.org_id("黑龙江省慈善总会").await;
    let res = app
        .post(
            &format!("/api/v1/organizations/{org}/clients"),
            Some(&admin),
            &json!({"name": "慈善总会门户", "roles": ["charity"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40);
    let list: Value = app
        .get(
            &format!("/api/v1/organizations/{org}/clients"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    assert!(list[0].get("client_secret").is_none());
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM api_clients WHERE secret_hash LIKE '$argon2id$%' AND secret_hash NOT LIKE '%{secret}%'"))
            .await,
        1
    );
    // A charity's client cannot be given a civil-affairs role; nobody's client is an admin.
    let p = problem(
        app.post(
            &format!("/api/v1/organizations/{org}/clients"),
            Some(&admin),
            &json!({"name": "x", "roles": ["civil_affairs"]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(fields(&p), vec!["roles[0]"]);
    // Disabled clients cannot get tokens.
    let id = created["id"].as_str().unwrap();
    let elsewhere = app.org_id("哈尔滨市民政局").await;
    let res = app
        .patch(
            &format!("/api/v1/organizations/{elsewhere}/clients/{id}"),
            Some(&admin),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(
        problem(res, 404).await["code"],
        "not_found",
        "a client of another organisation"
    );
    let res = app
        .patch(
            &format!("/api/v1/organizations/{org}/clients/{id}"),
            Some(&admin),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", created["client_id"].as_str().unwrap()),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn suspending_an_organisation_stops_its_users_signing_in() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let org = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .patch(
            &format!("/api/v1/organizations/{org}"),
            Some(&admin),
            &json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "suspended");
    assert_eq!(
        app.try_token("charity.edu", crate::helpers::DEMO_PASSWORD)
            .await
            .status(),
        400
    );
    let missing = uuid::Uuid::new_v4();
    let p = problem(
        app.patch(
            &format!("/api/v1/organizations/{missing}"),
            Some(&admin),
            &json!({"name": "x"}),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(p["code"], "not_found");
}

#[tokio::test]
async fn the_directory_lets_staff_find_active_organisations_and_nothing_more() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    let province = app.token("province.ca").await;
    let federation = app.token("federation").await;
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let page: Value = app
        .get(
            "/api/v1/organizations?kind=charity&q=%E5%8A%A9%E5%AD%A6",
            Some(&province),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&page), vec!["哈尔滨市助学慈善基金会"]);
    // A charity finds its peers too; a grassroots worker does not search the register.
    let res = app
        .get(
            "/api/v1/organizations?q=%E6%85%88%E5%96%84",
            Some(&federation),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert!(names(&page).iter().all(|n| n.contains("慈善")), "{page}");
    assert!(names(&page).len() >= 2, "{page}");
    let grid = app.token("grid.worker").await;
    problem(app.get("/api/v1/organizations", Some(&grid)).await, 403).await;
    // LIKE wildcards match themselves.
    let page: Value = app
        .get("/api/v1/organizations?q=%25", Some(&province))
        .await
        .json()
        .await
        .unwrap();
    assert!(names(&page).is_empty(), "{page}");
    // A NUL in a parameter is a 400 naming it, never a database error.
    let p = problem(
        app.get("/api/v1/organizations?q=a%00b", Some(&province))
            .await,
        400,
    )
    .await;
    assert_eq!(fields(&p), vec!["q"]);

    // Suspended organisations leave the directory but stay in the register.
    let edu = app.org_id("哈尔滨市助学慈善基金会").await;
    let res = app
        .patch(
            &format!("/api/v1/organizations/{edu}"),
            Some(&admin),
            &json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = app
        .get("/api/v1/organizations?kind=charity", Some(&province))
        .await
        .json()
        .await
        .unwrap();
    assert!(!names(&page).contains(&"哈尔滨市助学慈善基金会".to_owned()));
    problem(
        app.get(&format!("/api/v1/organizations/{edu}"), Some(&province))
            .await,
        404,
    )
    .await;
    problem(
        app.get("/api/v1/organizations?status=suspended", Some(&province))
            .await,
        403,
    )
    .await;
    let page: Value = app
        .get("/api/v1/organizations?status=suspended", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&page), vec!["哈尔滨市助学慈善基金会"]);
    // The directory shows no users or clients.
    let fed = app.org_id("黑龙江省慈善总会").await;
    let one: Value = app
        .get(&format!("/api/v1/organizations/{fed}"), Some(&province))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["kind"], "charity_federation");
    assert!(one.get("users").is_none() && one.get("clients").is_none());
}
