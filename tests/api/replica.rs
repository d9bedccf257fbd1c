//! `AIDBRIDGE_READ_DATABASE_URL`: public disclosure (and statistics, the event feed) are read
//! from a streaming replica that `scripts/replica` starts from a private cluster; what a caller
//! writes it reads back from the primary at once, while the public sees it once the replica has
//! replayed it.

use aidbridge::embedded_pg::{ensure_database, find_bin_dir, OwnedCluster, Tuning};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::helpers::{spawn_server, test_config, ADMIN_PASSWORD};
use crate::projects::{project_body, published_project};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn replica(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replica");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("run scripts/replica");
    assert!(
        out.status.success(),
        "scripts/replica {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops the replica however the test ends (a panic included).
struct Replica(String);

impl Drop for Replica {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replica");
        let _ = Command::new(script).args(["stop", &self.0]).output();
    }
}

async fn on_replica(url: &str, sql: &str) {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .expect("connect to the replica");
    diesel::sql_query(sql).execute(&mut conn).await.expect(sql);
}

#[tokio::test]
async fn public_reads_come_from_the_replica_and_the_writer_reads_its_own_write_from_the_primary() {
    let dir = std::env::temp_dir().join(format!("aidbridge-replica-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pg = {
        let dir = dir.join("primary");
        tokio::task::spawn_blocking(move || {
            let bin = find_bin_dir(std::env::var_os("PG_BIN").map(PathBuf::from).as_deref())
                .expect("PostgreSQL binaries");
            OwnedCluster::start(
                dir,
                bin,
                Tuning {
                    // A base backup needs full-page writes.
                    ephemeral: false,
                    port: None,
                },
            )
            .expect("the primary starts")
        })
        .await
        .expect("start task")
    };
    let db_name = "replicated";
    ensure_database(pg.admin_url(), db_name)
        .await
        .expect("database");
    let url = pg
        .admin_url()
        .replacen("/postgres", &format!("/{db_name}"), 1);
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            aidbridge::db::run_migrations_blocking(&url).expect("migrations")
        })
        .await
        .expect("migrate task");
    }
    let pool = aidbridge::db::build_pool(&url, 2).expect("pool");
    aidbridge::seed::seed_demo(&pool, Some(ADMIN_PASSWORD))
        .await
        .expect("demo seed");
    drop(pool);

    let port = free_port();
    let replica_dir = dir.join("replica");
    replica(&[
        "start",
        pg.admin_url(),
        replica_dir.to_str().expect("utf-8 path"),
        &port.to_string(),
    ]);
    let _stop = Replica(replica_dir.to_str().expect("utf-8 path").to_owned());
    let replica_url = url.replacen(&format!(":{}/", pg.port()), &format!(":{port}/"), 1);
    let mut config = test_config(&url);
    config.read_database_url = Some(replica_url.clone());
    let app = spawn_server(config, db_name.to_owned(), url.clone()).await;
    let edu = app.token("charity.edu").await;

    // Replay paused: a project published now is on the primary only.
    on_replica(&replica_url, "SELECT pg_wal_replay_pause()::text").await;
    let project = published_project(&app, &edu, &project_body("副本延迟")).await;
    let id = project["id"].as_str().expect("id").to_owned();
    let own = app.get(&format!("/api/v1/projects/{id}"), Some(&edu)).await;
    assert_eq!(
        own.status(),
        200,
        "the charity reads its write from the primary"
    );
    let public = app
        .get(&format!("/api/v1/public/projects/{id}"), None)
        .await;
    assert_eq!(
        public.status(),
        404,
        "the public reads the replica, which has not replayed it"
    );
    let list: Value = app
        .get("/api/v1/public/projects", None)
        .await
        .json()
        .await
        .expect("json");
    assert!(!list.to_string().contains(&id));

    // Replay resumed: the public sees it shortly after.
    on_replica(&replica_url, "SELECT pg_wal_replay_resume()::text").await;
    let mut seen = false;
    for _ in 0..100 {
        if app
            .get(&format!("/api/v1/public/projects/{id}"), None)
            .await
            .status()
            == 200
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the replica caught up within 10 s");
    assert_eq!(app.get("/api/v1/public/stats", None).await.status(), 200);

    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("stop task");
    let _ = std::fs::remove_dir_all(&dir);
}
