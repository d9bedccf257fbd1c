//! Service endpoints, the committed OpenAPI document, Swagger UI and migrations.

use serde_json::Value;

use crate::helpers::{problem, spawn_app, spawn_app_with, spawn_server, test_config};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["migration"], aidbridge::db::latest_migration_version());
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_unreachable() {
    // Nothing listens on port 1.
    let url = "postgres://nobody@127.0.0.1:1/none".to_string();
    let app = spawn_server(test_config(&url), "unused_db".into(), url).await;
    let res = app.get("/readyz", None).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(problem(res, 503).await["code"], "service_unavailable");
    assert_eq!(
        app.get("/healthz", None).await.status(),
        200,
        "liveness does not depend on the database"
    );
    std::mem::forget(app); // its database does not exist, so there is nothing to drop
}

#[tokio::test]
async fn readyz_fails_when_migrations_are_missing_and_migrations_round_trip() {
    let app = spawn_app().await;
    let url = app.db_url.clone();
    let reverted = tokio::task::spawn_blocking(move || {
        aidbridge::db::revert_all_migrations_blocking(&url).unwrap()
    })
    .await
    .unwrap();
    assert!(reverted >= 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'")
            .await,
        0,
        "down.sql removes everything up.sql made"
    );
    problem(app.get("/readyz", None).await, 503).await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || aidbridge::db::run_migrations_blocking(&url).unwrap())
        .await
        .unwrap();
    assert_eq!(app.get("/readyz", None).await.status(), 200);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM organizations").await,
        0
    );
}

#[tokio::test]
async fn the_first_administrator_is_created_once_on_an_empty_database() {
    let app = spawn_app().await;
    let url = app.db_url.clone();
    tokio::task::spawn_blocking(move || {
        aidbridge::db::revert_all_migrations_blocking(&url).unwrap();
        aidbridge::db::run_migrations_blocking(&url).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 0);
    let pool = aidbridge::db::build_pool(&app.db_url, 1).unwrap();
    assert!(aidbridge::seed::ensure_admin(&pool, "first-admin-password")
        .await
        .unwrap());
    assert!(
        !aidbridge::seed::ensure_admin(&pool, "another-password-x")
            .await
            .unwrap(),
        "only once"
    );
    assert_eq!(
        app.try_token("admin", "first-admin-password")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.try_token("admin", "another-password-x").await.status(),
        400
    );
    // Nothing else, demo accounts least of all, is created by the bootstrap.
    assert_eq!(app.count("SELECT count(*) AS n FROM users").await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE actor_kind = 'system'")
            .await,
        2
    );
}

#[tokio::test]
async fn metrics_report_requests_by_route_and_pool_usage() {
    let app = spawn_app().await;
    let admin = app.token("admin").await;
    app.get("/api/v1/organizations", Some(&admin)).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains("aidbridge_http_requests_total"), "{text}");
    assert!(
        text.contains("endpoint=\"/api/v1/organizations\""),
        "{text}"
    );
    assert!(text.contains("aidbridge_http_requests_duration_seconds_bucket"));
    assert!(
        text.contains("aidbridge_db_pool_connections{state=\"max\"} 4"),
        "{text}"
    );
}

#[tokio::test]
async fn the_committed_openapi_document_is_current() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed");
    let generated = aidbridge::openapi::spec_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; regenerate it with\n    cargo run -- openapi > openapi/openapi.json\nand commit it"
    );
}

#[tokio::test]
async fn the_served_document_documents_every_error_as_a_problem() {
    let app = spawn_app().await;
    let spec: Value = app
        .get("/api-docs/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        spec["components"]["securitySchemes"]["oauth2"]["flows"]["password"]["tokenUrl"],
        "/api/v1/auth/token"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(!spec["info"]["license"]["name"].as_str().unwrap().is_empty());
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/organizations/{id}/users"));
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let needs_database = ![
                "/healthz",
                "/metrics",
                "/.well-known/jwks.json",
                "/.well-known/oauth-authorization-server",
            ]
            .contains(&path.as_str());
            for status in ["500", "503"] {
                assert!(
                    responses.contains_key(status) || (status == "503" && !needs_database),
                    "{method} {path} lacks {status}"
                );
            }
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{method} {path}"
                );
            }
            for (status, r) in responses {
                assert!(
                    !r["description"].as_str().unwrap_or("").is_empty(),
                    "{method} {path} {status}"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        r["content"].is_object(),
                        "{method} {path} {status} has no body schema"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let res = app.get("/swagger-ui", None).await;
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], "/swagger-ui/");
    let res = app.get("/swagger-ui/", None).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("swagger"));
    assert!(
        page.contains("<title>AidBridge API · 善桥</title>"),
        "{page}"
    );
    let res = app.get("/swagger-ui/swagger-initializer.js", None).await;
    assert_eq!(res.status(), 200);
    let init = res.text().await.unwrap();
    assert!(init.contains("/api-docs/openapi.json"));
    // Never the public validator (it would send the document to another host); keep the login.
    assert!(init.contains(r#""validatorUrl": "none""#), "{init}");
    assert!(init.contains(r#""persistAuthorization": true"#), "{init}");
}

#[tokio::test]
async fn every_foreign_key_has_an_index() {
    let app = spawn_app().await;
    let missing = app
        .count(
            "SELECT count(*) AS n FROM pg_constraint c
             WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
               AND NOT EXISTS (
                 SELECT 1 FROM pg_index i
                 WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
        )
        .await;
    assert_eq!(
        missing, 0,
        "add an index for each foreign key (migrations/README.md)"
    );
    assert!(
        app.count("SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f'")
            .await
            >= 10
    );
}

#[tokio::test]
async fn browsers_of_configured_origins_may_call_the_api() {
    let portal = "https://portal.example.org";
    let app = spawn_app_with(|c| c.cors_origins = vec![portal.to_owned()]).await;
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/persons"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let res = preflight(portal).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], portal);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    // Another origin learns nothing.
    let res = preflight("https://elsewhere.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // Actual requests, errors included, carry the headers a script may read.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("origin", portal)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["access-control-allow-origin"], portal);
    assert!(res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("x-request-id"));
}

#[tokio::test]
async fn a_wildcard_origin_never_comes_with_credentials_and_no_origins_means_no_cors() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["*".to_owned()]).await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(res
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_private_cluster_outlives_the_thread_that_started_it() {
    use aidbridge::embedded_pg::{find_bin_dir, OwnedCluster, Tuning};
    let dir = std::env::temp_dir().join(format!("aidbridge-owned-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = find_bin_dir(
        std::env::var_os("PG_BIN")
            .map(std::path::PathBuf::from)
            .as_deref(),
    )
    .expect("PostgreSQL binaries");
    // Started from a thread that ends at once, as a pooled blocking thread would after idling:
    // the cluster must keep running (the parent-death signal follows the thread that forked).
    let starter_dir = dir.clone();
    let pg = std::thread::spawn(move || {
        OwnedCluster::start(
            starter_dir,
            bin,
            Tuning {
                ephemeral: true,
                port: None,
            },
        )
    })
    .join()
    .expect("the starter thread")
    .expect("the cluster starts");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    let conn = AsyncPgConnection::establish(pg.admin_url()).await;
    assert!(conn.is_ok(), "the cluster stopped with its starter thread");
    drop(conn);
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn as_root_the_private_cluster_starts_from_a_folder_postgres_cannot_enter() {
    use aidbridge::embedded_pg::{find_bin_dir, OwnedCluster, Tuning};
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the service account question does not arise");
        return;
    }
    // A clone under a private folder, as a new user would have it.
    let private =
        std::path::PathBuf::from(format!("/root/aidbridge-private-{}", std::process::id()));
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = private.join("data");
    let bin = find_bin_dir(
        std::env::var_os("PG_BIN")
            .map(std::path::PathBuf::from)
            .as_deref(),
    )
    .expect("PostgreSQL binaries");
    let started = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            OwnedCluster::start(
                data,
                bin,
                Tuning {
                    ephemeral: true,
                    port: None,
                },
            )
        })
        .await
        .unwrap()
    };
    let pg = started.expect("the cluster starts although postgres cannot enter the folder");
    let home = pg.data_path().parent().unwrap().to_path_buf();
    assert!(home.starts_with("/var/lib/aidbridge"), "{}", home.display());
    use diesel_async::{AsyncConnection, AsyncPgConnection};
    assert!(AsyncPgConnection::establish(pg.admin_url()).await.is_ok());
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    let _ = std::fs::remove_dir_all(&private);
}
