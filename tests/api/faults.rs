//! The database going away: requests in flight and during the outage get 503 problems (never a
//! 500), `/readyz` says not ready, and once PostgreSQL is back the same server serves again
//! without a restart; every write it acknowledged with 2xx is in the database, also after the
//! crash recovery of an immediate shutdown.

use aidbridge::embedded_pg::{ensure_database, find_bin_dir, OwnedCluster, Tuning};
use serde_json::{json, Value};
use std::path::PathBuf;

use crate::helpers::{person_body, resident_id, spawn_server, test_config, ADMIN_PASSWORD};

fn start(dir: PathBuf, port: u16) -> OwnedCluster {
    let bin = find_bin_dir(std::env::var_os("PG_BIN").map(PathBuf::from).as_deref())
        .expect("PostgreSQL binaries");
    OwnedCluster::start(
        dir,
        bin,
        Tuning {
            ephemeral: false,
            port: Some(port),
        },
    )
    .expect("the cluster starts")
}

#[tokio::test]
async fn the_server_rides_out_a_database_outage_and_keeps_every_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!("aidbridge-fault-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pg = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || start(dir, port))
            .await
            .unwrap()
    };
    let db_name = format!("faults_{}", std::process::id());
    ensure_database(pg.admin_url(), &db_name).await.unwrap();
    let url = pg
        .admin_url()
        .replacen("/postgres", &format!("/{db_name}"), 1);
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || aidbridge::db::run_migrations_blocking(&url).unwrap())
            .await
            .unwrap();
    }
    let pool = aidbridge::db::build_pool(&url, 2).unwrap();
    aidbridge::seed::seed_demo(&pool, Some(ADMIN_PASSWORD))
        .await
        .unwrap();
    drop(pool);
    let app = spawn_server(test_config(&url), db_name.clone(), url.clone()).await;
    let daoli = app.token("daoli.ca").await;
    let person = app
        .register_person(
            &daoli,
            &person_body(&resident_id("23010219900307001"), "230102001"),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Writers keep writing while the database stops under them.
    let writer = {
        let (client, base, daoli, person) = (
            app.client.clone(),
            app.address.clone(),
            daoli.clone(),
            person.clone(),
        );
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..400 {
                let res = client
                    .post(format!("{base}/api/v1/needs"))
                    .bearer_auth(&daoli)
                    .json(&json!({"person_id": person, "category": "medical", "description": format!("需求{i}"),
                                  "urgency": "normal", "source": "screening"}))
                    .send()
                    .await;
                let Ok(res) = res else { continue };
                let status = res.status().as_u16();
                let ctype = res
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or("").to_owned());
                let body: Value = res.json().await.unwrap_or(Value::Null);
                answers.push((status, ctype, body));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            answers
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // An immediate shutdown (SIGQUIT): no checkpoint, so what was acknowledged must come back
    // through crash recovery.
    let pid_file = pg.data_path().join("postmaster.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signalling the test's own PostgreSQL by the pid it wrote.
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    for _ in 0..100 {
        // SAFETY: signal 0 only asks whether the process still exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();

    // Down: not ready, and reads answer 503 problems with Retry-After.
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 503);
    let res = app
        .get(&format!("/api/v1/persons/{person}"), Some(&daoli))
        .await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // Back on the same port: the same server recovers by itself.
    let pg = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || start(dir, port))
            .await
            .unwrap()
    };
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/readyz", None).await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "the server did not recover");
    let answers = writer.await.unwrap();
    let acknowledged: Vec<String> = answers
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .map(|(_, _, b)| b["id"].as_str().unwrap().to_owned())
        .collect();
    let refused = answers.iter().filter(|(s, _, _)| *s == 503).count();
    for (status, ctype, _) in &answers {
        assert!(matches!(status, 201 | 503), "answered {status}");
        if *status == 503 {
            assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        }
    }
    assert!(
        refused > 0,
        "the outage was not noticed: {} answers",
        answers.len()
    );
    assert!(!acknowledged.is_empty());
    let stored = app
        .count(&format!(
            "SELECT count(*) AS n FROM needs WHERE id IN ({})",
            acknowledged
                .iter()
                .map(|i| format!("'{i}'"))
                .collect::<Vec<_>>()
                .join(",")
        ))
        .await;
    assert_eq!(
        stored as usize,
        acknowledged.len(),
        "an acknowledged write was lost"
    );
    // And it serves again.
    let res = app
        .get(&format!("/api/v1/persons/{person}"), Some(&daoli))
        .await;
    assert_eq!(res.status(), 200);
    drop(app);
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
