//! The CLI twin: every screen's operations, headless, in the same binary.

use std::io::{IsTerminal, Read, Write};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use tollgate_core::console::{Overrides, SecretSource, SecretView};
use tollgate_core::domain::{Environment, SecretKind};
use tollgate_core::{Console, ErrorBody, ErrorCode};

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A desktop console for platforms that bill through Stripe.\n\nWith no subcommand, opens the window."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Which environment: separate keys and a separate store for each.
    #[arg(long, global = true, value_enum, default_value_t = EnvArg::Test, env = "TOLLGATE_ENV")]
    pub env: EnvArg,
    /// Use this database instead of the default SQLite file (overrides TOLLGATE_DATABASE_URL and the keyring).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Stripe API base URL, e.g. a sandbox at http://127.0.0.1:12111 (overrides TOLLGATE_STRIPE_API_BASE).
    #[arg(long, global = true, value_name = "URL")]
    pub stripe_api_base: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvArg {
    Test,
    Live,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The local store.
    #[command(subcommand)]
    Db(DbCommand),
    /// Stripe keys, webhook signing secrets and the database URL, in the OS keyring.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The offline Stripe emulator.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// The catalog (Plans screen).
    #[command(subcommand)]
    Plans(crate::cli_catalog::PlansCommand),
    /// Create prices.
    #[command(subcommand)]
    Prices(crate::cli_catalog::PricesCommand),
    /// Lookup keys: migrate, verify before deploy, resolve.
    #[command(subcommand)]
    LookupKeys(crate::cli_catalog::LookupKeysCommand),
    /// Entitlement features on products.
    #[command(subcommand)]
    Features(crate::cli_catalog::FeaturesCommand),
    /// Mirror Stripe into the store: a backfill the first time (or with --full), then the
    /// events since the last checkpoint.
    Sync {
        /// List everything again (resumes an interrupted backfill).
        #[arg(long)]
        full: bool,
        /// Print the sync state instead of syncing.
        #[arg(long, conflicts_with = "full")]
        status: bool,
    },
    /// The webhook receiver, and the history of test-fired deliveries.
    #[command(subcommand)]
    Webhooks(crate::cli_sync::WebhooksCommand),
    /// Test-fire a signed Stripe event, built from the store's own objects, at any endpoint
    /// (Webhooks screen).
    Trigger(crate::cli_testfire::TriggerArgs),
    /// Send what Stripe sends for a story (signup, renewal, failed renewal, cancellation,
    /// upgrade), or a duplicate, out-of-order or burst delivery.
    Scenario(crate::cli_testfire::ScenarioArgs),
    /// Organizations' subscriptions (Subscriptions screen).
    #[command(subcommand)]
    Subscriptions(crate::cli_sync::SubscriptionsCommand),
    /// PlatformAccess: list, show, drift, resync, grant, revoke (Access screen).
    #[command(subcommand)]
    Access(crate::cli_sync::AccessCommand),
    /// Finance reports: commissions (Commissions screen), the reports' time zone.
    #[command(subcommand)]
    Report(crate::cli_ledger::ReportCommand),
    /// Commission rates per plan type and tier, with the days they cover.
    #[command(subcommand)]
    Rates(crate::cli_ledger::RatesCommand),
    /// Developer tools: generated data for benches and demos.
    #[command(subcommand)]
    Dev(crate::cli_ledger::DevCommand),
    /// The audit log: who changed what, when, in which environment.
    Activity {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations.
    Migrate,
    /// Print where the store is (file path, or the URL with its password masked).
    Path,
    /// Backend, location and schema version.
    Status,
    /// A consistent copy of the store in a new SQLite file (while the app runs, too). A team
    /// database on Postgres is backed up with pg_dump.
    Backup {
        /// The new file.
        file: std::path::PathBuf,
    },
    /// Drop the raw payloads of events older than the retention window (their id, type,
    /// time and object stay, for de-duplication and the timeline) and give the space back.
    /// The app does this once a day.
    Compact {
        /// Days of payloads to keep (1-3650; default: the setting, else 35).
        #[arg(long, value_name = "DAYS", allow_negative_numbers = true)]
        retention_days: Option<i64>,
        /// Keep --retention-days as the setting the app's daily compaction uses.
        #[arg(long)]
        save: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Store a secret; the value is read from standard input, never from the command line.
    Set {
        #[arg(value_enum)]
        kind: KindArg,
    },
    /// Show what is stored, masked.
    Show,
    /// Remove a secret.
    Remove {
        #[arg(value_enum)]
        kind: KindArg,
        /// For webhook secrets: the masked form of the one to remove (as `secrets show` prints it).
        #[arg(long, value_name = "MASKED")]
        which: Option<String>,
    },
    /// Call Stripe with the key in use and print the account it belongs to.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the emulator on 127.0.0.1 until interrupted.
    Serve {
        #[arg(long, default_value_t = tollgate_sandbox::DEFAULT_PORT)]
        port: u16,
        /// The only API key the sandbox accepts.
        #[arg(long, default_value = tollgate_sandbox::DEFAULT_SECRET_KEY)]
        secret_key: String,
        /// What a new sandbox starts with: a believable platform, or nothing.
        #[arg(long, value_enum, default_value_t = SeedArg::Demo)]
        seed: SeedArg,
        /// Keep state here between runs (default: in memory only).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Start from the seed even if the data dir holds state.
        #[arg(long)]
        fresh: bool,
        /// `foreign` answers as a Stripe that is not Tollgate's own: products without fields
        /// newer API versions carry, a field no version has on every object, a subscription's
        /// `metadata[foreign_status]` as its status (switch with POST /_sandbox/dialect).
        #[arg(long, value_enum, default_value_t = DialectArg::Stripe)]
        dialect: DialectArg,
        /// Stripe's rate limiter: at most N /v1 requests a second (reads and writes), past which
        /// Stripe's 429 `rate_limit` (default: no limit; change with POST /_sandbox/rate_limit).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        rate_limit: Option<u32>,
        /// Webhook deliveries in flight at once; 1 delivers one at a time in event order, more
        /// (like Stripe) in no guaranteed order.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        webhook_concurrency: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    Stripe,
    Foreign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeedArg {
    Demo,
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    StripeSecretKey,
    WebhookSecret,
    DatabaseUrl,
}

impl From<KindArg> for SecretKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::StripeSecretKey => SecretKind::StripeSecretKey,
            KindArg::WebhookSecret => SecretKind::WebhookSecret,
            KindArg::DatabaseUrl => SecretKind::DatabaseUrl,
        }
    }
}

impl Cli {
    /// Parses argv; on `--help`/`--version` or a usage error, prints and returns the exit code.
    pub fn parse_args() -> Result<Cli, i32> {
        Cli::try_parse().map_err(|e| {
            let _ = e.print();
            if e.use_stderr() {
                2
            } else {
                0
            }
        })
    }
}

impl GlobalArgs {
    pub fn environment(&self) -> Environment {
        match self.env {
            EnvArg::Test => Environment::Test,
            EnvArg::Live => Environment::Live,
        }
    }

    pub fn console(&self, actor: &'static str) -> Console {
        let mut overrides = Overrides::from_process_env();
        if let Some(url) = &self.database_url {
            overrides.database_url = Some((url.clone(), SecretSource::Flag));
        }
        if let Some(base) = &self.stripe_api_base {
            overrides.stripe_api_base = Some(base.clone());
        }
        let service = std::env::var("TOLLGATE_KEYRING_SERVICE")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| tollgate_core::secrets::DEFAULT_SERVICE.to_owned());
        Console::new(self.environment(), actor, &service, overrides)
    }
}

/// Prints one result in the chosen format: JSON as is; a table or CSV from rows.
pub(crate) fn emit<T: Serialize>(
    format: Format,
    value: &T,
    headers: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<(), ErrorBody> {
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| {
        ErrorBody::new(ErrorCode::Internal, format!("cannot write output: {e}"))
    };
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, value)
                .map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
            writeln!(out).map_err(io)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let csv_err = |e: csv::Error| {
                ErrorBody::new(ErrorCode::Internal, format!("cannot write CSV: {e}"))
            };
            w.write_record(headers).map_err(csv_err)?;
            for row in rows {
                w.write_record(&row).map_err(csv_err)?;
            }
            w.flush().map_err(io)?;
        }
        Format::Table => {
            let widths: Vec<usize> = (0..headers.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                        .chain(std::iter::once(headers[i].len()))
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            writeln!(
                out,
                "{}",
                line(headers.iter().map(|h| h.to_uppercase()).collect())
            )
            .map_err(io)?;
            for row in rows {
                writeln!(out, "{}", line(row)).map_err(io)?;
            }
        }
    }
    Ok(())
}

fn source_name(s: SecretSource) -> String {
    match s {
        SecretSource::Keyring => "keyring",
        SecretSource::Environment => "environment variable",
        SecretSource::Flag => "command-line flag",
    }
    .to_owned()
}

fn read_secret_value(kind: SecretKind, env: Environment) -> Result<String, ErrorBody> {
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        rpassword::prompt_password(format!(
            "{} for the {env} environment (input hidden): ",
            kind.label()
        ))
        .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("cannot read the value: {e}")))?
    } else {
        let mut s = String::new();
        stdin.lock().read_to_string(&mut s).map_err(|e| {
            ErrorBody::new(
                ErrorCode::InvalidInput,
                format!("cannot read the value from standard input: {e}"),
            )
        })?;
        s
    };
    Ok(value.trim().to_owned())
}

pub async fn run(global: &GlobalArgs, command: Command) -> i32 {
    let _span = tracing::info_span!("cli", env = %global.environment()).entered();
    let console = global.console("cli");
    let result = execute(&console, global, command).await;
    // The WAL checkpointed into the file: a copy of the file alone is the whole store.
    console.close().await;
    match result {
        Ok(()) => 0,
        Err(e) => {
            if global.format == Format::Json {
                eprintln!(
                    "{}",
                    serde_json::to_string(&e).unwrap_or_else(|_| e.message.clone())
                );
            } else {
                eprintln!("error: {}", e.message);
            }
            e.exit_code()
        }
    }
}

async fn execute(
    console: &Console,
    global: &GlobalArgs,
    command: Command,
) -> Result<(), ErrorBody> {
    let f = global.format;
    match command {
        Command::Plans(c) => crate::cli_catalog::plans(&console, f, c).await,
        Command::Prices(c) => crate::cli_catalog::prices(&console, f, c).await,
        Command::LookupKeys(c) => crate::cli_catalog::lookup_keys(&console, f, c).await,
        Command::Features(c) => crate::cli_catalog::features(&console, f, c).await,
        Command::Activity { limit } => crate::cli_catalog::activity(&console, f, limit).await,
        Command::Sync { full, status } => crate::cli_sync::sync(&console, f, full, status).await,
        Command::Webhooks(c) => crate::cli_sync::webhooks(&console, f, c).await,
        Command::Trigger(a) => crate::cli_testfire::trigger(&console, f, a).await,
        Command::Scenario(a) => crate::cli_testfire::scenario(&console, f, a).await,
        Command::Subscriptions(c) => crate::cli_sync::subscriptions(&console, f, c).await,
        Command::Access(c) => crate::cli_sync::access(&console, f, c).await,
        Command::Report(c) => crate::cli_ledger::report(&console, f, c).await,
        Command::Rates(c) => crate::cli_ledger::rates(&console, f, c).await,
        Command::Dev(c) => crate::cli_ledger::dev(&console, f, c).await,
        Command::Db(DbCommand::Path) => {
            let info = console.app_info();
            let value = serde_json::json!({ "backend": info.database_backend, "location": info.database_location });
            if f == Format::Table {
                println!("{}", info.database_location);
                Ok(())
            } else {
                emit(
                    f,
                    &value,
                    &["backend", "location"],
                    vec![vec![
                        format!("{:?}", info.database_backend).to_lowercase(),
                        info.database_location,
                    ]],
                )
            }
        }
        Command::Db(DbCommand::Migrate) => {
            let report = console.db_migrate().await?;
            let applied = report
                .applied
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            emit(
                f,
                &report,
                &["location", "applied", "schema_version"],
                vec![vec![
                    report.location.clone(),
                    if applied.is_empty() {
                        "none (up to date)".into()
                    } else {
                        applied
                    },
                    report.schema_version.to_string(),
                ]],
            )
        }
        Command::Db(DbCommand::Compact {
            retention_days,
            save,
        }) => {
            let op = "cli-compact";
            let r = crate::cli_catalog::with_progress(
                console,
                op,
                console.db_compact(retention_days, save, Some(op)),
            )
            .await?;
            emit(
                f,
                &r,
                &[
                    "retention_days",
                    "compacted",
                    "packed",
                    "events",
                    "events_compacted",
                    "kept_for_dirty",
                    "bytes_before",
                    "bytes_after",
                    "vacuum",
                ],
                vec![vec![
                    r.retention_days.to_string(),
                    r.compacted.to_string(),
                    r.packed.to_string(),
                    r.events.to_string(),
                    r.events_compacted.to_string(),
                    r.kept_for_dirty.to_string(),
                    r.bytes_before.to_string(),
                    r.bytes_after.to_string(),
                    r.vacuum.clone(),
                ]],
            )
        }
        Command::Db(DbCommand::Backup { file }) => {
            let r = console.db_backup(&file).await?;
            emit(
                f,
                &r,
                &["file", "bytes", "ms"],
                vec![vec![
                    r.file.clone(),
                    r.bytes.to_string(),
                    r.elapsed_ms.to_string(),
                ]],
            )
        }
        Command::Db(DbCommand::Status) => {
            let s = console.db_status().await?;
            emit(
                f,
                &s,
                &[
                    "backend",
                    "location",
                    "schema_version",
                    "latest_version",
                    "access",
                ],
                vec![vec![
                    format!("{:?}", s.backend).to_lowercase(),
                    s.location.clone(),
                    s.schema_version.to_string(),
                    s.latest_version.to_string(),
                    if s.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    }
                    .into(),
                ]],
            )
        }
        Command::Secrets(SecretsCommand::Set { kind }) => {
            let kind = SecretKind::from(kind);
            let value = read_secret_value(kind, console.environment())?;
            let status = console.set_secret(kind, &value).await?;
            eprintln!(
                "{} stored in the OS keyring for the {} environment.",
                kind.label(),
                status.environment
            );
            Ok(())
        }
        Command::Secrets(SecretsCommand::Remove { kind, which }) => {
            let kind = SecretKind::from(kind);
            let status = console.remove_secret(kind, which.as_deref()).await?;
            eprintln!(
                "{} removed from the OS keyring for the {} environment.",
                kind.label(),
                status.environment
            );
            Ok(())
        }
        Command::Secrets(SecretsCommand::Show) => {
            let s = console.secrets_status();
            let mut rows = Vec::new();
            let mut push = |kind: SecretKind, v: &SecretView| {
                rows.push(vec![
                    kind.as_str().to_owned(),
                    v.masked.0.clone(),
                    source_name(v.source),
                ]);
            };
            if let Some(v) = &s.stripe_secret_key {
                push(SecretKind::StripeSecretKey, v);
            }
            for v in &s.webhook_secrets {
                push(SecretKind::WebhookSecret, v);
            }
            if let Some(v) = &s.database_url {
                push(SecretKind::DatabaseUrl, v);
            }
            if let Some(err) = &s.keyring.error {
                eprintln!("warning: {}", err.message);
            }
            emit(f, &s, &["kind", "value", "source"], rows)
        }
        Command::Secrets(SecretsCommand::Check) => {
            let a = console.check_stripe().await?;
            emit(
                f,
                &a,
                &["account", "name", "country", "charges_enabled"],
                vec![vec![
                    a.id.clone(),
                    a.name.clone(),
                    a.country.clone().unwrap_or_default(),
                    a.charges_enabled.to_string(),
                ]],
            )
        }
        Command::Sandbox(SandboxCommand::Serve {
            port,
            secret_key,
            seed,
            data_dir,
            fresh,
            dialect,
            rate_limit,
            webhook_concurrency,
        }) => {
            let seed = match seed {
                SeedArg::Demo => tollgate_sandbox::Seed::Demo,
                SeedArg::Empty => tollgate_sandbox::Seed::Empty,
            };
            let started = std::time::Instant::now();
            let config = tollgate_sandbox::SandboxConfig {
                port,
                secret_key,
                seed,
                data_dir,
                fresh,
                foreign: dialect == DialectArg::Foreign,
                rate_limit,
                webhook_concurrency: webhook_concurrency.into(),
                ..Default::default()
            };
            let sandbox = tollgate_sandbox::start(config).await.map_err(|e| {
                ErrorBody::new(
                    ErrorCode::Internal,
                    format!("cannot start the sandbox on 127.0.0.1:{port}: {e}"),
                )
            })?;
            let counts = sandbox.counts().await;
            let summary: Vec<String> = counts
                .iter()
                .filter(|(k, _)| {
                    [
                        "customer",
                        "subscription",
                        "price",
                        "payment_intent",
                        "event",
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, n)| format!("{n} {k}s"))
                .collect();
            eprintln!(
                "Stripe sandbox listening on {} ({} ms; {}) — use it with --stripe-api-base {}",
                sandbox.base_url(),
                started.elapsed().as_millis(),
                if summary.is_empty() {
                    "empty".to_owned()
                } else {
                    summary.join(", ")
                },
                sandbox.base_url()
            );
            // Printed on stdout alone so scripts can read the address.
            println!("{}", sandbox.base_url());
            let _ = std::io::stdout().flush();
            // Ctrl-C or a polite kill: stop serving and save the state.
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            sandbox.stop().await;
            Ok(())
        }
    }
}
