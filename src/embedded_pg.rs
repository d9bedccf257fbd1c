//! A private PostgreSQL cluster run from the machine's server binaries, for the one-command
//! start (no `DATABASE_URL`) and for tests. Initialised on first use, reused afterwards,
//! listening on a free loopback port with a generated password, stopped on shutdown.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DATABASE: &str = "aidbridge";
const SUPERUSER: &str = "aidbridge";

/// How to run the cluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning {
    /// Durability off (fsync, synchronous commit): for throw-away test clusters only.
    pub ephemeral: bool,
    /// Listen on this port (a restart keeps its clients' URLs); `None`: any free port.
    pub port: Option<u16>,
}

pub struct EmbeddedPostgres {
    child: Option<Child>,
    pgdata: PathBuf,
    port: u16,
    password: String,
}

const INSTALL_HINT: &str = "no PostgreSQL server binaries (initdb, postgres) were found. Install them \
(Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql), \
point PG_BIN at the folder that holds them, or set DATABASE_URL to an existing database";

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Finds initdb/postgres: `PG_BIN`, then PATH, then /usr/lib/postgresql/*/bin (newest first).
pub fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return if has_server_binaries(dir) {
            Ok(dir.to_owned())
        } else {
            Err(format!(
                "PG_BIN={} does not contain initdb and postgres",
                dir.display()
            ))
        };
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_server_binaries(d)) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_server_binaries(bin))
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions
        .into_iter()
        .next()
        .map(|(_, p)| p)
        .ok_or_else(|| INSTALL_HINT.to_owned())
}

/// Whether the account `uid` can walk down to `dir` (every folder on the way searchable by it).
fn reachable_by(uid: u32, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().all(|d| match fs::metadata(d) {
        Ok(m) => m.uid() == uid || m.mode() & 0o001 != 0,
        Err(_) => false,
    })
}

/// Where the cluster lives: in the data folder, unless the service account cannot reach it (a
/// clone under `/root`, mode 0700, run as root): then in a folder of its own under
/// `/var/lib/aidbridge`, one per data folder, and the start says where.
fn cluster_home(data_dir: &Path, owner: Option<(u32, u32)>) -> Result<PathBuf, String> {
    let Some((uid, gid)) = owner else {
        return Ok(data_dir.to_path_buf());
    };
    if reachable_by(uid, data_dir) {
        return Ok(data_dir.to_path_buf());
    }
    use sha2::Digest;
    let tag = hex::encode(sha2::Sha256::digest(
        data_dir.as_os_str().as_encoded_bytes(),
    ));
    let base = Path::new("/var/lib/aidbridge");
    let home = base.join(format!("cluster-{}", &tag[..16]));
    fs::create_dir_all(&home).map_err(|e| format!("create {}: {e}", home.display()))?;
    let _ = fs::set_permissions(base, fs::Permissions::from_mode(0o755));
    chown(&home, Some((uid, gid)))?;
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", home.display()))?;
    log::warn!(
        "the postgres account cannot reach {}; the private cluster is kept in {}",
        data_dir.display(),
        home.display()
    );
    Ok(home)
}

/// The unprivileged account to run as when we are root (initdb and postgres refuse root).
fn run_as() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").map_err(|e| e.to_string())?;
    // SAFETY: getpwnam returns null or a pointer to a static record we read immediately.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(
            "running as root needs a 'postgres' system user to run the private database \
                    (PostgreSQL refuses to run as root); create one or run as a normal user"
                .into(),
        );
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    Ok(Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) }))
}

fn command(bin: &Path, program: &str, owner: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(bin.join(program));
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown(path: &Path, owner: Option<(u32, u32)>) -> Result<(), String> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

impl EmbeddedPostgres {
    /// Initialises (first time) and starts the cluster kept in `data_dir`.
    pub fn start(data_dir: &Path, bin: &Path, tuning: Tuning) -> Result<Self, String> {
        let owner = run_as()?;
        fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let pgdata = cluster_home(&data_dir, owner)?.join("pg");
        let password_file = data_dir.join("pg-password");
        if !pgdata.join("PG_VERSION").exists() {
            Self::init(&pgdata, &password_file, bin, owner)?;
        }
        let password = fs::read_to_string(&password_file)
            .map_err(|e| format!("read {}: {e}", password_file.display()))?
            .trim()
            .to_owned();
        let port = match tuning.port {
            Some(p) => p,
            None => free_port()?,
        };
        let log_path = data_dir.join("postgres.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("open {}: {e}", log_path.display()))?;
        let start_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = command(bin, "postgres", owner);
        cmd.arg("-D")
            .arg(&pgdata)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "max_connections=200"]);
        if tuning.ephemeral {
            cmd.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            // Its own process group: Ctrl-C reaches us, and we stop it after the server drained.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it makes the cluster stop if we die without cleanup.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("start postgres: {e}"))?;
        let mut pg = Self {
            child: Some(child),
            pgdata,
            port,
            password,
        };
        pg.wait_ready(&log_path, start_offset)?;
        Ok(pg)
    }

    fn init(
        pgdata: &Path,
        password_file: &Path,
        bin: &Path,
        owner: Option<(u32, u32)>,
    ) -> Result<(), String> {
        log::info!(
            "initialising a private PostgreSQL cluster in {}",
            pgdata.display()
        );
        let password = crate::auth::password::random_secret();
        fs::write(password_file, &password)
            .map_err(|e| format!("write {}: {e}", password_file.display()))?;
        fs::set_permissions(password_file, fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        fs::create_dir_all(pgdata).map_err(|e| e.to_string())?;
        fs::set_permissions(pgdata, fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
        chown(pgdata, owner)?;
        // initdb reads the password from a file the service account can read; removed right after.
        let pwfile = pgdata.with_file_name(".initdb-pwfile");
        fs::write(&pwfile, &password).map_err(|e| e.to_string())?;
        chown(&pwfile, owner)?;
        let out = command(bin, "initdb", owner)
            .arg("-D")
            .arg(pgdata)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale"])
            .args(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(|e| format!("run initdb: {e}"));
        let _ = fs::remove_file(&pwfile);
        let out = out?;
        if !out.status.success() {
            // Leave no half-made cluster behind: the next start initialises afresh.
            let _ = fs::remove_dir_all(pgdata);
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    fn wait_ready(&mut self, log_path: &Path, offset: u64) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut text = String::new();
            if let Ok(mut f) = fs::File::open(log_path) {
                let _ = f.seek(SeekFrom::Start(offset));
                let _ = f.read_to_string(&mut text);
            }
            if text.contains("ready to accept connections") {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "postgres exited ({status}) during start-up:\n{text}"
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "postgres did not become ready within 60 s:\n{text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// URL of a database in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_path(&self) -> &Path {
        &self.pgdata
    }

    /// Fast shutdown: open sessions are ended, then the cluster stops cleanly.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; immediate shutdown when the fast one hangs.
        unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
        let _ = child.wait();
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cluster started by, and kept on, a thread of its own until [`OwnedCluster::stop`].
///
/// The kernel sends the parent-death signal when the *thread* that forked postgres exits, not
/// the process: started from a pooled thread (tokio retires idle blocking threads after ten
/// seconds) the cluster would be told to stop while the server still runs.
pub struct OwnedCluster {
    admin_url: String,
    url: String,
    port: u16,
    data_path: PathBuf,
    stop: std::sync::mpsc::Sender<()>,
    owner: Option<std::thread::JoinHandle<()>>,
}

impl OwnedCluster {
    /// Starts the cluster (blocking until it accepts connections, or failed).
    pub fn start(data_dir: PathBuf, bin: PathBuf, tuning: Tuning) -> Result<Self, String> {
        use std::sync::mpsc;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel::<()>();
        let owner = std::thread::Builder::new()
            .name("embedded-postgres".into())
            .spawn(
                move || match EmbeddedPostgres::start(&data_dir, &bin, tuning) {
                    Ok(mut pg) => {
                        let facts = (
                            pg.url("postgres"),
                            pg.url(DATABASE),
                            pg.port(),
                            pg.data_path().to_path_buf(),
                        );
                        let _ = ready_tx.send(Ok(facts));
                        // Until told to stop, or until the handle is dropped.
                        let _ = stop_rx.recv();
                        pg.stop();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                },
            )
            .map_err(|e| format!("start the PostgreSQL owner thread: {e}"))?;
        let (admin_url, url, port, data_path) = ready_rx.recv().map_err(|_| {
            "the PostgreSQL owner thread ended before the cluster started".to_owned()
        })??;
        Ok(Self {
            admin_url,
            url,
            port,
            data_path,
            stop,
            owner: Some(owner),
        })
    }

    /// URL of the `postgres` database, for creating the application's.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// URL of the application's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Stops the cluster and waits for it (blocking).
    pub fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(owner) = self.owner.take() {
            let _ = owner.join();
        }
    }
}

/// Creates `database` in the cluster if it does not exist yet.
pub async fn ensure_database(admin_url: &str, database: &str) -> Result<(), String> {
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .map_err(|e| format!("connect to the private cluster: {e}"))?;
    let found: Vec<Found> =
        diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(database)
            .load(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    if found.is_empty() {
        conn.batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
