//! The CLI twin, as a script or a person would use it: the real binary, a temp data folder, a
//! private keyring service (inside tests/support/session.sh), the sandbox on port 0.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use tollgate_core::testing::{unique, PgSchema};

struct Cli {
    data: tempfile::TempDir,
    service: String,
    env: Vec<(String, String)>,
}

impl Cli {
    fn new() -> Cli {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "CLI tests need a Secret Service: run them through tests/support/session.sh (make test does)"
        );
        Cli {
            data: tempfile::tempdir().unwrap(),
            service: unique("tollgate-cli"),
            env: Vec::new(),
        }
    }

    fn with_env(mut self, k: &str, v: &str) -> Cli {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The binary with this test's data folder, keyring service and variables, and none of
    /// the machine's own `TOLLGATE_*`.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TOLLGATE_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("TOLLGATE_DATA_DIR", self.data.path())
            .env("TOLLGATE_KEYRING_SERVICE", &self.service)
            .env("TOLLGATE_LOG", "off")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tollgate");
        {
            let mut pipe = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                pipe.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

const KEY: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc4242";

#[test]
fn version_and_usage_errors() {
    let cli = Cli::new();
    let v = cli.run(&["--version"], None);
    assert_eq!(code(&v), 0);
    assert_eq!(
        stdout(&v).trim(),
        format!("tollgate {}", env!("CARGO_PKG_VERSION"))
    );
    let bad = cli.run(&["secrets", "frobnicate"], None);
    assert_eq!(code(&bad), 2, "usage errors exit 2");
    assert!(stderr(&bad).contains("Usage"), "{}", stderr(&bad));
    let bad_format = cli.run(&["--format", "xml", "secrets", "show"], None);
    assert_eq!(code(&bad_format), 2);
}

#[test]
fn a_key_set_from_stdin_is_only_ever_shown_masked() {
    let cli = Cli::new();
    let set = cli.run(
        &["secrets", "set", "stripe-secret-key"],
        Some(&format!("{KEY}\n")),
    );
    assert_eq!(code(&set), 0, "{}", stderr(&set));
    for format in ["table", "json", "csv"] {
        let show = cli.run(&["--format", format, "secrets", "show"], None);
        assert_eq!(code(&show), 0);
        let out = stdout(&show);
        assert!(out.contains("sk_test_…4242"), "{format}: {out}");
        assert!(!out.contains("4eC39"), "{format} leaks the key: {out}");
    }
    let json: serde_json::Value = serde_json::from_slice(
        &cli.run(&["--format", "json", "secrets", "show"], None)
            .stdout,
    )
    .unwrap();
    assert_eq!(json["stripe_secret_key"]["source"], "keyring");
}

#[test]
fn a_live_key_in_the_test_environment_is_refused_and_nothing_is_written() {
    let cli = Cli::new();
    let set = cli.run(
        &["secrets", "set", "stripe-secret-key"],
        Some("sk_live_4eC39HqLyjWDarjtT1zdp7dc4242"),
    );
    assert_eq!(code(&set), 2);
    let err = stderr(&set);
    assert!(
        err.contains("stripe_secret_key") && err.contains("live key"),
        "{err}"
    );
    let show = cli.run(&["--format", "json", "secrets", "show"], None);
    assert!(
        !stdout(&show).contains("stripe_secret_key\""),
        "{}",
        stdout(&show)
    );
    // …and it is welcome in the live environment.
    let live = cli.run(
        &["--env", "live", "secrets", "set", "stripe-secret-key"],
        Some("sk_live_4eC39HqLyjWDarjtT1zdp7dc4242"),
    );
    assert_eq!(code(&live), 0, "{}", stderr(&live));
}

#[test]
fn malformed_values_name_the_field_and_the_rule() {
    let cli = Cli::new();
    let cases = [
        ("stripe-secret-key", "pk_test_abcdefgh", "publishable"),
        ("stripe-secret-key", "", "is empty"),
        ("webhook-secret", "secret_123", "must start with whsec_"),
        (
            "database-url",
            "mysql://db/x",
            "must start with postgres://",
        ),
    ];
    let huge = format!("sk_test_{}", "a".repeat(1024 * 1024));
    let cases = cases.into_iter().chain([
        (
            "stripe-secret-key",
            huge.as_str(),
            "is 1048584 characters long; a Stripe key is at most 255",
        ),
        (
            "database-url",
            "postgres://u@db/x\u{7}",
            "may hold only printable characters",
        ),
    ]);
    for (kind, value, rule) in cases {
        let out = cli.run(&["--format", "json", "secrets", "set", kind], Some(value));
        assert_eq!(code(&out), 2, "{kind}={value:?}");
        let body: serde_json::Value =
            serde_json::from_str(stderr(&out).trim()).expect("JSON error on stderr");
        assert_eq!(body["code"], "invalid_input");
        assert!(body["field"].is_string());
        assert!(body["message"].as_str().unwrap().contains(rule), "{body}");
    }
    let show = cli.run(&["--format", "json", "secrets", "show"], None);
    assert!(
        !stdout(&show).contains("stripe_secret_key\""),
        "nothing was stored: {}",
        stdout(&show)
    );
}

#[test]
fn check_calls_stripe_and_reports_the_account_or_the_exact_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(Default::default()))
        .unwrap();
    let base = sandbox.base_url();
    let cli = Cli::new();
    let missing = cli.run(&["--stripe-api-base", &base, "secrets", "check"], None);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("no Stripe secret key is set"),
        "{}",
        stderr(&missing)
    );

    cli.run(
        &["secrets", "set", "stripe-secret-key"],
        Some("sk_test_sandbox"),
    );
    let ok = cli.run(
        &[
            "--stripe-api-base",
            &base,
            "--format",
            "json",
            "secrets",
            "check",
        ],
        None,
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let account: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(account["name"], "Tollgate Sandbox");

    cli.run(&["secrets", "set", "stripe-secret-key"], Some(KEY));
    let bad = cli.run(&["--stripe-api-base", &base, "secrets", "check"], None);
    assert_eq!(code(&bad), 1);
    assert!(
        stderr(&bad).contains("Invalid API Key provided: sk_test_"),
        "{}",
        stderr(&bad)
    );
    assert!(
        !stderr(&bad).contains("4eC39"),
        "the key never shows in errors"
    );

    let down = cli.run(
        &[
            "--stripe-api-base",
            "http://127.0.0.1:1",
            "--format",
            "json",
            "secrets",
            "check",
        ],
        None,
    );
    assert_eq!(code(&down), 1);
    let body: serde_json::Value = serde_json::from_str(stderr(&down).trim()).unwrap();
    assert_eq!(body["code"], "stripe_unreachable");
    drop(sandbox);
}

#[test]
fn environment_variables_override_the_keyring() {
    let cli = Cli::new().with_env(
        "TOLLGATE_STRIPE_SECRET_KEY",
        "rk_test_fromtheenvironment7777",
    );
    let show = cli.run(&["secrets", "show"], None);
    let out = stdout(&show);
    assert!(
        out.contains("rk_test_…7777") && out.contains("environment variable"),
        "{out}"
    );
    let wrong_mode = Cli::new().with_env(
        "TOLLGATE_STRIPE_SECRET_KEY",
        "sk_live_fromtheenvironment7777",
    );
    let check = wrong_mode.run(
        &[
            "--stripe-api-base",
            "http://127.0.0.1:1",
            "secrets",
            "check",
        ],
        None,
    );
    assert_eq!(code(&check), 2);
    assert!(
        stderr(&check).contains("TOLLGATE_STRIPE_SECRET_KEY"),
        "{}",
        stderr(&check)
    );
}

#[test]
fn a_missing_keyring_is_a_clear_error_and_env_vars_still_work() {
    let cli = Cli::new().with_env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/tollgate-bus",
    );
    let set = cli.run(&["secrets", "set", "stripe-secret-key"], Some(KEY));
    assert_eq!(code(&set), 1);
    assert!(
        stderr(&set).contains("keyring is not available"),
        "{}",
        stderr(&set)
    );
    let cli = cli.with_env("TOLLGATE_STRIPE_SECRET_KEY", KEY);
    let show = cli.run(&["secrets", "show"], None);
    assert_eq!(code(&show), 0);
    assert!(stdout(&show).contains("sk_test_…4242"));
    assert!(stderr(&show).contains("keyring is not available"));
}

#[test]
fn the_default_store_is_a_sqlite_file_in_the_data_folder() {
    let cli = Cli::new();
    let path = cli.run(&["db", "path"], None);
    let expected = cli.data.path().join("test.sqlite3");
    assert_eq!(stdout(&path).trim(), expected.display().to_string());
    let live = cli.run(&["--env", "live", "db", "path"], None);
    assert!(
        stdout(&live).trim().ends_with("live.sqlite3"),
        "one file per environment"
    );
    let migrate = cli.run(&["--format", "json", "db", "migrate"], None);
    assert_eq!(code(&migrate), 0, "{}", stderr(&migrate));
    let latest = tollgate_core::store::latest_version(tollgate_core::store::Backend::Sqlite);
    let report: serde_json::Value = serde_json::from_slice(&migrate.stdout).unwrap();
    assert_eq!(
        report["applied"],
        serde_json::json!((1..=latest).collect::<Vec<_>>()),
        "a new database says what it applied: {report}"
    );
    assert_eq!(report["schema_version"], latest);
    let again = cli.run(&["db", "migrate"], None);
    assert!(
        stdout(&again).contains("none (up to date)"),
        "{}",
        stdout(&again)
    );
    assert!(expected.exists());
    let status: serde_json::Value =
        serde_json::from_slice(&cli.run(&["--format", "json", "db", "status"], None).stdout)
            .unwrap();
    assert_eq!(status["backend"], "sqlite");
    assert_eq!(status["schema_version"], status["latest_version"]);
}

#[test]
fn a_corrupt_database_is_reported_and_left_alone_and_the_rest_still_works() {
    let cli = Cli::new();
    let file = cli.data.path().join("test.sqlite3");
    let junk = b"not a database ".repeat(500);
    std::fs::write(&file, &junk).unwrap();
    let migrate = cli.run(&["db", "migrate"], None);
    assert_eq!(code(&migrate), 1);
    assert!(stderr(&migrate).contains("damaged"), "{}", stderr(&migrate));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        junk,
        "the damaged file is not touched"
    );
    let set = cli.run(&["secrets", "set", "stripe-secret-key"], Some(KEY));
    assert_eq!(
        code(&set),
        0,
        "secrets still work without a store: {}",
        stderr(&set)
    );
}

#[test]
fn team_mode_on_postgres_and_a_postgres_that_is_down() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let schema = rt.block_on(PgSchema::new());
    let cli = Cli::new();
    let migrate = cli.run(&["--database-url", &schema.url, "db", "migrate"], None);
    assert_eq!(code(&migrate), 0, "{}", stderr(&migrate));
    let status: serde_json::Value = serde_json::from_slice(
        &cli.run(
            &[
                "--database-url",
                &schema.url,
                "--format",
                "json",
                "db",
                "status",
            ],
            None,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(status["backend"], "postgres");
    assert_eq!(
        status["schema_version"],
        tollgate_core::store::latest_version(tollgate_core::store::Backend::Postgres)
    );

    // A team database that cannot be reached is not stored.
    let set = cli.run(
        &["secrets", "set", "database-url"],
        Some("postgres://ops:hunter2@127.0.0.1:1/test"),
    );
    assert_eq!(code(&set), 1);
    assert!(
        stderr(&set).contains("cannot be reached"),
        "{}",
        stderr(&set)
    );
    let show = cli.run(&["--format", "json", "secrets", "show"], None);
    assert!(
        !stdout(&show).contains("database_url"),
        "nothing half-written: {}",
        stdout(&show)
    );
    let set = cli.run(&["secrets", "set", "database-url"], Some(&schema.url));
    assert_eq!(code(&set), 0, "{}", stderr(&set));
    let status: serde_json::Value =
        serde_json::from_slice(&cli.run(&["--format", "json", "db", "status"], None).stdout)
            .unwrap();
    assert_eq!(
        status["backend"], "postgres",
        "the keyring's database URL is used"
    );

    let down = cli.run(
        &[
            "--database-url",
            "postgres://ops:hunter2@127.0.0.1:1/test",
            "db",
            "status",
        ],
        None,
    );
    assert_eq!(code(&down), 1);
    let err = stderr(&down);
    assert!(
        err.contains("cannot be reached") && !err.contains("hunter2"),
        "{err}"
    );
    drop(schema);
}

/// The Plans screen's twin: list with features, the seed 002 map applied twice, verify as a
/// deploy gate, resolve, create with bad input, the activity log.
#[test]
fn plans_lookup_keys_and_prices_from_the_command_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            ..Default::default()
        }))
        .unwrap();
    let cli = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &sandbox.base_url())
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox");
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };

    let list = cli.run(&["plans", "list", "--format", "json"], None);
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let plans: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let top = plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lookup_key"] == "top-expert-monthly")
        .unwrap();
    assert_eq!(top["features"].as_array().unwrap().len(), 5);
    assert_eq!(top["unit_amount"], 5900);
    let csv = cli.run(&["plans", "list", "--offline", "--format", "csv"], None);
    assert!(stdout(&csv).starts_with("price,product,lookup_key,tier,audience,interval,pricing"));
    assert!(stdout(&csv).contains("no lookup key"));

    let map = file(
        "map.json",
        r#"{"price_1SQbV5K5Ap4Um3SpD65qOwZB": "community-expert-monthly",
            "price_1SQXF5K5Ap4Um3SpekZpC9fQ": "community-expert-annual",
            "price_1SQbV6K5Ap4Um3SpwFKRCoJo": "top-expert-monthly",
            "price_1SQXF5K5Ap4Um3SpzT4S3agl": "top-expert-annual",
            "price_1SQXF5K5Ap4Um3SpQCBwSFml": "lecturer-module-annual"}"#,
    );
    let dry = cli.run(&["lookup-keys", "apply", &map, "--dry-run"], None);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert!(
        stderr(&dry).contains("2 unchanged, 3 assign"),
        "{}",
        stderr(&dry)
    );
    let apply = cli.run(&["lookup-keys", "apply", &map], None);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));
    assert!(stderr(&apply).contains("3 applied"), "{}", stderr(&apply));
    assert!(
        stderr(&apply).contains("applying 3/3"),
        "progress on stderr: {}",
        stderr(&apply)
    );
    let again = cli.run(&["lookup-keys", "apply", &map], None);
    assert!(stderr(&again)
        .contains("5 unchanged, 0 assign, 0 transfer, 0 conflict, 0 invalid; 0 applied"));

    let good = file(
        "ok.json",
        r#"[{"lookup_key": "top-expert-annual", "amount": 56600, "currency": "eur", "interval": "year"}]"#,
    );
    assert_eq!(code(&cli.run(&["lookup-keys", "verify", &good], None)), 0);
    let bad = file(
        "bad.json",
        r#"[{"lookup_key": "top-expert-annual", "amount": 56600, "currency": "eur", "interval": "year"},
                                  {"lookup_key": "community-expert-monthly", "amount": 4900, "currency": "eur", "interval": "month"}]"#,
    );
    let red = cli.run(&["lookup-keys", "verify", &bad], None);
    assert_eq!(code(&red), 1, "a red key gates the deploy");
    assert!(
        stdout(&red).contains("amount is EUR 25.00, expected EUR 49.00"),
        "{}",
        stdout(&red)
    );
    let malformed = file(
        "m.json",
        r#"[{"lookup_key": "top-expert-annual", "amount": "lots", "currency": "eur", "interval": "year"}]"#,
    );
    let m = cli.run(&["lookup-keys", "verify", &malformed], None);
    assert_eq!(code(&m), 2);
    assert!(stderr(&m).contains("expected[0].amount"), "{}", stderr(&m));

    let resolved = cli.run(
        &[
            "lookup-keys",
            "resolve",
            "lecturer-module-annual",
            "--format",
            "json",
        ],
        None,
    );
    let r: serde_json::Value = serde_json::from_slice(&resolved.stdout).unwrap();
    assert_eq!(
        r["resolutions"][0]["price"]["price_id"],
        "price_1SQXF5K5Ap4Um3SpQCBwSFml"
    );

    let neg = cli.run(
        &[
            "prices",
            "create",
            "--product-name",
            "Partner Clinic",
            "--amount",
            "-100",
            "--currency",
            "eur",
            "--interval",
            "month",
            "--lookup-key",
            "partner-clinic-monthly-v2",
        ],
        None,
    );
    assert_eq!(code(&neg), 2);
    assert!(
        stderr(&neg).contains("amount: must not be negative"),
        "{}",
        stderr(&neg)
    );
    let create = [
        "prices",
        "create",
        "--product-name",
        "Partner Clinic",
        "--amount",
        "2900",
        "--currency",
        "eur",
        "--interval",
        "month",
        "--lookup-key",
        "partner-clinic-monthly-v2",
        "--commission-bps",
        "900",
        "--feature",
        "analytics_access",
        "--format",
        "json",
    ];
    let ok = cli.run(&create, None);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let created: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(created["plan"]["lookup_key"], "partner-clinic-monthly-v2");
    assert_eq!(created["already_created"], false);
    assert_eq!(
        created["plan"]["features"][0]["lookup_key"],
        "analytics_access"
    );
    // Run again, as its --help promises: the same price, exit 0, nothing written.
    let again = cli.run(&create, None);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let same: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(same["plan"]["price_id"], created["plan"]["price_id"]);
    assert_eq!(same["already_created"], true);
    assert!(
        stderr(&again).contains("already created"),
        "{}",
        stderr(&again)
    );
    // Another request for the key (another amount) is still refused: the key is held.
    let product = created["plan"]["product_id"].as_str().unwrap().to_owned();
    let mut other = create;
    other[2] = "--product";
    other[3] = &product;
    other[5] = "3100";
    let held = cli.run(&other, None);
    assert_eq!(code(&held), 2, "{}", stderr(&held));
    assert!(stderr(&held).contains("is held by"), "{}", stderr(&held));

    let log = cli.run(&["activity", "--format", "json"], None);
    let entries: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let actions: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "lookup_key.assign")
            .count(),
        3
    );
    assert_eq!(actions[0], "price.create");
    rt.block_on(sandbox.stop());
}

/// Runs `tollgate args` and SIGKILLs it once `sql` counts `at_least` in its store (mid-way);
/// returns false if it had already finished.
fn kill_when(
    cli: &Cli,
    args: &[&str],
    rt: &tokio::runtime::Runtime,
    db: &std::path::Path,
    sql: &str,
    at_least: i64,
) -> bool {
    let mut child = cli
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let count = |sql: &str| -> i64 {
        rt.block_on(async {
            let Ok(pool) = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect(&format!("sqlite://{}?mode=ro", db.display()))
                .await
            else {
                return 0;
            };
            let n = sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            pool.close().await;
            n
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if db.exists() && count(sql) >= at_least {
            child.kill().unwrap(); // SIGKILL: no destructor, no rollback hook, no goodbye
            child.wait().unwrap();
            return true;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} never reached {at_least}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A real kill, twice: SIGKILL in the middle of the backfill, then in the middle of the events
/// cursor; each next run resumes, and in the end nothing is lost or doubled.
#[test]
fn sync_killed_mid_backfill_and_mid_events_page_resumes_without_loss_or_doubles() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            ..Default::default()
        }))
        .unwrap();
    let base = sandbox.base_url();
    let populated = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/_sandbox/populate"))
            .bearer_auth("sk_test_sandbox")
            .form(&[
                ("count", "3000"),
                ("price", "price_1SQbV5K5Ap4Um3SpD65qOwZB"),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(populated.is_success());
    let cli = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &base)
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox");
    let db = cli.data.path().join("test.sqlite3");

    assert!(
        kill_when(
            &cli,
            &["sync", "--full"],
            &rt,
            &db,
            "SELECT count(*) FROM customers",
            400
        ),
        "the backfill finished before the kill: nothing was tested"
    );
    let status = cli.run(&["--format", "json", "sync", "--status"], None);
    let state: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(state["backfill_pending"], true, "{state}");

    // The resumed run finishes the backfill, then is killed inside the events cursor.
    let killed_in_cursor = kill_when(
        &cli,
        &["sync"],
        &rt,
        &db,
        "SELECT count(*) FROM stripe_events",
        2000,
    );

    let last = cli.run(&["--format", "json", "sync"], None);
    assert_eq!(code(&last), 0, "{}", stderr(&last));
    // The killed runs held the sync lease: a dead holder frees it at once.
    let report: serde_json::Value = serde_json::from_slice(&last.stdout).unwrap();
    assert_eq!(
        report["waited_for"],
        serde_json::Value::Null,
        "no wait for a killed process: {report}"
    );
    let state: serde_json::Value = serde_json::from_slice(
        &cli.run(&["--format", "json", "sync", "--status"], None)
            .stdout,
    )
    .unwrap();
    assert_eq!(state["backfill_pending"], false, "{state}");
    assert_eq!(
        state["organizations"], 3300,
        "300 demo + 3,000 populated: {state}"
    );
    assert_eq!(state["subscriptions"], 3312, "{state}");
    assert_eq!(state["dirty"], 0, "{state}");
    let counts = rt.block_on(async {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap();
        let q = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        (
            q("SELECT count(*) FROM customers").await,
            q("SELECT count(DISTINCT stripe_id) FROM customers").await,
            q("SELECT count(*) FROM platform_access").await,
        )
    });
    assert_eq!(counts.0, 3300);
    assert_eq!(counts.0, counts.1);
    assert!(counts.2 >= 3300, "{counts:?}");
    let drift = cli.run(&["access", "drift"], None);
    assert_eq!(
        code(&drift),
        0,
        "no drift after the kills: {}",
        stdout(&drift)
    );
    eprintln!(
        "killed in the cursor too: {killed_in_cursor}; access rows {}",
        counts.2
    );
    drop(sandbox);
}

/// A real kill in the middle of a list sweep (settle reading 3,312 changed subscriptions by
/// Stripe's list) and in the middle of a ledger compaction: each next run finishes, nothing is
/// lost or doubled, and the sweep's result is Stripe's (no drift). Runs alone (.config/nextest.toml).
#[test]
fn a_list_sweep_and_a_compaction_killed_midway_resume_without_loss() {
    use tollgate_core::store::{Store, StoreTarget};
    use tollgate_core::sync::{Event, Processor};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            ..Default::default()
        }))
        .unwrap();
    let base = sandbox.base_url();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{base}/_sandbox/populate"))
            .bearer_auth("sk_test_sandbox")
            .form(&[
                ("count", "3000"),
                ("price", "price_1SQbV5K5Ap4Um3SpD65qOwZB"),
            ])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });
    let cli = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &base)
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox");
    let db = cli.data.path().join("test.sqlite3");
    let full = cli.run(&["sync", "--full"], None);
    assert_eq!(code(&full), 0, "{}", stderr(&full));
    // Every subscription changed (an event each, as renewal day brings): all dirty.
    let count = |sql: &'static str| -> i64 {
        rt.block_on(async {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .connect(&format!("sqlite://{}?mode=ro", db.display()))
                .await
                .unwrap();
            let n = sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        })
    };
    let now = tollgate_core::store::now_seconds();
    rt.block_on(async {
        let store = Store::open(&StoreTarget::SqliteFile(db.clone())).await.unwrap();
        let subs: Vec<String> =
            sqlx::query_scalar("SELECT stripe_subscription_id FROM org_subscriptions")
                .fetch_all(store.pool())
                .await
                .unwrap();
        let p = Processor::new(store.clone(), std::sync::Arc::new(tollgate_core::testing::Offline), vec!["organization_id".into()]);
        let changed: Vec<Event> = subs
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let v = serde_json::json!({"id": format!("evt_sweep{i:06}"), "object": "event", "type": "customer.subscription.updated",
                    "created": now, "data": {"object": {"id": id, "object": "subscription"}}});
                Event::from_value(&v, v.to_string()).unwrap()
            })
            .collect();
        p.ingest(&changed, "webhook").await.unwrap();
        // And 20,000 events from 100 days ago that touch nothing: compaction's work.
        let pad = "x".repeat(1500);
        let old: Vec<Event> = (0..20_000)
            .map(|i| {
                let v = serde_json::json!({"id": format!("evt_old{i:06}"), "object": "event", "type": "payout.paid",
                    "created": now - 100 * 86_400 + i, "data": {"object": {"id": format!("po_{i:06}"), "object": "payout", "description": pad}}});
                Event::from_value(&v, v.to_string()).unwrap()
            })
            .collect();
        for chunk in old.chunks(5000) {
            p.ingest(chunk, "cursor").await.unwrap();
        }
        store.close().await;
    });
    let dirty = count("SELECT count(*) FROM dirty_objects");
    assert_eq!(dirty, 3312, "every subscription awaits a read");
    let events = count("SELECT count(*) FROM stripe_events");

    assert!(
        kill_when(
            &cli,
            &["sync"],
            &rt,
            &db,
            "SELECT 3312 - count(*) FROM dirty_objects",
            200
        ),
        "the sweep finished before the kill: nothing was tested"
    );
    let left = count("SELECT count(*) FROM dirty_objects");
    assert!(left > 0 && left < 3312, "killed mid-sweep: {left} left");
    let again = cli.run(&["--format", "json", "sync"], None);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(
        report["settle"]["list_pages"].as_u64().unwrap() > 0,
        "read by list: {report}"
    );
    assert!(
        report["settle"]["object_reads"].as_u64().unwrap() < 100,
        "not one read per object: {report}"
    );
    assert_eq!(count("SELECT count(*) FROM dirty_objects"), 0);
    assert_eq!(count("SELECT count(*) FROM org_subscriptions"), 3312);
    let drift = cli.run(&["access", "drift"], None);
    assert_eq!(
        code(&drift),
        0,
        "no drift after the killed sweep: {}",
        stdout(&drift)
    );

    // Bad input names the field and the rule, and compacts nothing.
    let bad = cli.run(&["db", "compact", "--retention-days", "0"], None);
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("retention_days") && stderr(&bad).contains("1 to 3650"),
        "{}",
        stderr(&bad)
    );
    let bad = cli.run(&["db", "compact", "--save"], None);
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
    assert_eq!(count("SELECT count(compacted_at) FROM stripe_events"), 0);

    assert!(
        kill_when(
            &cli,
            &["db", "compact"],
            &rt,
            &db,
            "SELECT count(compacted_at) FROM stripe_events",
            2000
        ),
        "the compaction finished before the kill: nothing was tested"
    );
    let done = count("SELECT count(compacted_at) FROM stripe_events");
    assert!(done < 20_000, "killed mid-compaction: {done}");
    assert_eq!(
        count("SELECT count(*) FROM stripe_events"),
        events,
        "nothing lost"
    );
    let out = cli.run(&["--format", "json", "db", "compact"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["events_compacted"], 20_000, "{r}");
    assert_eq!(r["events"].as_i64().unwrap(), events, "{r}");
    assert!(
        r["bytes_after"].as_u64().unwrap() < r["bytes_before"].as_u64().unwrap(),
        "{r}"
    );
    assert_eq!(count("SELECT count(*) FROM stripe_events WHERE created < strftime('%s','now') - 35 * 86400 AND compacted_at IS NULL"), 0);
    drop(sandbox);
}

/// `tollgate dev seed --commissions`, `report commissions` in every format with its bad input,
/// `--rows`, `--export`, the time zone, and `rates` refusing an overlap.
#[test]
fn commission_reports_rates_and_seed_from_the_command_line() {
    let cli = Cli::new();
    let seed = cli.run(
        &["--format", "json", "dev", "seed", "--commissions", "5000"],
        None,
    );
    assert_eq!(code(&seed), 0, "{}", stderr(&seed));
    let seeded: serde_json::Value = serde_json::from_slice(&seed.stdout).unwrap();
    assert!(seeded["commission_rows"].as_u64().unwrap() >= 5000);
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Duration::days(366)).to_string();
    let to = today.to_string();
    let json = cli.run(
        &[
            "--format",
            "json",
            "report",
            "commissions",
            "--from",
            &from,
            "--to",
            &to,
            "--group-by",
            "month,tier",
            "--currency",
            "eur",
        ],
        None,
    );
    assert_eq!(code(&json), 0, "{}", stderr(&json));
    let r: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let groups = r["groups"].as_array().unwrap();
    assert!(
        groups.len() >= 24,
        "12 or 13 months by 2 tiers: {}",
        groups.len()
    );
    assert!(groups
        .iter()
        .all(|g| g["currency"] == "eur" && g["period"].as_str().unwrap().len() == 7));
    let total: i64 = groups
        .iter()
        .map(|g| g["commission"].as_i64().unwrap())
        .sum();
    assert_eq!(total, r["totals"][0]["commission"].as_i64().unwrap());
    // The overview's twin: twelve months; this month's commissions per currency are its
    // trend's last month, and the table prints them with their trend.
    let ov = cli.run(&["--format", "json", "report", "overview"], None);
    assert_eq!(code(&ov), 0, "{}", stderr(&ov));
    let o: serde_json::Value = serde_json::from_slice(&ov.stdout).unwrap();
    assert_eq!(o["months"].as_array().unwrap().len(), 12);
    let eur = o["commissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "eur")
        .expect("eur commissions");
    let trend = eur["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 12);
    assert_eq!(eur["this_month"], trend[11]);
    assert_eq!(eur["last_month"], trend[10]);
    let ov_table = cli.run(&["report", "overview"], None);
    assert_eq!(code(&ov_table), 0, "{}", stderr(&ov_table));
    let line = stdout(&ov_table)
        .lines()
        .find(|l| l.contains("commissions this month EUR"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{}", stdout(&ov_table)));
    assert_eq!(line.split_whitespace().count(), 4 + 2 + 12, "{line}");
    let table = cli.run(
        &[
            "report",
            "commissions",
            "--from",
            &from,
            "--to",
            &to,
            "--group-by",
            "quarter,plan_type",
        ],
        None,
    );
    assert_eq!(code(&table), 0, "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.starts_with("QUARTER") && text.contains("-Q") && text.contains("total"),
        "{text}"
    );
    let csv = cli.run(
        &[
            "--format",
            "csv",
            "report",
            "commissions",
            "--from",
            &from,
            "--to",
            &to,
            "--group-by",
            "week",
        ],
        None,
    );
    assert!(
        stdout(&csv).starts_with("week,currency,charges"),
        "{}",
        stdout(&csv)
    );
    // Bad input names the field; an empty period says so.
    for (args, field) in [
        (vec!["--from", "2026-12-31", "--to", "2026-01-01"], "to:"),
        (
            vec![
                "--from",
                "2026-01-01",
                "--to",
                "2026-02-01",
                "--group-by",
                "colour",
            ],
            "group_by:",
        ),
        (
            vec![
                "--from",
                "2026-01-01",
                "--to",
                "2026-02-01",
                "--currency",
                "xyz",
            ],
            "currency:",
        ),
        (vec!["--from", "01/02/2026", "--to", "2026-02-01"], "from:"),
    ] {
        let mut all = vec!["report", "commissions"];
        all.extend(args);
        let o = cli.run(&all, None);
        assert_eq!(code(&o), 2, "{all:?}");
        assert!(stderr(&o).contains(field), "{all:?}: {}", stderr(&o));
    }
    let empty = cli.run(
        &[
            "report",
            "commissions",
            "--from",
            "2040-01-01",
            "--to",
            "2040-12-31",
        ],
        None,
    );
    assert_eq!(code(&empty), 0);
    assert!(
        stderr(&empty).contains("No commissions from 2040-01-01 to 2040-12-31"),
        "{}",
        stderr(&empty)
    );
    // The rows behind a report, and the same rows exported.
    let rows = cli.run(
        &[
            "--format",
            "json",
            "report",
            "commissions",
            "--from",
            &from,
            "--to",
            &to,
            "--flagged",
            "--rows",
        ],
        None,
    );
    let rows: serde_json::Value = serde_json::from_slice(&rows.stdout).unwrap();
    let flagged = rows.as_array().unwrap();
    assert!(!flagged.is_empty() && flagged.iter().all(|r| r["flagged"] == true));
    let file = cli.data.path().join("flagged.csv");
    let export = cli.run(
        &[
            "report",
            "commissions",
            "--from",
            &from,
            "--to",
            &to,
            "--flagged",
            "--export",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code(&export), 0, "{}", stderr(&export));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), flagged.len() + 1);
    // Another time zone moves days, and says how many rows moved.
    let tz = cli.run(
        &[
            "--format",
            "json",
            "report",
            "time-zone",
            "America/Los_Angeles",
        ],
        None,
    );
    let tz: serde_json::Value = serde_json::from_slice(&tz.stdout).unwrap();
    assert_eq!(tz["time_zone"], "America/Los_Angeles");
    assert!(tz["rows_moved_to_another_day"].as_u64().unwrap() > 0);
    let bad = cli.run(&["report", "time-zone", "Mars/Olympus"], None);
    assert_eq!(code(&bad), 2);
    assert!(stderr(&bad).contains("time_zone:"), "{}", stderr(&bad));
    // Rates: an overlap is refused with the rate in the way; ended, the new one fits.
    let overlap = cli.run(
        &[
            "rates",
            "add",
            "--plan-type",
            "monthly",
            "--tier",
            "top",
            "--rate",
            "9",
            "--from",
            "2030-01-01",
        ],
        None,
    );
    assert_eq!(code(&overlap), 2);
    assert!(
        stderr(&overlap).contains("overlaps rate #"),
        "{}",
        stderr(&overlap)
    );
    let list: serde_json::Value =
        serde_json::from_slice(&cli.run(&["--format", "json", "rates", "list"], None).stdout)
            .unwrap();
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["plan_type"] == "monthly" && r["tier"] == "top")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_eq!(
        code(&cli.run(&["rates", "end", &id, "--at", "2030-01-01"], None)),
        0
    );
    let added = cli.run(
        &[
            "rates",
            "add",
            "--plan-type",
            "monthly",
            "--tier",
            "top",
            "--rate",
            "9",
            "--from",
            "2030-01-01",
        ],
        None,
    );
    assert_eq!(code(&added), 0, "{}", stderr(&added));
    assert!(stdout(&added).contains("9.00 %"));
    let bad_rate = cli.run(
        &[
            "rates",
            "add",
            "--plan-type",
            "monthly",
            "--tier",
            "top",
            "--rate",
            "12.345",
            "--from",
            "2031-01-01",
        ],
        None,
    );
    assert!(stderr(&bad_rate).contains("rate:"), "{}", stderr(&bad_rate));
}

/// `tollgate trigger` and `scenario` against `tollgate webhooks serve` (another process) after
/// a real sync: real ids, every signing mode's exit code, `--print`'s exact request, bad input
/// (exit 2, nothing recorded), the history and a replay.
#[test]
fn trigger_and_scenarios_from_the_command_line() {
    use std::io::{BufRead, BufReader};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            ..Default::default()
        }))
        .unwrap();
    let whsec = "whsec_cli0trigger0secret0123";
    let cli = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &sandbox.base_url())
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox")
        .with_env("TOLLGATE_WEBHOOK_SECRET", whsec);
    let list = cli.run(&["trigger", "--list", "--format", "json"], None);
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let catalog: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(catalog.as_array().unwrap().len() >= 25);
    let sync = cli.run(&["sync", "--full"], None);
    assert_eq!(code(&sync), 0, "{}", stderr(&sync));

    let mut serve = cli
        .command(&["webhooks", "serve", "--port", "0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(serve.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();

    // --print: one JSON object, the exact body, a signature the receiver's check accepts.
    let org = cli.run(
        &[
            "--format",
            "json",
            "subscriptions",
            "list",
            "--status",
            "active",
            "--limit",
            "1",
        ],
        None,
    );
    let org: serde_json::Value = serde_json::from_slice(&org.stdout).unwrap();
    let org_id = org[0]["org_id"].as_str().unwrap().to_owned();
    let customer = org[0]["customer_id"].as_str().unwrap().to_owned();
    let p = cli.run(
        &[
            "trigger",
            "invoice.payment_failed",
            "--org",
            &org_id,
            "--to",
            &url,
            "--set",
            "data.object.attempt_count=2",
            "--print",
        ],
        None,
    );
    assert_eq!(code(&p), 0, "{}", stderr(&p));
    assert_eq!(stdout(&p).lines().count(), 1, "one JSON object");
    let p: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    assert_eq!(p["url"], url.as_str());
    let body = p["body"].as_str().unwrap();
    let ev: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        ev["data"]["object"]["customer"],
        customer.as_str(),
        "the organization's own customer"
    );
    assert_eq!(ev["data"]["object"]["attempt_count"], 2);
    let sig = p["headers"]["stripe-signature"].as_str().unwrap();
    let t: i64 = sig.split(',').next().unwrap()[2..].parse().unwrap();
    let secret = tollgate_core::domain::WebhookSecret::parse(whsec).unwrap();
    assert_eq!(
        tollgate_core::sync::signature::verify(Some(sig), body.as_bytes(), &[secret], t),
        Ok(0)
    );

    // Each mode: exit 0 when the endpoint answers as it should (200 valid, 400 otherwise).
    for mode in ["valid", "wrong-secret", "stale", "unsigned", "tampered"] {
        let o = cli.run(
            &[
                "trigger",
                "customer.subscription.updated",
                "--to",
                &url,
                "--mode",
                mode,
            ],
            None,
        );
        assert_eq!(code(&o), 0, "{mode}: {}{}", stdout(&o), stderr(&o));
        let want = if mode == "valid" { "200" } else { "400" };
        assert!(
            stdout(&o).contains(&format!(" {want} ")),
            "{mode}: {}",
            stdout(&o)
        );
    }
    // A story, with a step per event.
    let s = cli.run(
        &[
            "--format",
            "json",
            "scenario",
            "cancel-at-period-end",
            "--org",
            &org_id,
            "--to",
            &url,
        ],
        None,
    );
    assert_eq!(code(&s), 0, "{}", stderr(&s));
    let s: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!((s["events"].as_u64(), s["ok"].as_u64()), (Some(3), Some(3)));
    // A burst, each event its own id.
    let b = cli.run(
        &[
            "--format",
            "json",
            "trigger",
            "invoice.paid",
            "--to",
            &url,
            "--repeat",
            "50",
            "--concurrency",
            "8",
        ],
        None,
    );
    assert_eq!(code(&b), 0, "{}", stderr(&b));
    let b: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(b["ok"], 50);
    let run = b["run_id"].as_str().unwrap();
    let h = cli.run(
        &["--format", "json", "webhooks", "history", "--run", run],
        None,
    );
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    assert_eq!(h.as_array().unwrap().len(), 50);

    // Bad input: exit 2, the field and the rule, nothing recorded.
    let before = cli.run(
        &["--format", "json", "webhooks", "history", "--limit", "500"],
        None,
    );
    let before = serde_json::from_slice::<serde_json::Value>(&before.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    for (args, says) in [
        (
            vec!["trigger", "invoice.payed", "--to", &url],
            "did you mean invoice.paid",
        ),
        (
            vec![
                "trigger",
                "invoice.paid",
                "--to",
                &url,
                "--set",
                "data.object.amount_due=lots",
            ],
            "amount_due is an integer",
        ),
        (
            vec![
                "trigger",
                "invoice.paid",
                "--to",
                &url,
                "--set",
                "data.object.nope=1",
            ],
            "does not exist",
        ),
        (
            vec!["trigger", "invoice.paid", "--to", "localhost:4242"],
            "http:// or https://",
        ),
        (
            vec![
                "trigger",
                "invoice.paid",
                "--to",
                &url,
                "--org",
                "org_nobody",
            ],
            "org_nobody",
        ),
        (
            vec!["scenario", "renewal-maybe", "--to", &url],
            "not a scenario",
        ),
    ] {
        let o = cli.run(&args, None);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // An endpoint that is not there: shown, recorded, exit 1.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = cli.run(
        &[
            "trigger",
            "invoice.paid",
            "--to",
            &format!("http://{gone}/hook"),
        ],
        None,
    );
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("unreachable") && stdout(&o).contains("Connection refused"),
        "{}",
        stdout(&o)
    );
    let after = cli.run(
        &["--format", "json", "webhooks", "history", "--limit", "500"],
        None,
    );
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after.as_array().unwrap().len(), before + 1);

    // Replay the valid delivery: the same bytes; the receiver says it had it.
    let valid = after
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["mode"] == "valid" && d["event_type"] == "customer.subscription.updated")
        .unwrap();
    let r = cli.run(
        &[
            "--format",
            "json",
            "webhooks",
            "replay",
            &valid["id"].to_string(),
        ],
        None,
    );
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let r: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(r["deliveries"][0]["body"], valid["body"]);
    assert!(r["deliveries"][0]["response_body"]
        .as_str()
        .unwrap()
        .contains("\"duplicate\":true"));
    let show = cli.run(&["webhooks", "show", &valid["id"].to_string()], None);
    assert!(
        stdout(&show).starts_with(&format!("POST {url}")),
        "{}",
        stdout(&show)
    );

    let _ = serve.kill();
    let _ = serve.wait();
    drop(sandbox);
}

/// Two `tollgate sync --full` at once on one store, as two people of a team opening the app
/// (or the CLI beside the app) do, on a SQLite file and on one Postgres schema: both exit 0,
/// the second waits for the first and says whose sync it waited for, and every table holds
/// exactly what one sync alone writes.
#[test]
fn two_full_syncs_at_once_on_one_store_wait_for_each_other_and_write_what_one_writes() {
    use tollgate_core::testing::{assert_same_tables, table_digest};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            ..Default::default()
        }))
        .unwrap();
    let base = sandbox.base_url();
    let cli_on = |db: Option<&str>| {
        let c = Cli::new()
            .with_env("TOLLGATE_STRIPE_API_BASE", &base)
            .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox");
        match db {
            Some(url) => c.with_env("TOLLGATE_DATABASE_URL", url),
            None => c,
        }
    };
    let digest = |url: &str| {
        rt.block_on(async {
            let target = tollgate_core::store::StoreTarget::Url(
                tollgate_core::domain::DatabaseUrl::parse(url).unwrap(),
            );
            let store = tollgate_core::store::Store::open(&target).await.unwrap();
            let d = table_digest(&store).await;
            store.close().await;
            d
        })
    };
    for pg in [false, true] {
        let (single_schema, twice_schema) = if pg {
            (
                Some(rt.block_on(PgSchema::new())),
                Some(rt.block_on(PgSchema::new())),
            )
        } else {
            (None, None)
        };
        let single = cli_on(single_schema.as_ref().map(|s| s.url.as_str()));
        let one = single.run(&["sync", "--full"], None);
        assert_eq!(code(&one), 0, "{}", stderr(&one));
        let twice = cli_on(twice_schema.as_ref().map(|s| s.url.as_str()));
        let spawn = || {
            twice
                .command(&["sync", "--full"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let backend = if pg { "postgres" } else { "sqlite" };
        assert_eq!(code(&a), 0, "{backend} first: {}", stderr(&a));
        assert_eq!(code(&b), 0, "{backend} second: {}", stderr(&b));
        let said: Vec<String> = [&a, &b]
            .iter()
            .map(|o| format!("{}{}", stdout(o), stderr(o)))
            .filter(|t| t.contains("another sync of this store"))
            .collect();
        assert_eq!(said.len(), 1, "{backend}: exactly one waited: {said:?}");
        assert!(
            said[0].contains("started by") && said[0].contains(" on ") && said[0].contains("UTC"),
            "{backend}: it says whose sync it waited for: {}",
            said[0]
        );
        let url_of = |cli: &Cli, schema: &Option<PgSchema>| match schema {
            Some(s) => s.url.clone(),
            None => format!(
                "sqlite://{}",
                cli.data.path().join("test.sqlite3").display()
            ),
        };
        let want = digest(&url_of(&single, &single_schema));
        let got = digest(&url_of(&twice, &twice_schema));
        assert_eq!(
            want["org_subscriptions"].len(),
            312,
            "{backend}: the demo's subscriptions"
        );
        assert_same_tables(&format!("{backend}: two syncs at once"), &want, &got);
    }
    drop(sandbox);
}

/// A store whose folder cannot be written opens read-only and shows what it holds; writes are
/// refused as read-only. A command's end checkpoints the WAL into the file, and `db backup`
/// writes a consistent copy (Postgres: it says to use pg_dump). An unknown sort column is bad
/// input that lists the columns.
#[test]
fn read_only_stores_backups_the_wal_and_sort_columns() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            ..Default::default()
        }))
        .unwrap();
    let cli = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &sandbox.base_url())
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox");
    let sync = cli.run(&["sync", "--full"], None);
    assert_eq!(code(&sync), 0, "{}", stderr(&sync));
    let db = cli.data.path().join("test.sqlite3");
    let wal = cli.data.path().join("test.sqlite3-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the command's end checkpointed the WAL: {:?}",
        std::fs::metadata(&wal).map(|m| m.len())
    );

    let bad_sort = cli.run(&["subscriptions", "list", "--sort", "nosuchcolumn"], None);
    assert_eq!(code(&bad_sort), 2, "{}", stderr(&bad_sort));
    assert!(
        stderr(&bad_sort).contains(
            "sort: \"nosuchcolumn\" is not a column to sort by: use one of org_name, email, tier"
        ),
        "{}",
        stderr(&bad_sort)
    );

    // A backup, taken while another process holds the store open for writing.
    let backup = cli.data.path().join("backup.sqlite3");
    let b = cli.run(
        &["--format", "json", "db", "backup", backup.to_str().unwrap()],
        None,
    );
    assert_eq!(code(&b), 0, "{}", stderr(&b));
    let copy = tollgate_core::testing::table_digest;
    let (orig, copied) = rt.block_on(async {
        let open = |p: &std::path::Path| {
            let t = tollgate_core::store::StoreTarget::SqliteFile(p.to_path_buf());
            async move { tollgate_core::store::Store::open(&t).await.unwrap() }
        };
        let (a, b) = (open(&db).await, open(&backup).await);
        let r = (copy(&a).await, copy(&b).await);
        a.close().await;
        b.close().await;
        r
    });
    tollgate_core::testing::assert_same_tables("backup", &orig, &copied);
    let again = cli.run(&["db", "backup", backup.to_str().unwrap()], None);
    assert_eq!(code(&again), 2, "an existing file is not overwritten");
    assert!(
        stderr(&again).contains("exists: a backup goes to a new file"),
        "{}",
        stderr(&again)
    );

    // The folder made read-only (as root, permission bits do not bind: the immutable flag).
    let dir = cli.data.path();
    let _ = std::fs::remove_file(dir.join("test.sqlite3-shm"));
    let _ = std::fs::remove_file(&wal);
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let lock = |on: bool| {
        if root {
            let flag = if on { "+i" } else { "-i" };
            std::process::Command::new("chattr")
                .args([flag, dir.to_str().unwrap(), db.to_str().unwrap()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        } else {
            use std::os::unix::fs::PermissionsExt;
            let (d, f) = if on { (0o555, 0o444) } else { (0o755, 0o644) };
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(f)).is_ok()
                && std::fs::set_permissions(dir, std::fs::Permissions::from_mode(d)).is_ok()
        }
    };
    assert!(
        lock(true),
        "the data folder could not be made read-only here"
    );
    let list = cli.run(
        &["--format", "json", "subscriptions", "list", "--limit", "0"],
        None,
    );
    let status = cli.run(&["--format", "json", "db", "status"], None);
    let write = cli.run(&["report", "time-zone", "Europe/Berlin"], None);
    lock(false);
    assert_eq!(code(&list), 0, "reads work: {}", stderr(&list));
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(312),
        "every subscription shows"
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["read_only"], true, "{status}");
    assert_eq!(code(&write), 1, "{}", stderr(&write));
    assert!(stderr(&write).contains("read-only"), "{}", stderr(&write));

    // Postgres: a backup is pg_dump's work, and the message says so.
    let schema = rt.block_on(PgSchema::new());
    let pg = Cli::new().with_env("TOLLGATE_DATABASE_URL", &schema.url);
    let out = pg.run(&["db", "backup", "/tmp/never-written.dump"], None);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pg_dump --format=custom"),
        "{}",
        stderr(&out)
    );
    drop(sandbox);
}

/// A Stripe that is not Tollgate's own: `sync` goes on past what it cannot read, names each
/// skipped object with its list, page and field, and ends 1 with the count, so a script can
/// tell; once the objects read, it ends 0 and the issues are gone. An API base whose answers
/// are not Stripe's says what came.
#[test]
fn a_foreign_stripe_sync_names_what_it_skipped_and_exits_1_until_it_reads() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed: tollgate_sandbox::Seed::Demo,
            foreign: true,
            ..Default::default()
        }))
        .unwrap();
    let base = sandbox.base_url();
    let cli = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &base)
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox");
    let foreign = cli.run(&["sync", "--full"], None);
    assert_eq!(code(&foreign), 1, "{}", stderr(&foreign));
    let err = stderr(&foreign);
    assert!(
        err.contains("issue: unreadable prod_")
            && err.contains("products page 1 (GET /v1/products), prod_"),
        "each skipped object, with where: {err}"
    );
    assert!(
        err.contains("could not be read and are left out of the mirror"),
        "{err}"
    );
    let listed = cli.run(
        &["subscriptions", "list", "--limit", "0", "--format", "json"],
        None,
    );
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(312),
        "the subscriptions are all there"
    );

    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{base}/_sandbox/dialect"))
            .bearer_auth("sk_test_sandbox")
            .form(&[("mode", "stripe")])
            .send()
            .await
            .unwrap()
    });
    let fixed = cli.run(&["sync", "--full"], None);
    assert_eq!(code(&fixed), 0, "{}", stderr(&fixed));
    assert!(
        !stderr(&fixed).contains("issue: unreadable"),
        "{}",
        stderr(&fixed)
    );
    let plans = cli.run(&["plans", "list", "--offline", "--format", "json"], None);
    let plans: serde_json::Value = serde_json::from_slice(&plans.stdout).unwrap();
    assert!(plans.as_array().is_some_and(|p| p.len() >= 11), "{plans}");

    // Not a Stripe at all: a plain-text 404.
    let plain = rt.block_on(async {
        let app = axum::Router::new()
            .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "Not Found") });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    });
    let check = Cli::new()
        .with_env("TOLLGATE_STRIPE_API_BASE", &plain)
        .with_env("TOLLGATE_STRIPE_SECRET_KEY", KEY)
        .run(&["secrets", "check"], None);
    assert_eq!(code(&check), 1);
    assert!(
        stderr(&check).contains("answered GET /v1/account with 404 (text/plain")
            && stderr(&check).contains("\"Not Found\""),
        "{}",
        stderr(&check)
    );
    drop(sandbox);
}
