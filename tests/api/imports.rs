//! Person imports from the monitoring platform's CSV: every row judged by the registration
//! rules and refused rows named by line, valid rows upserted in batches, a re-import changing
//! nothing, progress on the job, and who may import what.

use serde_json::Value;

use crate::helpers::{person_body, problem, resident_id, spawn_app, TestApp};

const HEADER: &str = "external_id,name,id_number,phone,region_code,tier,relapse_monitoring,certifying_region,valid_from,valid_to\n";

/// The n-th test person's ID number (distinct birth dates).
fn nth_id(n: i64) -> String {
    let born = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Duration::days(n);
    resident_id(&format!("230102{}001", born.format("%Y%m%d")))
}

fn good_rows(n: i64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "DB-{i},居民{i},{},1391234{:04},230102001,subsistence_allowance,{},230102001,2026-01-01,2026-12-31\n",
                nth_id(i),
                i % 10_000,
                if i % 3 == 0 { "true" } else { "false" }
            )
        })
        .collect()
}

async fn upload(app: &TestApp, token: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/imports/persons"))
        .bearer_auth(token)
        .header("content-type", "text/csv; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_import_writes_valid_rows_names_bad_ones_and_changes_nothing_the_second_time() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let harbin = app.token("harbin.ca").await;
    // Someone already registered in another district.
    let elsewhere = resident_id("23010319800202003");
    app.register_person(&harbin, &person_body(&elsewhere, "230103001"))
        .await;
    let n = 2500;
    let mut file = format!("{HEADER}{}", good_rows(n));
    let bad = [
        // line n+2: a wrong check digit
        "X-1,错号,230102199003070016,,230102001,,false,,,\n".to_string(),
        // outside the caller's region
        format!("X-2,外区,{},,230103001,,false,,,\n", nth_id(5000)),
        // not a yes/no
        format!("X-3,未知,{},,230102001,,maybe,,,\n", nth_id(5001)),
        // the same ID number as the first row
        format!("X-4,重复,{},,230102001,,false,,,\n", nth_id(0)),
        // registered elsewhere
        format!("X-5,他区,{elsewhere},,230102001,,false,,,\n"),
        // a control character
        format!("X-6,控\u{7}制,{},,230102001,,false,,,\n", nth_id(5002)),
    ];
    for b in &bad {
        file.push_str(b);
    }
    let res = upload(&app, &daoli, file.clone()).await;
    assert_eq!(res.status(), 201);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["status"], "completed");
    assert_eq!(report["rows_read"], n + 6);
    assert_eq!(report["rows_written"], n);
    assert_eq!(report["rows_rejected"], 6);
    let mut lines: Vec<(i64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    lines.sort();
    let first_bad = n + 2;
    assert_eq!(
        lines,
        [
            (first_bad, "id_number".to_owned()),
            (first_bad + 1, "region_code".to_owned()),
            (first_bad + 2, "relapse_monitoring".to_owned()),
            (first_bad + 3, "id_number".to_owned()),
            (first_bad + 4, "id_number".to_owned()),
            (first_bad + 5, "name".to_owned()),
        ]
    );
    assert!(
        !report.to_string().contains(&elsewhere),
        "a refusal never echoes a number"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, n + 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM persons WHERE relapse_monitoring AND tier = 'subsistence_allowance'").await,
        (n + 2) / 3
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM persons WHERE id_number_encrypted LIKE '%{}%'",
            nth_id(7)
        ))
        .await,
        0
    );
    let versions = app
        .count("SELECT sum(version)::bigint AS n FROM persons")
        .await;

    // The same file again: nothing changes.
    let again: Value = upload(&app, &daoli, file.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            again["rows_written"].as_i64(),
            again["rows_unchanged"].as_i64()
        ),
        (Some(0), Some(n))
    );
    assert_eq!(
        app.count("SELECT sum(version)::bigint AS n FROM persons")
            .await,
        versions
    );
    // One phone changed: one row written.
    let changed = file.replacen("13912340007", "13700000007", 1);
    let third: Value = upload(&app, &daoli, changed).await.json().await.unwrap();
    assert_eq!(
        (
            third["rows_written"].as_i64(),
            third["rows_unchanged"].as_i64()
        ),
        (Some(1), Some(n - 1))
    );

    // The jobs, for polling.
    let id = report["id"].as_str().unwrap();
    let job: Value = app
        .get(&format!("/api/v1/imports/{id}"), Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (job["status"].as_str(), job["rows_written"].as_i64()),
        (Some("completed"), Some(n))
    );
    let jobs: Value = app
        .get("/api/v1/imports", Some(&daoli))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 3);
    problem(
        app.get(&format!("/api/v1/imports/{id}"), Some(&harbin))
            .await,
        404,
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'person.import'")
            .await,
        9,
        "one record per batch of 1,000"
    );
}

#[tokio::test]
async fn imports_need_the_exports_header_csv_and_a_bureau() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let edu = app.token("charity.edu").await;
    let p = problem(
        upload(&app, &daoli, "name,id_number\n张三,1\n".into()).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "header");
    // A header that is not UTF-8 text is the file's fault too, not a completed job.
    let p = problem(
        upload_bytes(&app, &daoli, b"external_id,n\xe4me\n".to_vec()).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "invalid_header");
    // A body announced larger than 1 GiB is refused at once, and no job is opened for it.
    let jobs = app.count("SELECT count(*) AS n FROM person_imports").await;
    let (address, token) = (
        app.address.trim_start_matches("http://").to_owned(),
        daoli.clone(),
    );
    let raw = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(address).expect("connect");
        s.write_all(
            format!(
                "POST /api/v1/imports/persons HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: text/csv\r\nContent-Length: 2000000000\r\n\r\n{HEADER}"
            )
            .as_bytes(),
        )
        .expect("send");
        let mut answer = vec![0u8; 4096];
        let n = s.read(&mut answer).expect("answer");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .expect("raw request");
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("payload_too_large"), "{raw}");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM person_imports").await,
        jobs
    );
    let res = app
        .client
        .post(app.url("/api/v1/imports/persons"))
        .bearer_auth(&daoli)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    problem(upload(&app, &edu, HEADER.into()).await, 403).await;
    // Excel's byte-order mark is no part of the header; a row short of a cell is refused whole
    // (it would erase a certification), not read with blanks.
    let short = format!(
        "\u{feff}{HEADER}DB-1,张三,{},,230102001,subsistence_allowance,false,230102001,2026-01-01\n",
        nth_id(1)
    );
    let report: Value = upload(&app, &daoli, short).await.json().await.unwrap();
    assert_eq!(
        (
            report["rows_read"].as_i64(),
            report["rows_rejected"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(report["rejected"][0]["field"], "row");
    let empty: Value = upload(&app, &daoli, HEADER.into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (empty["status"].as_str(), empty["rows_read"].as_i64()),
        (Some("completed"), Some(0))
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM persons").await, 0);
}

#[tokio::test]
async fn an_import_left_without_progress_is_marked_failed_and_a_live_one_is_not() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    let org = app.org_id("哈尔滨市道里区民政局").await;
    let stuck = uuid::Uuid::new_v4();
    app.exec(&format!(
        "INSERT INTO person_imports (id, organization_id, created_by, status, rows_read, created_at, updated_at)
         VALUES ('{stuck}', '{org}', gen_random_uuid(), 'running', 1000, now() - interval '1 hour',
                 now() - interval '11 minutes')"
    ))
    .await
    .expect("a broken-off import");
    // One still at work (its last batch a minute ago) is left alone.
    let busy = uuid::Uuid::new_v4();
    app.exec(&format!(
        "INSERT INTO person_imports (id, organization_id, created_by, status, rows_read, created_at, updated_at)
         VALUES ('{busy}', '{org}', gen_random_uuid(), 'running', 5000, now() - interval '1 hour',
                 now() - interval '1 minute')"
    ))
    .await
    .expect("a running import");
    let done = upload(&app, &daoli, format!("{HEADER}{}", good_rows(3))).await;
    assert_eq!(done.status(), 201);
    let done: Value = done.json().await.expect("json");
    let ctx = app.service_context();
    assert_eq!(
        aidbridge::service::imports::fail_stale(&ctx)
            .await
            .expect("sweep"),
        1
    );
    let job: Value = app
        .get(&format!("/api/v1/imports/{stuck}"), Some(&daoli))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(job["status"], "failed");
    assert_eq!(job["rows_read"], 1000);
    assert!(job["failure"]
        .as_str()
        .is_some_and(|f| f.contains("import the file again")));
    let live: Value = app
        .get(
            &format!("/api/v1/imports/{}", done["id"].as_str().expect("id")),
            Some(&daoli),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(live["status"], "completed");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM person_imports WHERE id = '{busy}' AND status = 'running'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM audit_events WHERE action = 'import.interrupted' AND entity_id = '{stuck}'"
        ))
        .await,
        1
    );
    // Nothing left to sweep.
    assert_eq!(
        aidbridge::service::imports::fail_stale(&ctx)
            .await
            .expect("sweep"),
        0
    );
}

async fn upload_bytes(app: &TestApp, token: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/imports/persons"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("upload")
}

#[tokio::test]
async fn a_row_that_is_not_utf8_is_refused_alone_and_an_unclosed_quote_stops_the_import() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    // A Latin-1 name between good rows: that row refused by its line, the others written.
    let mut body = format!("{HEADER}{}", good_rows(3)).into_bytes();
    body.extend_from_slice(b"X-9,M\xfcller,");
    body.extend_from_slice(format!("{},,230102001,,false,,,\n", nth_id(7000)).as_bytes());
    let res = upload_bytes(&app, &daoli, body).await;
    assert_eq!(res.status(), 201);
    let job: Value = res.json().await.expect("json");
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["rows_written"], 3);
    assert_eq!(job["rows_rejected"], 1);
    assert_eq!(job["rejected"][0]["line"], 5);
    assert!(job["rejected"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("UTF-8")));

    // A quote that never closes would make the rest of the file one field: the import stops
    // at 64 KiB past the last row instead of holding the file.
    let mut body = format!("{HEADER}X-1,\"张三,{},,230102001,,false,,,\n", nth_id(8000));
    body.push_str(&good_rows(30_000));
    assert!(body.len() > 3_000_000);
    let res = upload(&app, &daoli, body).await;
    let job: Value = res.json().await.expect("json");
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["failure"]
            .as_str()
            .is_some_and(|f| f.contains("unclosed quote")),
        "{job}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM persons WHERE external_id LIKE 'DB-%'")
            .await,
        3,
        "nothing of the second file was written"
    );
}

#[tokio::test]
async fn two_imports_of_the_same_people_in_opposite_orders_both_finish() {
    let app = spawn_app().await;
    let daoli = app.token("daoli.ca").await;
    // One batch each, so that both insert the same people in one statement at the same time.
    let rows: Vec<String> = good_rows(1_000).lines().map(str::to_owned).collect();
    let forward = format!("{HEADER}{}\n", rows.join("\n"));
    let backward = format!(
        "{HEADER}{}\n",
        rows.iter().rev().cloned().collect::<Vec<_>>().join("\n")
    );
    let answers = futures_util::future::join_all(
        [&forward, &backward, &forward, &backward].map(|body| upload(&app, &daoli, body.clone())),
    )
    .await;
    let mut written = 0;
    for res in answers {
        assert_eq!(res.status(), 201);
        let job: Value = res.json().await.expect("json");
        // Never a deadlock: rows another import wrote first are counted, not lost.
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["rows_read"], 1_000);
        let counted = ["rows_written", "rows_unchanged", "rows_rejected"]
            .iter()
            .map(|k| job[*k].as_i64().expect("a count"))
            .sum::<i64>();
        assert_eq!(counted, 1_000, "{job}");
        written += job["rows_written"].as_i64().expect("a count");
    }
    assert_eq!(written, 1_000, "each person written by exactly one import");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM persons WHERE external_id LIKE 'DB-%'")
            .await,
        1_000
    );
}
