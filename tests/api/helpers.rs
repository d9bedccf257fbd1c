//! Test harness: a PostgreSQL server (TEST_DATABASE_URL, or a private throw-away cluster started
//! like the embedded mode), a template database migrated and seeded once per run, and
//! `spawn_app()`, which clones the template and serves the API on a random port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use aidbridge::auth::token::TokenKeys;
use aidbridge::config::Config;
use aidbridge::embedded_pg::{find_bin_dir, EmbeddedPostgres, Tuning};
use aidbridge::startup::{Application, Options};
use aidbridge::{db, seed};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde_json::Value;

/// Fixed test keys, so tests can decrypt and compare what the server stored.
pub const DATA_KEYS: &str = "t1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const HMAC_KEY: &str = "aG1hYy1rZXktZm9yLXRlc3RzLWhtYWMta2V5LWZvci10ZXN0cw==";
pub const AUDIT_KEY: &str = "YXVkaXQta2V5LWZvci10ZXN0cy1hdWRpdC1rZXktZm9yLXRlc3Rz";
pub const AUDIT_SIGNING_KEY: &str = "c2lnbmluZy1zZWVkLWZvci10ZXN0cy0zMi1ieXRlcyE=";

pub fn data_keys() -> aidbridge::privacy::DataKeys {
    aidbridge::privacy::DataKeys::from_config(DATA_KEYS, HMAC_KEY).unwrap()
}

pub const JWT_KEYS: &str = "test:dGVzdC10b2tlbi1zaWduaW5nLXNlZWQtMzItYnl0ZXM=";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const DEMO_PASSWORD: &str = seed::DEMO_PASSWORD;

/// The PostgreSQL server the tests use: a URL with `{db}` where the database name goes.
struct Server {
    url_template: String,
    template_db: String,
}

fn pid() -> u32 {
    std::process::id()
}

fn with_db(url_template: &str, db: &str) -> String {
    url_template.replace("{db}", db)
}

/// Replaces the database name of a URL with the `{db}` placeholder.
fn templated(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(base.len());
    format!("{}/{{db}}{query}", &base[..cut])
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn start_private_cluster() -> String {
    // Clusters of earlier runs that were killed before cleaning up.
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(p) = name
                .strip_prefix("aidbridge-test-")
                .and_then(|p| p.parse::<i32>().ok())
            {
                if !process_alive(p) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("aidbridge-test-{}", pid()));
    let _ = std::fs::remove_dir_all(&dir);
    let (tx, rx) = std::sync::mpsc::channel();
    // The cluster is owned by a thread that lives as long as the test process; when the process
    // ends, the parent-death signal stops the cluster.
    std::thread::spawn(move || {
        let started = find_bin_dir(std::env::var_os("PG_BIN").map(PathBuf::from).as_deref())
            .and_then(|bin| {
                EmbeddedPostgres::start(
                    &dir,
                    &bin,
                    Tuning {
                        ephemeral: true,
                        port: None,
                    },
                )
            });
        match started {
            Ok(pg) => {
                let _ = tx.send(Ok(pg.url("{db}")));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    match rx.recv() {
        Ok(Ok(url)) => url,
        Ok(Err(e)) => panic!("cannot start a private PostgreSQL for the tests: {e}"),
        Err(e) => panic!("cannot start a private PostgreSQL for the tests: {e}"),
    }
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn admin_connection(url_template: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(&with_db(url_template, "postgres"))
        .await
        .expect("connect to the test PostgreSQL server")
}

/// Drops databases left by earlier runs whose process is gone.
async fn drop_stale_databases(url_template: &str) {
    let mut conn = admin_connection(url_template).await;
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname AS name FROM pg_database WHERE datname LIKE 'abtest\\_%'",
    )
    .load(&mut conn)
    .await
    .unwrap_or_default();
    for n in names {
        let owner = n.name.split('_').nth(1).and_then(|p| p.parse::<i32>().ok());
        if owner.is_some_and(|p| !process_alive(p)) {
            let _ = conn
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    n.name
                ))
                .await;
        }
    }
}

fn prepare_server() -> Server {
    let url_template = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => templated(url.trim()),
        _ => start_private_cluster(),
    };
    let template_db = format!("abtest_{}_template", pid());
    let url = url_template.clone();
    let tpl = template_db.clone();
    // A runtime of its own: the template is built once and shared by every test's runtime.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            drop_stale_databases(&url).await;
            let mut conn = admin_connection(&url).await;
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{tpl}\" WITH (FORCE)"))
                .await
                .unwrap();
            conn.batch_execute(&format!("CREATE DATABASE \"{tpl}\""))
                .await
                .unwrap();
        });
        let tpl_url = with_db(&url, &tpl);
        db::run_migrations_blocking(&tpl_url).expect("migrate the template database");
        rt.block_on(async {
            let pool = db::build_pool(&tpl_url, 2).unwrap();
            seed::seed_demo(&pool, Some(ADMIN_PASSWORD))
                .await
                .expect("seed the template");
            pool.close();
        });
    })
    .join()
    .expect("prepare the template database");
    Server {
        url_template,
        template_db,
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(prepare_server)
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_name: String,
    pub db_url: String,
    pub keys: TokenKeys,
    /// The server's clock: it stands still at the test's start until a test moves it.
    pub clock: aidbridge::clock::Clock,
}

pub fn test_config(db_url: &str) -> Config {
    Config {
        database_url: Some(db_url.to_owned()),
        read_database_url: None,
        bind: "127.0.0.1:0".into(),
        data_dir: std::env::temp_dir().join("aidbridge-test-data"),
        pool_size: 4,
        workers: Some(1),
        jwt_keys: Some(JWT_KEYS.into()),
        token_ttl_seconds: 900,
        refresh_ttl_seconds: 3600,
        data_keys: Some(DATA_KEYS.into()),
        hmac_key: Some(HMAC_KEY.into()),
        audit_key: Some(AUDIT_KEY.into()),
        audit_signing_key: Some(AUDIT_SIGNING_KEY.into()),
        admin_password: None,
        login_max_failures: 5,
        login_window_seconds: 900,
        login_lockout_seconds: 900,
        max_body_bytes: 64 * 1024,
        pg_bin: None,
        cors_origins: Vec::new(),
        metrics_token: None,
        trusted_proxies: Vec::new(),
        deadlines: Default::default(),
        event_retention_days: 180,
        webhook_allow_loopback: true,
        demo: false,
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Every log line the process writes at debug level or above (server, database driver, client),
/// kept so tests can check that no personal identifier is ever logged.
static LOG_LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Debug
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            if let Ok(mut lines) = LOG_LINES.lock() {
                lines.push(line);
            }
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if log::set_logger(&CaptureLogger).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    });
}

/// The log lines captured so far that contain `needle`.
pub fn logged_lines_containing(needle: &str) -> Vec<String> {
    LOG_LINES
        .lock()
        .map(|lines| {
            lines
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// How many lines were captured (to show the capture works).
pub fn logged_line_count() -> usize {
    LOG_LINES.lock().map(|l| l.len()).unwrap_or(0)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh database cloned from the template, and the API served on a random port.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    capture_logs();
    let server = server();
    let db_name = format!(
        "abtest_{}_{}",
        pid(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = admin_connection(&server.url_template).await;
    admin
        .batch_execute(&format!(
            "CREATE DATABASE \"{db_name}\" TEMPLATE \"{}\"",
            server.template_db
        ))
        .await
        .expect("clone the template database");
    let db_url = with_db(&server.url_template, &db_name);
    let mut config = test_config(&db_url);
    tweak(&mut config);
    spawn_server(config, db_name, db_url).await
}

/// Serves the API with `config` (its database must exist).
pub async fn spawn_server(config: Config, db_name: String, db_url: String) -> TestApp {
    let clock = aidbridge::clock::Clock::settable(chrono::Utc::now());
    let pool_url = config
        .database_url
        .clone()
        .unwrap_or_else(|| db_url.clone());
    let pool = db::build_pool(&pool_url, config.pool_size).unwrap();
    let keys = TokenKeys::from_config(JWT_KEYS, config.token_ttl_seconds).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Application::build(
        config,
        pool,
        keys.clone(),
        data_keys(),
        listener,
        Options {
            workers: 1,
            handle_signals: false,
            clock: clock.clone(),
            // Verify seals on demand; a test of the sealer starts its own.
            background_jobs: false,
        },
    )
    .expect("build the application");
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        // The tests read English messages; Chinese (the default) has tests of its own.
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(
                [(
                    reqwest::header::ACCEPT_LANGUAGE,
                    reqwest::header::HeaderValue::from_static("en"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .unwrap(),
        db_name,
        db_url,
        keys,
        clock,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let url_template = server().url_template.clone();
        let name = self.db_name.clone();
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = admin_connection(&url_template).await;
                let _ = conn
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl TestApp {
    /// The use cases' context on this test's database, as another server instance would have
    /// it (for driving background work and start-up checks directly).
    pub fn service_context(&self) -> aidbridge::service::Context {
        aidbridge::service::Context {
            pool: db::build_pool(&self.db_url, 4).unwrap(),
            read_pool: db::build_pool(&self.db_url, 2).unwrap(),
            keys: data_keys(),
            clock: self.clock.clone(),
            config: std::sync::Arc::new(test_config(&self.db_url)),
            standing: Default::default(),
            hashing: aidbridge::service::hashing_slots(),
            ledger: std::sync::Arc::new(
                aidbridge::service::ledger::LedgerKeys::from_config(AUDIT_KEY, AUDIT_SIGNING_KEY)
                    .unwrap(),
            ),
            recorder: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A direct connection to this test's database, for asserting on stored state.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db_url)
            .await
            .expect("connect to the test database")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.db().await;
        let rows: Vec<Count> = diesel::sql_query(sql).load(&mut conn).await.expect(sql);
        rows[0].n
    }

    pub async fn exec(&self, sql: &str) -> Result<(), diesel::result::Error> {
        let mut conn = self.db().await;
        conn.batch_execute(sql).await
    }

    pub async fn try_token(&self, username: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    /// A token for a demo user (password `aidbridge-demo`; `admin` has ADMIN_PASSWORD).
    pub async fn token(&self, username: &str) -> String {
        let password = if username == "admin" {
            ADMIN_PASSWORD
        } else {
            DEMO_PASSWORD
        };
        let res = self.try_token(username, password).await;
        assert_eq!(res.status(), 200, "sign in as {username}");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self.client.patch(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// The id of a demo organisation by name.
    pub async fn org_id(&self, name: &str) -> String {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = Text)]
            id: String,
        }
        let mut conn = self.db().await;
        let rows: Vec<Id> =
            diesel::sql_query("SELECT id::text AS id FROM organizations WHERE name = $1")
                .bind::<Text, _>(name)
                .load(&mut conn)
                .await
                .unwrap();
        <[Id]>::first(&rows)
            .unwrap_or_else(|| panic!("no organisation {name}"))
            .id
            .clone()
    }
}

/// Reads a problem+json response and checks its shape; returns the body.
pub async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(ct, "application/problem+json", "content type of {body}");
    assert_eq!(body["status"], status, "problem status in {body}");
    assert!(
        body["code"].is_string() && body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

/// The `field` names of a validation problem.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub const CHARITY_USCC: &str = "53230000MJ000123XE";

/// Completes 17 digits with the GB 11643 check character.
pub fn resident_id(first17: &str) -> String {
    format!(
        "{first17}{}",
        aidbridge::domain::resident_id::check_character(first17.as_bytes())
    )
}

pub const ADULT_ID: &str = "230102199003070015";
pub const ADULT_PHONE: &str = "13812345678";

pub fn person_body(id_number: &str, region: &str) -> Value {
    serde_json::json!({
        "name": "张三",
        "id_number": id_number,
        "phone": ADULT_PHONE,
        "region_code": region,
        "household": {"key": "HH-0001", "size": 3, "income_per_capita_fen": 45000},
        "low_income": {"tier": "subsistence_allowance", "certifying_region": "230102001", "valid_from": "2026-01-01"},
        "special_circumstances": ["major_illness", "disabled", "income_loss"],
    })
}

impl TestApp {
    /// Registers a person and returns the response body (asserting 201).
    pub async fn register_person(&self, token: &str, body: &Value) -> Value {
        let res = self.post("/api/v1/persons", Some(token), body).await;
        assert_eq!(res.status(), 201, "register {body}");
        res.json().await.unwrap()
    }

    /// A civil-affairs bureau and user for Qiqihar (2302), outside the Harbin demo data.
    pub async fn qiqihar_token(&self) -> String {
        let admin = self.token("admin").await;
        let uscc = aidbridge::domain::uscc::Uscc::complete("11230200MB000009").unwrap();
        let res = self
            .post(
                "/api/v1/organizations",
                Some(&admin),
                &serde_json::json!({"kind": "civil_affairs_bureau", "name": "齐齐哈尔市民政局", "uscc": uscc, "region_code": "230200"}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let org: Value = res.json().await.unwrap();
        let res = self
            .post(
                &format!("/api/v1/organizations/{}/users", org["id"].as_str().unwrap()),
                Some(&admin),
                &serde_json::json!({"username": "qiqihar.ca", "display_name": "齐齐哈尔", "password": "qiqihar-password", "roles": ["civil_affairs"]}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let res = self.try_token("qiqihar.ca", "qiqihar-password").await;
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn consent(&self, token: &str, person: &str, body: &Value) -> reqwest::Response {
        self.post(
            &format!("/api/v1/persons/{person}/consents"),
            Some(token),
            body,
        )
        .await
    }
}

pub const NOTICE_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A consent body for an organisation recipient.
pub fn consent_to(org: &str, categories: &[&str]) -> Value {
    serde_json::json!({
        "recipient": {"organization_id": org},
        "purposes": ["referral"],
        "data_categories": categories,
        "method": "written",
        "notice_version": "hlj-2024.1",
        "notice_sha256": NOTICE_SHA256,
        "evidence_ref": "scan-2026-0001",
        "given_by": "subject",
    })
}
