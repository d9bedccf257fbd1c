//! `aidbridge [serve|migrate|openapi] [--demo]`: reads configuration, prepares the database
//! (the embedded private cluster when `DATABASE_URL` is unset), migrates, seeds, serves.

use std::net::TcpListener;
use std::process::ExitCode;

use aidbridge::auth::token::TokenKeys;
use aidbridge::config::Config;
use aidbridge::embedded_pg::{self, OwnedCluster, Tuning};
use aidbridge::privacy::DataKeys;
use aidbridge::startup::{Application, Options};
use aidbridge::{db, openapi, secrets, seed};

const USAGE: &str = "usage: aidbridge [serve|migrate|rotate-keys|generate|openapi] [--demo]
  serve        run the API server (default)
  migrate      apply pending migrations and exit
  rotate-keys  re-encrypt every stored identifier under the first AIDBRIDGE_DATA_KEYS key
               (resumable; keep the old key configured after the new one until it is done)
  generate     fill an empty database with a synthetic province for benchmarks (implies
               --demo): --persons N (default 1000000), --seed S (default 1), --id-numbers FILE
               (writes ID numbers of people in 230102, for the load run's look-ups)
  openapi  print the OpenAPI document (commit it as openapi/openapi.json)
  --demo   seed demo organisations and users against DATABASE_URL too
Configuration comes from environment variables; see README.md and .env.example.";

enum Command {
    Serve,
    Migrate,
    RotateKeys,
    /// The options, and where to write the demo district's ID numbers.
    Generate(aidbridge::generate::Options, Option<std::path::PathBuf>),
    OpenApi,
}

fn parse_args() -> Result<(Command, bool), String> {
    let mut command = Command::Serve;
    let mut demo = false;
    let mut generate = aidbridge::generate::Options {
        persons: 1_000_000,
        seed: 1,
    };
    let mut id_numbers = None;
    let (mut generating, mut generate_options) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "serve" => command = Command::Serve,
            "migrate" => command = Command::Migrate,
            "rotate-keys" => command = Command::RotateKeys,
            "generate" => generating = true,
            "openapi" => command = Command::OpenApi,
            "--demo" => demo = true,
            "--persons" => {
                generate_options = true;
                generate.persons = value("--persons")?
                    .parse()
                    .ok()
                    .filter(|n| (1..=50_000_000).contains(n))
                    .ok_or("--persons: a whole number from 1 to 50000000")?
            }
            "--seed" => {
                generate_options = true;
                generate.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed: a whole number")?
            }
            "--id-numbers" => {
                generate_options = true;
                id_numbers = Some(value("--id-numbers")?.into());
            }
            "-h" | "--help" | "help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if generate_options && !generating {
        return Err("--persons, --seed and --id-numbers go with generate".into());
    }
    // Its options may come before or after the command word.
    if generating {
        command = Command::Generate(generate, id_numbers);
        demo = true;
    }
    Ok((command, demo))
}

fn main() -> ExitCode {
    return_large_allocations_to_the_system();
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,actix_server=warn"),
    )
    .init();
    let (command, demo) = match parse_args() {
        Ok(v) => v,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            eprintln!("{USAGE}");
            return if msg.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    if let Command::OpenApi = command {
        print!("{}", openapi::spec_json());
        return ExitCode::SUCCESS;
    }
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    config.demo = demo || config.database_url.is_none();
    match actix_web::rt::System::new().block_on(run(command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aidbridge: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, mut config: Config) -> Result<(), String> {
    let keys_missing = config.jwt_keys.is_none()
        || config.data_keys.is_none()
        || config.hmac_key.is_none()
        || config.audit_key.is_none()
        || config.audit_signing_key.is_none();
    // Before anything touches the database: never generate keys over a real one's data.
    let needs_keys = !matches!(command, Command::Migrate);
    if config.database_url.is_some() && keys_missing && needs_keys && !config.demo {
        return Err(
            "with DATABASE_URL set, AIDBRIDGE_JWT_KEYS, AIDBRIDGE_DATA_KEYS, \
             AIDBRIDGE_HMAC_KEY, AIDBRIDGE_AUDIT_KEY and AIDBRIDGE_AUDIT_SIGNING_KEY must be configured (the same values on every instance; see \
             .env.example for how to generate them), or pass --demo to use keys generated into \
             the data folder"
                .into(),
        );
    }
    // Held until the end so the private cluster stops after the server has drained.
    let mut embedded: Option<OwnedCluster> = None;
    let database_url = match &config.database_url {
        Some(url) => url.clone(),
        None => {
            let bin = embedded_pg::find_bin_dir(config.pg_bin.as_deref())?;
            // initdb and the start wait on child processes: off the async runtime, on a thread
            // that keeps the cluster until the end.
            let data_dir = config.data_dir.clone();
            let pg = tokio::task::spawn_blocking(move || {
                OwnedCluster::start(data_dir, bin, Tuning::default())
            })
            .await
            .map_err(|e| e.to_string())??;
            log::info!(
                "private PostgreSQL in {} on 127.0.0.1:{}",
                pg.data_path().display(),
                pg.port()
            );
            embedded_pg::ensure_database(pg.admin_url(), embedded_pg::DATABASE).await?;
            let url = pg.url().to_owned();
            embedded = Some(pg);
            url
        }
    };
    let applied = db::run_migrations(&database_url).await?;
    for m in &applied {
        log::info!("applied migration {m}");
    }
    if let Command::Migrate = command {
        println!("{} migration(s) applied", applied.len());
        return Ok(());
    }
    let pool = db::build_pool(&database_url, config.pool_size)?;
    let generated = if keys_missing {
        if config.database_url.is_some() {
            log::warn!(
                "demo: using secrets generated into {}; never for real data",
                config.data_dir.display()
            );
        }
        Some(secrets::load_or_generate(&config.data_dir)?)
    } else {
        None
    };
    let pick = |given: &Option<String>, fallback: fn(&secrets::GeneratedSecrets) -> &String| {
        given
            .clone()
            .or_else(|| generated.as_ref().map(|g| fallback(g).clone()))
            .unwrap_or_default()
    };
    let jwt_keys = pick(&config.jwt_keys, |g| &g.jwt_keys);
    config.audit_key = Some(pick(&config.audit_key, |g| &g.audit_key));
    config.audit_signing_key = Some(pick(&config.audit_signing_key, |g| &g.audit_signing_key));
    let ledger = aidbridge::service::ledger::LedgerKeys::from_config(
        config.audit_key.as_deref().unwrap_or_default(),
        config.audit_signing_key.as_deref().unwrap_or_default(),
    )?;
    let data_keys = DataKeys::from_config(
        &pick(&config.data_keys, |g| &g.data_keys),
        &pick(&config.hmac_key, |g| &g.hmac_key),
    )?;
    // Never run with keys the data was not written with.
    let now = aidbridge::clock::Clock::system().now();
    aidbridge::service::keys::check(&pool, &data_keys, now).await?;
    aidbridge::service::keys::check_audit_key(&pool, &ledger, now).await?;
    if let Command::RotateKeys = command {
        let ctx = aidbridge::service::Context {
            read_pool: pool.clone(),
            pool,
            keys: data_keys,
            clock: aidbridge::clock::Clock::system(),
            config: std::sync::Arc::new(config),
            standing: Default::default(),
            hashing: aidbridge::service::hashing_slots(),
            ledger: std::sync::Arc::new(ledger),
            recorder: None,
        };
        let done = aidbridge::service::keys::rotate(&ctx, 500)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "re-encrypted {} person(s) and {} guardian ID number(s) under key {}",
            done.persons,
            done.guardians,
            ctx.keys.active_id()
        );
        return Ok(());
    }
    if let Some(pw) = &config.admin_password {
        if seed::ensure_admin(&pool, pw)
            .await
            .map_err(|e| e.to_string())?
        {
            log::info!(
                "created the administrator account '{}'",
                seed::ADMIN_USERNAME
            );
        }
    }
    if let Command::Generate(..) = &command {
        aidbridge::generate::refuse_unless_empty(&pool).await?;
    }
    if config.demo {
        seed::seed_demo(&pool, config.admin_password.as_deref())
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Command::Generate(options, id_numbers) = &command {
        let generated = aidbridge::generate::run(
            &pool,
            &data_keys,
            &aidbridge::clock::Clock::system(),
            options,
            &mut show_progress,
        )
        .await?;
        // Last, so that the file beside the database means the whole province was written.
        if let Some(path) = id_numbers {
            std::fs::write(path, generated.demo_id_numbers.join("\n") + "\n")
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        for (table, rows) in generated.counts {
            println!("{table:<24} {rows:>10}");
        }
        return Ok(());
    }
    let listener =
        TcpListener::bind(&config.bind).map_err(|e| format!("bind {}: {e}", config.bind))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let keys = TokenKeys::from_config(&jwt_keys, config.token_ttl_seconds)?;
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let demo = config.demo;
    let app = Application::build(
        config,
        pool,
        keys,
        data_keys,
        listener,
        Options {
            workers,
            handle_signals: true,
            clock: aidbridge::clock::Clock::system(),
            background_jobs: true,
        },
    )
    .map_err(|e| e.to_string())?;
    println!("AidBridge (善桥) listening on http://{address}");
    println!("  Swagger UI: http://{address}/swagger-ui/  (Authorize → OAuth2 password flow)");
    if demo {
        println!(
            "  demo logins (password '{}' unless AIDBRIDGE_ADMIN_PASSWORD is set for admin):",
            seed::DEMO_PASSWORD
        );
        for l in seed::DEMO_LOGINS {
            println!("    {:<13} {:<14} {}", l.username, l.role, l.organization);
        }
    }
    let result = app.run_until_stopped().await.map_err(|e| e.to_string());
    if let Some(pg) = embedded.take() {
        log::info!("stopping the private PostgreSQL");
        let _ = tokio::task::spawn_blocking(move || pg.stop()).await;
    }
    result
}

/// The generator's progress on standard error (a line rewritten for the people, one per stage).
fn show_progress(report: aidbridge::generate::Report) {
    use aidbridge::generate::Report;
    match report {
        Report::Persons {
            done,
            total,
            per_second,
        } => {
            eprint!("\rpersons: {done}/{total}, {per_second:.0} rows/s   ");
            if done == total {
                eprintln!();
            }
        }
        Report::Stage {
            name,
            rows,
            seconds,
        } => eprintln!("{name:<44} {rows:>9} rows  {seconds:>6.1} s"),
    }
}

/// glibc raises its mmap threshold after each large block is freed (up to 32 MB), so the
/// 19 MiB Argon2 buffers of sign-ins end up in the heap and stay resident (measured: 122 MB peak
/// RSS under load instead of 77 MB). A fixed threshold keeps such blocks mapped and unmapped.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
