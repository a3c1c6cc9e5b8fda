//! End-to-end: the built app in a real window (Xvfb), driven through tauri-driver and
//! WebKitWebDriver, as a user would. Each step saves a screenshot under target/e2e/.
//! Run inside tests/support/session.sh (make test does).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tauri-driver in a process group of its own, so that it, WebKitWebDriver and the app all
/// go when the test ends, passed or failed.
struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot of the X display, as a user would see the window. (WebKitWebDriver's own
/// screenshot waits forever for a GL snapshot when WebKit runs without GL compositing, which
/// is how Tollgate ships on machines without a GPU.)
async fn shot(c: &Client, name: &str) {
    eprintln!("e2e: screenshot {name}");
    let _ = c;
    // Let transitions and fonts settle before the picture.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let path = screenshot_dir().join(format!("{name}.png"));
    let status = Command::new("import")
        .args(["-window", "root", "-crop", "1280x800+0+0", "+repage"])
        .arg(&path)
        .status()
        .expect("ImageMagick's import (make test installs it)");
    assert!(status.success(), "screenshot {name} failed");
}

async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    wait_text_for(c, css, needle, 20).await
}

async fn wait_text_for(c: &Client, css: &str, needle: &str, secs: u64) -> String {
    eprintln!("e2e: wait for {css} to show {needle:?}");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if t.contains(needle) {
                    return t;
                }
                last = t;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the window showed instead (an error banner, a progress line) decides the next step.
    let name = format!(
        "failed-{}",
        css.replace(|ch: char| !ch.is_ascii_alphanumeric(), "_")
    );
    shot(c, &name).await;
    let shown = c
        .execute(
            "return document.querySelector('main')?.innerText ?? document.body.innerText",
            vec![],
        )
        .await
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    panic!("{css} never showed {needle:?}; last text: {last:?}; screenshot {name}.png; the screen read:\n{shown}");
}

/// The element, once it exists (screens and tabs load their parts on first use).
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.find(Locator::Css(css)).await {
            Ok(el) => return el,
            Err(e) if Instant::now() > deadline => panic!("{css}: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn type_into(c: &Client, css: &str, value: &str) {
    eprintln!("e2e: type into {css}");
    let input = find(c, css).await;
    if !value.is_empty() {
        input.clear().await.unwrap();
    }
    if value.is_empty() {
        // clear() fires no input event; select all and delete as a user would.
        input.send_keys("\u{E009}a\u{E000}\u{E003}").await.unwrap();
    } else {
        input.send_keys(value).await.unwrap();
    }
}

async fn click(c: &Client, css: &str) {
    eprintln!("e2e: click {css}");
    find(c, css).await.click().await.unwrap();
}

async fn connect(port: u16, app: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "wry".into());
    caps.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("tauri-driver did not accept a session: {e}"),
        }
    }
}

/// Starts tauri-driver (which starts WebKitWebDriver, which starts the app) with the given
/// environment for the app, and opens a WebDriver session on it.
async fn launch(app_env: &[(&str, String)]) -> (Driver, Client) {
    assert!(
        std::env::var_os("DISPLAY").is_some() && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "E2E tests need a display and a Secret Service: run them through tests/support/session.sh (make test does)"
    );
    let (port, native_port) = (free_port(), free_port());
    let driver_bin = std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".to_owned());
    let mut cmd = Command::new(&driver_bin);
    cmd.args([
        "--port",
        &port.to_string(),
        "--native-port",
        &native_port.to_string(),
    ])
    .env(
        "TOLLGATE_KEYRING_SERVICE",
        tollgate_core::testing::unique("tollgate-e2e"),
    )
    .env_remove("TOLLGATE_STRIPE_SECRET_KEY")
    .env_remove("TOLLGATE_DATABASE_URL")
    .env_remove("TOLLGATE_WEBHOOK_SECRET")
    .envs(app_env.iter().map(|(k, v)| (*k, v.as_str())))
    .stdout(Stdio::null())
    .stderr(Stdio::inherit())
    .process_group(0);
    let driver = Driver(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_bin} (make test installs it): {e}")),
    );
    let c = connect(port, env!("CARGO_BIN_EXE_tollgate")).await;
    c.set_window_size(1280, 800).await.ok();
    (driver, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_add_check_refuse_and_switch_environment() {
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
    ])
    .await;

    // The first screen, the overview, over an empty store: says so, and where to go.
    wait_text(&c, "[data-testid=ov-empty]", "Nothing mirrored yet").await;
    shot(&c, "00a-overview-empty").await;
    // Plans with no key: says why, and where to go.
    click(&c, "[data-testid=nav-plans]").await;
    wait_text(&c, "[data-testid=stale]", "no Stripe secret key").await;
    shot(&c, "00-plans-no-key").await;

    // Settings, test environment, sandbox label, no key yet.
    click(&c, "[data-testid=nav-settings]").await;
    wait_text(&c, "[data-testid=env-badge]", "TEST").await;
    wait_text(&c, "[data-testid=sandbox-badge]", "Sandbox").await;
    wait_text(
        &c,
        "[data-testid=no-stripe-key]",
        "No key for the test environment",
    )
    .await;
    wait_text(&c, "[data-testid=db-backend]", "SQLite").await;
    shot(&c, "01-settings-empty").await;

    // A publishable key is refused with the field and the rule; the typed value stays.
    type_into(
        &c,
        "[data-testid=input-stripe-secret-key]",
        "pk_test_51Habcdefgh",
    )
    .await;
    click(&c, "[data-testid=save-stripe-secret-key]").await;
    wait_text(&c, "[data-testid=error-stripe-secret-key]", "publishable").await;
    let kept = c
        .find(Locator::Css("[data-testid=input-stripe-secret-key]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("pk_test_51Habcdefgh"),
        "bad input loses nothing"
    );
    shot(&c, "02-settings-bad-key").await;

    // A live key in the test environment is refused.
    type_into(
        &c,
        "[data-testid=input-stripe-secret-key]",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    )
    .await;
    click(&c, "[data-testid=save-stripe-secret-key]").await;
    wait_text(&c, "[data-testid=error-stripe-secret-key]", "live key").await;
    shot(&c, "03-settings-live-key-refused").await;

    // The sandbox key: stored, shown masked, checked against Stripe (the sandbox).
    type_into(
        &c,
        "[data-testid=input-stripe-secret-key]",
        "sk_test_sandbox",
    )
    .await;
    click(&c, "[data-testid=save-stripe-secret-key]").await;
    wait_text(&c, "[data-testid=masked-stripe-secret-key]", "sk_test_…").await;
    wait_text(&c, "[data-testid=check-ok]", "Tollgate Sandbox").await;
    wait_text(&c, "[data-testid=account-name]", "Tollgate Sandbox").await;
    shot(&c, "04-settings-key-checked").await;

    // A well-formed key that Stripe refuses: Stripe's own message.
    type_into(
        &c,
        "[data-testid=input-stripe-secret-key]",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc9999",
    )
    .await;
    click(&c, "[data-testid=save-stripe-secret-key]").await;
    wait_text(
        &c,
        "[data-testid=masked-stripe-secret-key]",
        "sk_test_…9999",
    )
    .await;
    wait_text(&c, "[data-testid=check-error]", "Invalid API Key provided").await;
    shot(&c, "05-settings-key-rejected-by-stripe").await;

    // A webhook signing secret, masked.
    type_into(
        &c,
        "[data-testid=input-webhook-secret]",
        "whsec_e2eSigningSecret00001234",
    )
    .await;
    click(&c, "[data-testid=save-webhook-secret]").await;
    wait_text(&c, "[data-testid=section-webhook-secrets]", "whsec_…1234").await;

    // The raw secrets never reach the webview.
    let html = c.source().await.unwrap();
    assert!(
        !html.contains("4eC39HqLyjWDarjtT1zdp7dc9999"),
        "raw key in the DOM"
    );
    assert!(
        !html.contains("e2eSigningSecret"),
        "raw webhook secret in the DOM"
    );
    shot(&c, "06-settings-webhook-secret").await;

    // The window may call Tollgate's own commands and nothing else: core plugins are denied.
    let denied = c
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             window.__TAURI_INTERNALS__.invoke('plugin:app|version', {}).then(() => done('allowed'), (e) => done(String(e)));",
            vec![],
        )
        .await
        .unwrap();
    let denied = denied.as_str().unwrap_or_default().to_owned();
    assert!(
        denied.contains("not allowed"),
        "core command should be denied, got {denied:?}"
    );

    // Live: marked in red, its own (empty) keys.
    click(&c, "[data-testid=env-live]").await;
    wait_text(&c, "[data-testid=env-badge]", "LIVE").await;
    wait_text(
        &c,
        "[data-testid=no-stripe-key]",
        "No key for the live environment",
    )
    .await;
    shot(&c, "07-settings-live").await;

    c.close().await.ok();
    sandbox.stop().await;
}

/// What a user sees when things are broken: a damaged database file, a Stripe that cannot be
/// reached, and no keyring at all. Each is named, with what to do; the screen stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_database_unreachable_stripe_and_missing_keyring_are_explained() {
    let data = tempfile::tempdir().unwrap();
    let junk = b"definitely not sqlite ".repeat(300);
    std::fs::write(data.path().join("test.sqlite3"), &junk).unwrap();
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        // Port 1 on loopback: nothing listens there.
        ("TOLLGATE_STRIPE_API_BASE", "http://127.0.0.1:1".to_owned()),
        (
            "TOLLGATE_STRIPE_SECRET_KEY",
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc4242".to_owned(),
        ),
        // No Secret Service: the app (started by the driver) inherits a bus address that leads nowhere.
        (
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/tollgate-bus".to_owned(),
        ),
    ])
    .await;

    // The overview and Plans name the damaged store; Settings says what to do.
    wait_text(&c, "[data-testid=overview]", "damaged").await;
    click(&c, "[data-testid=nav-plans]").await;
    wait_text(&c, "[data-testid=plans-error]", "damaged").await;
    shot(&c, "08a-plans-damaged-database").await;
    click(&c, "[data-testid=nav-settings]").await;
    wait_text(&c, "[data-testid=db-error]", "damaged").await;
    wait_text(
        &c,
        "[data-testid=masked-stripe-secret-key]",
        "sk_test_…4242",
    )
    .await;
    wait_text(
        &c,
        "[data-testid=section-stripe-key]",
        "environment variable",
    )
    .await;
    wait_text(&c, "[data-testid=key-from-env]", "overrides the keyring").await;
    wait_text(&c, "[data-testid=check-error]", "could not reach Stripe").await;
    shot(&c, "08-settings-broken-database-unreachable-stripe").await;

    // Saving to a keyring that is not there fails clearly and keeps the typed value.
    type_into(
        &c,
        "[data-testid=input-webhook-secret]",
        "whsec_keptAfterFailure0001",
    )
    .await;
    click(&c, "[data-testid=save-webhook-secret]").await;
    let err = wait_text(&c, "[data-testid=error-webhook-secret]", "keyring").await;
    assert!(
        err.contains("not available") || err.contains("locked"),
        "{err}"
    );
    let kept = c
        .find(Locator::Css("[data-testid=input-webhook-secret]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("whsec_keptAfterFailure0001"));
    wait_text(&c, "[data-testid=keyring-error]", "keyring").await;
    shot(&c, "09-settings-no-keyring").await;
    assert_eq!(
        std::fs::read(data.path().join("test.sqlite3")).unwrap(),
        junk,
        "the damaged file is left alone"
    );
    c.close().await.ok();
}

/// Plans: the demo catalog with every price shape, search and filters, a partner price created
/// through the form (and bad input refused), the seed 002 map migrated with a dry run first,
/// verify, the resolver's stats, features, and the Activity log of it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_create_migrate_verify_resolve_and_activity() {
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        ..Default::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
        ("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox".to_owned()),
    ])
    .await;

    click(&c, "[data-testid=nav-plans]").await;
    wait_text(&c, "[data-testid=plan-count]", "11 of 11").await;
    shot(&c, "10-plans-catalog").await;

    type_into(&c, "input[aria-label='Search plans']", "partner").await;
    wait_text(&c, "[data-testid=plan-count]", "5 of 11").await;
    shot(&c, "11-plans-search-partner").await;
    type_into(&c, "input[aria-label='Search plans']", "").await;
    click(&c, "[data-testid=filter-nokey]").await;
    wait_text(&c, "[data-testid=plan-count]", "6 of 11").await;
    shot(&c, "12-plans-needing-a-key").await;
    click(&c, "[data-testid=filter-nokey]").await;

    // A partner price: new product, per seat, commission, a feature; key previewed live.
    click(&c, "[data-testid=new-price]").await;
    click(&c, "select[name=product] option[value=__new]").await;
    type_into(&c, "input[name=product_name]", "Partner Enterprise").await;
    type_into(&c, "input[name=tier]", "partner").await;
    type_into(&c, "input[name=audience]", "Enterprise").await;
    wait_text(&c, "[data-testid=key-error]", "lowercase").await;
    type_into(&c, "input[name=audience]", "enterprise").await;
    wait_text(
        &c,
        "[data-testid=key-preview]",
        "partner-enterprise-monthly",
    )
    .await;
    // The preview changes at once; the grammar check (and so the button) follows 60 ms later.
    wait_enabled(&c, "form button[type=submit]").await;
    type_into(&c, "input[name=amount]", "-5").await;
    click(&c, "form button[type=submit]").await;
    wait_text(&c, "[data-testid=amount-error]", "must not be negative").await;
    shot(&c, "13-new-price-bad-input").await;
    type_into(&c, "input[name=amount]", "499").await;
    type_into(&c, "input[name=commission]", "6").await;
    click(&c, "[data-testid=per-seat]").await;
    click(&c, "input[name=feature-analytics_access]").await;
    shot(&c, "14-new-price-form").await;
    click(&c, "form button[type=submit]").await;
    wait_text(&c, "[data-testid=notice]", "EUR 499.00 per seat / month").await;
    wait_text(&c, "[data-testid=plan-count]", "12 of 12").await;
    shot(&c, "15-new-price-created").await;

    // The seed 002 map: dry run, apply with progress, then nothing left to do.
    click(&c, "[data-testid=tab-migration]").await;
    click(&c, "[data-testid=dry-run]").await;
    wait_text(&c, "[data-testid=map-summary]", "invalid").await;
    shot(&c, "16-migration-template-dry-run").await;
    click(&c, "[data-testid=map-json-toggle]").await;
    type_into(
        &c,
        "[data-testid=map-json]",
        r#"{"price_1SQbV5K5Ap4Um3SpD65qOwZB": "community-expert-monthly", "price_1SQXF5K5Ap4Um3SpekZpC9fQ": "community-expert-annual", "price_1SQbV6K5Ap4Um3SpwFKRCoJo": "top-expert-monthly", "price_1SQXF5K5Ap4Um3SpzT4S3agl": "top-expert-annual", "price_1SQXF5K5Ap4Um3SpQCBwSFml": "lecturer-module-annual"}"#,
    )
    .await;
    click(&c, "[data-testid=use-map]").await;
    wait_enabled(&c, "[data-testid=dry-run]").await;
    click(&c, "[data-testid=dry-run]").await;
    wait_text(&c, "[data-testid=map-summary]", "2 unchanged · 3 assign").await;
    shot(&c, "17-migration-seed-map-dry-run").await;
    wait_enabled(&c, "[data-testid=apply]").await;
    click(&c, "[data-testid=apply]").await;
    wait_text(
        &c,
        "[data-testid=map-summary]",
        "Applied 3 · 5 unchanged · 0 assign",
    )
    .await;
    shot(&c, "18-migration-applied").await;

    click(&c, "[data-testid=tab-verify]").await;
    type_into(
        &c,
        "[data-testid=verify-input]",
        r#"[{"lookup_key": "top-expert-annual", "amount": 56600, "currency": "eur", "interval": "year"}, {"lookup_key": "community-expert-monthly", "amount": 4900, "currency": "eur", "interval": "month"}]"#,
    )
    .await;
    click(&c, "[data-testid=verify-run]").await;
    wait_text(&c, "[data-testid=verify-summary]", "1 passed · 1 failed").await;
    shot(&c, "19-verify").await;

    click(&c, "[data-testid=tab-resolver]").await;
    click(&c, "[data-testid=resolve-run]").await;
    wait_text(&c, "[data-testid=resolve-table]", "price_").await;
    wait_enabled(&c, "[data-testid=resolve-run]").await;
    click(&c, "[data-testid=resolve-run]").await;
    // The second run is served from the cache: a hit, so a rate other than 0 %.
    wait_js(&c, "const d = document.querySelector('[data-testid=resolver-stats] dd'); return d && d.textContent.trim() !== '0'").await;
    shot(&c, "20-resolver").await;

    click(&c, "[data-testid=tab-features]").await;
    find(&c, "[aria-label=Features]").await;
    shot(&c, "21-features").await;

    click(&c, "[data-testid=nav-activity]").await;
    let log = wait_text(&c, "[data-testid=activity-table]", "price.create").await;
    assert!(log.contains("lookup_key.assign"), "{log}");
    shot(&c, "22-activity").await;

    c.close().await.ok();
    sandbox.stop().await;
}

/// Waits until a button can be clicked: a click on a disabled one does nothing.
async fn wait_enabled(c: &Client, css: &str) {
    eprintln!("e2e: wait until {css} is enabled");
    let css = serde_json::to_string(css).unwrap();
    wait_js(
        c,
        &format!("const b = document.querySelector({css}); return b && !b.disabled"),
    )
    .await;
}

/// Polls a script until it returns something truthy, and returns that.
async fn wait_js(c: &Client, script: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = js(c, script).await;
        let truthy = !(v.is_null() || v == false || v == 0 || v == "");
        if truthy {
            return v;
        }
        assert!(Instant::now() < deadline, "never true: {script}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a script in the page and returns its value (scrolling a table, reading an attribute).
async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Subscriptions and Access: the empty store, a first sync with progress, 1,312 subscriptions
/// filtered, scrolled and opened in the drawer, a manual revoke (refused without a reason), a
/// cancellation no webhook announced found by the drift check and re-synced, and the webhook
/// receiver switched on and fed a bad and a good delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_access_drift_and_the_webhook_receiver() {
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        ..Default::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let stripe = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", sandbox.base_url()))
            .bearer_auth(tollgate_sandbox::DEFAULT_SECRET_KEY)
    };
    let populated = stripe(reqwest::Method::POST, "/_sandbox/populate")
        .form(&[
            ("count", "1000"),
            ("price", "price_1SQbV5K5Ap4Um3SpD65qOwZB"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        populated.status().is_success(),
        "{:?}",
        populated.text().await
    );
    let data = tempfile::tempdir().unwrap();
    let secret = "whsec_e2etollgatereceiver0000000000";
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
        ("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox".to_owned()),
        ("TOLLGATE_WEBHOOK_SECRET", secret.to_owned()),
        ("TOLLGATE_SYNC_INTERVAL_SECS", "0".to_owned()),
    ])
    .await;

    click(&c, "[data-testid=nav-subscriptions]").await;
    wait_text(
        &c,
        "[data-testid=subs-empty]",
        "No subscriptions in the store yet",
    )
    .await;
    wait_text(&c, "[data-testid=sync-state]", "Never synced").await;
    shot(&c, "30-subscriptions-empty").await;

    click(&c, "[data-testid=sync-now]").await;
    // A debug build reads 1,300 customers and 1,312 subscriptions page by page (slower when
    // the other tests share the two cores).
    let t0 = Instant::now();
    let report = wait_text_for(&c, "[data-testid=sync-report]", "customers", 240).await;
    eprintln!("e2e: first sync took {:?}", t0.elapsed());
    // Digit grouping follows the locale (none under LANG=C).
    let report = report.replace([',', '.', '\u{a0}', '\u{202f}'], "");
    assert!(
        report.contains("1300 customers 1312 subscriptions"),
        "{report}"
    );
    // The report shows as the list reloads; wait for the reloaded count, not the empty one.
    wait_js(
        &c,
        "return /^[1-9]/.test(document.querySelector('[data-testid=subs-count]').textContent)",
    )
    .await;
    let count = wait_text(&c, "[data-testid=subs-count]", "subscriptions").await;
    assert!(
        count
            .replace([',', '.', '\u{a0}', '\u{202f}'], "")
            .starts_with("1312 "),
        "{count}"
    );
    shot(&c, "31-subscriptions-synced").await;

    // Far down the list: rows arrive as blocks scroll into view.
    js(
        &c,
        "document.querySelector('[aria-label=Subscriptions] .body').scrollTop = 44 * 900; return 1",
    )
    .await;
    let deep = wait_js(&c, "return [...document.querySelectorAll('[aria-label=Subscriptions] [role=row][data-key]')].map(r => +r.getAttribute('aria-rowindex')).find(i => i > 800)").await;
    eprintln!("e2e: row {deep} on screen after scrolling");
    shot(&c, "32-subscriptions-scrolled").await;

    click(&c, "select[aria-label=Status] option[value=past_due]").await;
    let count = wait_text(&c, "[data-testid=subs-count]", "match").await;
    assert!(!count.starts_with("0 "), "{count}");
    shot(&c, "33-subscriptions-past-due").await;
    click(&c, "select[aria-label=Status] option[value=active]").await;
    let active = wait_text(&c, "[data-testid=subs-count]", "match").await;
    // A search narrows the filter (the box applies it 150 ms after typing stops); clearing it
    // brings the filter's count back.
    type_into(&c, "input[aria-label='Search subscriptions']", "top").await;
    let count_is = |op: &str| {
        format!("const t = document.querySelector('[data-testid=subs-count]').textContent; return t.includes('match') && t {op} {active:?}")
    };
    wait_js(&c, &count_is("!==")).await;
    type_into(&c, "input[aria-label='Search subscriptions']", "").await;
    wait_js(&c, &count_is("===")).await;

    // The drawer: subscriptions, access, entitlements claim, timeline.
    let sub_id = wait_js(&c, "const r = document.querySelector('[aria-label=Subscriptions] [role=row][data-key]'); return r && r.dataset.key").await;
    let sub_id = sub_id.as_str().unwrap().to_owned();
    click(&c, &format!("[role=row][data-key='{sub_id}']")).await;
    wait_text(&c, "[data-testid=org-drawer]", &sub_id).await;
    wait_text(&c, "[data-testid=org-claim]", "entitlements").await;
    shot(&c, "34-org-drawer").await;

    click(&c, "select[aria-label=Action] option[value=revoke]").await;
    click(&c, "[data-testid=override-apply]").await;
    wait_text(&c, "[data-testid=override-error]", "reason: is required").await;
    shot(&c, "35-override-needs-a-reason").await;
    type_into(
        &c,
        "[data-testid=override-reason]",
        "chargeback under review",
    )
    .await;
    click(&c, "[data-testid=override-apply]").await;
    wait_text(&c, "[data-testid=org-notice]", "revoked by hand").await;
    wait_text(&c, "[data-testid=org-access]", "CANCELED").await;
    shot(&c, "36-override-revoked").await;
    click(&c, "[data-testid=org-drawer] button[aria-label=Close]").await;

    // A cancellation that no webhook announced: the drift check finds it, re-sync mends it.
    let deleted = stripe(
        reqwest::Method::DELETE,
        &format!("/v1/subscriptions/{sub_id}"),
    )
    .send()
    .await
    .unwrap();
    assert!(deleted.status().is_success());
    click(&c, "[data-testid=nav-access]").await;
    wait_js(&c, "return /ACTIVE [1-9]/.test(document.querySelector('[data-testid=access-counts]').textContent.replace(/[,.\\s]/g, ' '))").await;
    shot(&c, "37-access-list").await;
    click(
        &c,
        "select[aria-label='Access status'] option[value=CANCELED]",
    )
    .await;
    wait_text(&c, "[data-testid=access-total]", "rows").await;
    shot(&c, "38-access-canceled").await;
    click(&c, "[data-testid=tab-drift]").await;
    click(&c, "[data-testid=drift-check]").await;
    wait_text(&c, "[data-testid=drift-summary]", "difference").await;
    let items = wait_text(&c, "[data-testid=drift-items]", &sub_id).await;
    assert!(items.contains("canceled"), "{items}");
    shot(&c, "39-drift-found").await;
    // Re-sync the organization of this difference (the check may list others).
    eprintln!("e2e: click re-sync in the row of {sub_id}");
    wait_js(&c, &format!("const tr = [...document.querySelectorAll('[data-testid=drift-items] tr')].find(r => r.textContent.includes({sub_id:?})); const b = tr && tr.querySelector('[data-testid=drift-resync]'); if (b) b.click(); return !!b")).await;
    wait_text(&c, "[data-testid=drift-items]", "re-synced").await;
    wait_enabled(&c, "[data-testid=drift-check]").await;
    click(&c, "[data-testid=drift-check]").await;
    wait_enabled(&c, "[data-testid=drift-check]").await;
    wait_text(&c, "[data-testid=drift-summary]", "checked").await;
    let after = js(&c, "const t = document.querySelector('[data-testid=drift-items]'); return t ? t.textContent : ''").await;
    assert!(!after.as_str().unwrap().contains(&sub_id), "{after}");
    shot(&c, "40-drift-after-resync").await;

    // The receiver: on, a delivery without a signature refused, a signed one recorded.
    click(&c, "[data-testid=tab-sources]").await;
    let port = free_port();
    type_into(&c, "input[aria-label=Port]", &port.to_string()).await;
    click(&c, "[data-testid=receiver-toggle]").await;
    wait_text(&c, "[data-testid=receiver-status]", "listening").await;
    let url = format!("http://127.0.0.1:{port}/webhook");
    let unsigned = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(unsigned.status(), 400);
    let events: serde_json::Value = serde_json::from_str(
        &stripe(reqwest::Method::GET, "/v1/events?limit=1")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let body = serde_json::to_string(&events["data"][0]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = http
        .post(&url)
        .header(
            "Stripe-Signature",
            tollgate_sandbox::signature_header(secret, now, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    wait_text(&c, "[data-testid=receiver-stats]", "2 received").await;
    wait_text(&c, "[data-testid=receiver-stats]", "1 rejected").await;
    // Settle read what the recorded event touched, under the process's rate limiter.
    wait_text(&c, "[data-testid=stripe-rate]", "answered 429").await;
    shot(&c, "41-receiver-on").await;
    click(&c, "[data-testid=receiver-toggle]").await;
    wait_text(&c, "[data-testid=receiver-status]", "off").await;

    // The overview over the synced demo: MRR per currency and tier, statuses, commissions
    // from the demo year's appointments.
    click(&c, "[data-testid=nav-overview]").await;
    let mrr = wait_text(&c, "[data-testid=ov-mrr]", "MRR").await;
    assert!(mrr.contains("EUR") && mrr.contains("ARR"), "{mrr}");
    // Labels are upper-cased by CSS: read the text, not the rendering.
    wait_js(
        &c,
        "return document.querySelector('[data-testid=ov-statuses]').textContent.includes('Past due')",
    )
    .await;
    wait_text(&c, "[data-testid=ov-commissions]", "last month").await;
    shot(&c, "42-overview-after-sync").await;

    c.close().await.ok();
    sandbox.stop().await;
}

/// Sets a date input as a person picking a day would (WebDriver typing into date inputs
/// follows the locale): scrolled into view, then the events the screen listens to.
async fn set_date(c: &Client, css: &str, day: &str) {
    eprintln!("e2e: set {css} to {day}");
    let css = serde_json::to_string(css).unwrap();
    let day = serde_json::to_string(day).unwrap();
    js(
        c,
        &format!("const i = document.querySelector({css}); i.scrollIntoView({{block: 'center'}}); i.value = {day}; i.dispatchEvent(new Event('input', {{bubbles: true}})); i.dispatchEvent(new Event('change', {{bubbles: true}})); return 1"),
    )
    .await;
}

/// Waits until the Commissions screen has the answer to its latest question.
async fn comm_idle(c: &Client) {
    wait_js(
        c,
        "return document.querySelector('[data-testid=commissions]').dataset.loading === 'false'",
    )
    .await;
}

/// Commissions over a year of 20,000 seeded appointments: month by tier with the stacked
/// chart, a currency filter, grouping by expert, the flagged rows and their drill-down, a
/// period that ends before it starts, an empty period, and the CSV export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commissions_report_chart_drill_down_flags_and_export() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let seed = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["dev", "seed", "--commissions", "20000"])
        .env("TOLLGATE_DATA_DIR", data.path())
        .env("TOLLGATE_LOG", "off")
        .env(
            "TOLLGATE_KEYRING_SERVICE",
            tollgate_core::testing::unique("tollgate-e2e-seed"),
        )
        .env_remove("TOLLGATE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
        ("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox".to_owned()),
        ("HOME", home.path().display().to_string()),
    ])
    .await;

    // The overview first: commissions this month against last, per currency.
    let ov = wait_text(&c, "[data-testid=ov-commissions]", "last month").await;
    assert!(
        ov.contains("EUR") && ov.contains("USD") && ov.contains("last month"),
        "{ov}"
    );
    wait_text(&c, "[data-testid=ov-no-mrr]", "No paying subscription").await;
    shot(&c, "49-overview-commissions").await;

    click(&c, "[data-testid=nav-commissions]").await;
    wait_text(&c, "[data-testid=comm-meta]", "daily rollups").await;
    let bars = wait_js(&c, "const e = document.querySelector('[data-testid=commission-chart]'); return e && +e.dataset.bars >= 12 && e.dataset.bars").await;
    eprintln!("e2e: {bars} monthly bars");
    let totals = wait_text(&c, "[data-testid=comm-totals]", "EUR").await;
    assert!(
        totals.contains("USD"),
        "two currencies, two totals: {totals}"
    );
    shot(&c, "50-commissions-month-by-tier").await;

    click(&c, "select[data-testid=comm-currency] option[value=usd]").await;
    comm_idle(&c).await;
    wait_js(&c, "const t = document.querySelector('[data-testid=comm-totals]').textContent; return t.includes('USD') && !t.includes('EUR')").await;
    shot(&c, "51-commissions-usd").await;

    click(&c, "[data-testid=comm-dim-period]").await;
    click(&c, "[data-testid=comm-dim-tier]").await;
    click(&c, "[data-testid=comm-dim-expert]").await;
    wait_text(&c, "[data-testid=comm-meta]", "monthly expert rollups").await;
    wait_text(&c, "[data-testid=comm-groups]", "org_seed").await;
    // About a thousand experts in USD: the first 150 groups come and are drawn at once, the
    // rest once the table is scrolled to its end.
    let more = wait_text(&c, "[data-testid=comm-more]", "Showing 150 of").await;
    let total = more
        .split(" of ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap_or("")
        .to_owned();
    wait_text(&c, "[data-testid=comm-meta]", &format!("{total} groups")).await;
    assert_eq!(
        js(
            &c,
            "return document.querySelectorAll('[data-testid=comm-group]').length"
        )
        .await,
        serde_json::json!(150),
        "{more}"
    );
    shot(&c, "52-commissions-by-expert").await;
    js(
        &c,
        "document.querySelector('[data-testid=comm-more]').scrollIntoView(); return null",
    )
    .await;
    wait_js(
        &c,
        "return document.querySelectorAll('[data-testid=comm-group]').length > 150",
    )
    .await;
    shot(&c, "52b-commissions-by-expert-scrolled").await;

    click(&c, "[data-testid=comm-dim-expert]").await;
    click(&c, "[data-testid=comm-dim-period]").await;
    click(&c, "[data-testid=comm-dim-tier]").await;
    click(&c, "[data-testid=comm-flagged]").await;
    comm_idle(&c).await;
    // Only the flagged rows: summed from the rows themselves, not whole days.
    wait_text(&c, "[data-testid=comm-meta]", "ledger rows").await;
    wait_js(
        &c,
        "return document.querySelectorAll('[data-testid=comm-group]').length > 0",
    )
    .await;
    click(&c, "[data-testid=comm-group] td").await;
    let drill = wait_text(&c, "[data-testid=comm-drill]", "flagged").await;
    assert!(drill.contains("USD"), "{drill}");
    shot(&c, "53-commissions-flagged-drill-down").await;

    set_date(&c, "[data-testid=comm-from]", "2030-01-01").await;
    wait_text(&c, "[data-testid=comm-error]", "is before from").await;
    shot(&c, "54-commissions-period-backwards").await;
    set_date(&c, "[data-testid=comm-to]", "2030-12-31").await;
    wait_text(
        &c,
        "[data-testid=comm-empty]",
        "No commissions from 2030-01-01 to 2030-12-31",
    )
    .await;
    // The chosen currency still reads in its filter when the period has none of it.
    wait_js(&c, "return document.querySelector('[data-testid=comm-currency]').selectedOptions[0].textContent === 'USD'").await;
    shot(&c, "55-commissions-empty").await;

    // Back to the last year, every currency, flagged rows only: export exactly those.
    let today = chrono::Utc::now().date_naive();
    set_date(
        &c,
        "[data-testid=comm-from]",
        &(today - chrono::Duration::days(366)).to_string(),
    )
    .await;
    set_date(&c, "[data-testid=comm-to]", &today.to_string()).await;
    click(&c, "select[data-testid=comm-currency] option[value='']").await;
    wait_text(&c, "[data-testid=comm-totals]", "EUR").await;
    wait_enabled(&c, "[data-testid=comm-export]").await;
    click(&c, "[data-testid=comm-export]").await;
    let saved = wait_text(&c, "[data-testid=comm-exported]", "rows to").await;
    shot(&c, "56-commissions-exported").await;
    let path = saved
        .split(" rows to ")
        .nth(1)
        .unwrap()
        .split(" dismiss")
        .next()
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        path.starts_with(&home.path().display().to_string()),
        "{path}"
    );
    let csv = std::fs::read_to_string(&path).unwrap();
    let lines = csv.lines().count();
    assert!(
        lines > 100 && csv.lines().skip(1).all(|l| l.contains(",yes,")),
        "{lines} lines, every one flagged"
    );
    c.close().await.ok();
}

/// The Webhooks screen over a synced demo: an event for a real organization previewed, sent to
/// Tollgate's own receiver and accepted; a tampered one refused; invalid JSON and a bad
/// override explained; an endpoint answering 503; a story and a burst with their per-step
/// results; the history and a byte-for-byte replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_test_fire_scenarios_history_and_replay() {
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        ..Default::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let secret = "whsec_e2etestfire00000000000000";
    let env = [
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
        ("TOLLGATE_STRIPE_SECRET_KEY", "sk_test_sandbox".to_owned()),
        ("TOLLGATE_WEBHOOK_SECRET", secret.to_owned()),
        ("TOLLGATE_SYNC_INTERVAL_SECS", "0".to_owned()),
    ];
    // The store first, through the CLI twin: real organizations to fill events from.
    let sync = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["sync", "--full"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TOLLGATE_LOG", "off")
        .env(
            "TOLLGATE_KEYRING_SERVICE",
            tollgate_core::testing::unique("tollgate-e2e-sync"),
        )
        .env_remove("TOLLGATE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    // An endpoint that fails: 503 with a body.
    let failing = {
        let app = axum::Router::new().fallback(|| async {
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "upstream database is down",
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/stripe/webhook")
    };
    let (_driver, c) = launch(&env).await;

    // Tollgate's receiver on: the screen's default target.
    click(&c, "[data-testid=nav-access]").await;
    click(&c, "[data-testid=tab-sources]").await;
    let port = free_port();
    type_into(&c, "input[aria-label=Port]", &port.to_string()).await;
    click(&c, "[data-testid=receiver-toggle]").await;
    wait_text(&c, "[data-testid=receiver-status]", "listening").await;
    let receiver = format!("http://127.0.0.1:{port}/webhook");

    click(&c, "[data-testid=nav-webhooks]").await;
    wait_js(
        &c,
        &format!("return document.querySelector('[data-testid=wh-target]').value === {receiver:?}"),
    )
    .await;
    let subject = wait_text(&c, "[data-testid=wh-subject]", "customer").await;
    assert!(
        subject.contains("cus_") && subject.contains("sub_"),
        "{subject}"
    );
    // Nothing sent yet: the history says so and what will land there.
    click(&c, "[data-testid=wh-tab-history]").await;
    wait_text(&c, "[data-testid=history-empty]", "Nothing sent yet").await;
    shot(&c, "59-webhooks-history-empty").await;
    click(&c, "[data-testid=wh-tab-send]").await;
    let body = wait_js(&c, "const t = document.querySelector('[data-testid=wh-body]'); return t.value.includes('invoice.payment_failed') && t.value").await;
    let cus = subject
        .split_whitespace()
        .find(|w| w.starts_with("cus_"))
        .unwrap();
    assert!(
        body.as_str().unwrap().contains(cus),
        "the event names the organization's customer"
    );
    click(&c, "[data-testid=wh-send]").await;
    wait_text(&c, "[data-testid=response-verdict]", "accepted").await;
    wait_text(&c, "[data-testid=response-status]", "200").await;
    wait_text(&c, "[data-testid=response-body]", "\"received\":true").await;
    shot(&c, "60-webhooks-sent-accepted").await;

    // Tampered: refused by the receiver, as it should be.
    click(&c, "select[data-testid=wh-mode] option[value=tampered]").await;
    click(&c, "[data-testid=wh-send]").await;
    wait_text(
        &c,
        "[data-testid=response-verdict]",
        "refused, as it should",
    )
    .await;
    wait_text(&c, "[data-testid=response-status]", "400").await;
    shot(&c, "61-webhooks-tampered-refused").await;
    click(&c, "select[data-testid=wh-mode] option[value=valid]").await;

    // A bad override names the field and the rule; broken JSON stops the send.
    type_into(
        &c,
        "[data-testid=wh-overrides]",
        "data.object.amount_due=lots",
    )
    .await;
    click(&c, "[data-testid=wh-build]").await;
    wait_text(
        &c,
        "[data-testid=wh-build-error]",
        "amount_due is an integer",
    )
    .await;
    type_into(
        &c,
        "[data-testid=wh-overrides]",
        "data.object.attempt_count=4",
    )
    .await;
    click(&c, "[data-testid=wh-build]").await;
    wait_js(&c, "return document.querySelector('[data-testid=wh-body]').value.includes('\"attempt_count\": 4')").await;
    find(&c, "[data-testid=wh-body]")
        .await
        .send_keys("}}")
        .await
        .unwrap();
    wait_text(&c, "[data-testid=wh-json-error]", "not JSON").await;
    wait_text(&c, "[data-testid=wh-edited]", "edited").await;
    assert_eq!(
        js(
            &c,
            "return document.querySelector('[data-testid=wh-send]').disabled"
        )
        .await,
        true
    );
    shot(&c, "62-webhooks-bad-json").await;
    click(&c, "[data-testid=wh-build]").await;
    wait_js(
        &c,
        "return !document.querySelector('[data-testid=wh-json-error]')",
    )
    .await;

    // An endpoint that answers 503: shown, not retried.
    type_into(&c, "[data-testid=wh-target]", &failing).await;
    click(&c, "[data-testid=wh-send]").await;
    wait_text(&c, "[data-testid=response-status]", "503").await;
    wait_text(
        &c,
        "[data-testid=response-body]",
        "upstream database is down",
    )
    .await;
    wait_text(&c, "[data-testid=response-verdict]", "server error").await;
    shot(&c, "63-webhooks-503").await;
    type_into(&c, "[data-testid=wh-target]", &receiver).await;

    // A story: what Stripe sends when a renewal fails, then recovers.
    click(&c, "[data-testid=wh-tab-scenarios]").await;
    click(&c, "[data-testid=scenario-renewal-failed-then-recovered]").await;
    click(&c, "[data-testid=scenario-run]").await;
    let summary = wait_text(&c, "[data-testid=run-summary]", "12 of 12").await;
    assert!(summary.starts_with("12 events"), "{summary}");
    let steps = wait_text(&c, "[data-testid=run-steps]", "invoice.payment_failed").await;
    assert!(
        steps.contains("charge.failed") && steps.contains("customer.subscription.updated"),
        "{steps}"
    );
    shot(&c, "64-webhooks-story").await;
    // A burst: 150 events, 16 at a time.
    click(&c, "[data-testid=scenario-burst]").await;
    type_into(&c, "[data-testid=burst-count]", "150").await;
    click(&c, "[data-testid=scenario-run]").await;
    let burst = wait_text_for(&c, "[data-testid=run-summary]", "150 of 150", 60).await;
    eprintln!("e2e: {burst}");
    shot(&c, "65-webhooks-burst").await;

    // The history: every attempt; a replay sends the same bytes (the receiver has it already).
    click(&c, "[data-testid=wh-tab-history]").await;
    wait_text(&c, "[data-testid=history]", "burst").await;
    let rows = js(
        &c,
        "return document.querySelectorAll('[data-testid=history-row]').length",
    )
    .await;
    assert_eq!(
        rows, 100,
        "the first page of 3 + 12 + 150 attempts, newest first"
    );
    click(&c, "[data-testid=history-more]").await;
    wait_text(&c, "[data-testid=history]", "invoice.payment_failed").await;
    let rows = js(
        &c,
        "return document.querySelectorAll('[data-testid=history-row]').length",
    )
    .await;
    assert_eq!(rows, 165, "every attempt");
    wait_js(
        &c,
        "return !document.querySelector('[data-testid=history-more]')",
    )
    .await;
    wait_js(&c, "const r = [...document.querySelectorAll('[data-testid=history-row]')].find(r => r.textContent.includes('invoice.payment_failed') && r.textContent.includes('single') && r.textContent.includes('200')); if (r) r.click(); return !!r").await;
    wait_text(&c, "[data-testid=delivery-detail]", "stripe-signature").await;
    click(&c, "[data-testid=replay]").await;
    wait_text(&c, "[data-testid=delivery-detail]", "\"duplicate\":true").await;
    shot(&c, "66-webhooks-history-replay").await;

    c.close().await.ok();
    sandbox.stop().await;
}

/// A store Tollgate may not write (its folder and file read-only: a copy on a read-only share,
/// a locked-down machine) opens read-only: the Overview and Subscriptions show what it holds,
/// Settings says it is read-only, and a write (a manual revoke) is refused as read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_shows_what_it_holds_and_refuses_writes() {
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        ..Default::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("test.sqlite3");
    {
        let console = tollgate_core::Console::new(
            tollgate_core::Environment::Test,
            "cli",
            &tollgate_core::testing::unique("tollgate-e2e"),
            tollgate_core::console::Overrides {
                stripe_secret_key: Some(tollgate_sandbox::DEFAULT_SECRET_KEY.into()),
                webhook_secrets: None,
                database_url: Some((
                    format!("sqlite://{}", db.display()),
                    tollgate_core::console::SecretSource::Flag,
                )),
                stripe_api_base: Some(sandbox.base_url()),
            },
        );
        console.sync(true, None).await.expect("sync the demo");
        console.close().await;
    }
    // As root permission bits do not bind: the immutable flag; otherwise plain modes.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let lock = |on: bool| {
        if root {
            let flag = if on { "+i" } else { "-i" };
            Command::new("chattr")
                .args([flag, data.path().to_str().unwrap(), db.to_str().unwrap()])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        } else {
            use std::os::unix::fs::PermissionsExt;
            let (d, f) = if on { (0o555, 0o444) } else { (0o755, 0o644) };
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(f)).is_ok()
                && std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(d)).is_ok()
        }
    };
    assert!(
        lock(true),
        "the data folder could not be made read-only here"
    );
    struct Unlock<F: Fn(bool) -> bool>(F);
    impl<F: Fn(bool) -> bool> Drop for Unlock<F> {
        fn drop(&mut self) {
            (self.0)(false);
        }
    }
    let _unlock = Unlock(lock);
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
        (
            "TOLLGATE_STRIPE_SECRET_KEY",
            tollgate_sandbox::DEFAULT_SECRET_KEY.to_owned(),
        ),
        ("TOLLGATE_SYNC_INTERVAL_SECS", "0".to_owned()),
    ])
    .await;
    wait_text(&c, "[data-testid=ov-statuses]", "ACTIVE").await;
    shot(&c, "42a-overview-read-only-store").await;
    click(&c, "[data-testid=nav-subscriptions]").await;
    wait_js(
        &c,
        "return /^[1-9]/.test(document.querySelector('[data-testid=subs-count]').textContent)",
    )
    .await;
    let count = wait_text(&c, "[data-testid=subs-count]", "subscriptions").await;
    assert!(
        count
            .replace([',', '.', '\u{a0}', '\u{202f}'], "")
            .starts_with("312 "),
        "{count}"
    );
    let sub_id = wait_js(&c, "const r = document.querySelector('[aria-label=Subscriptions] [role=row][data-key]'); return r && r.dataset.key").await;
    let sub_id = sub_id.as_str().unwrap().to_owned();
    click(&c, &format!("[role=row][data-key='{sub_id}']")).await;
    wait_text(&c, "[data-testid=org-drawer]", &sub_id).await;
    click(&c, "select[aria-label=Action] option[value=revoke]").await;
    type_into(
        &c,
        "[data-testid=override-reason]",
        "chargeback under review",
    )
    .await;
    click(&c, "[data-testid=override-apply]").await;
    wait_text(&c, "[data-testid=override-error]", "read-only").await;
    shot(&c, "43-read-only-write-refused").await;
    click(&c, "[data-testid=org-drawer] button[aria-label=Close]").await;
    click(&c, "[data-testid=nav-settings]").await;
    wait_text(&c, "[data-testid=db-access]", "read-only").await;
    shot(&c, "44-settings-read-only-store").await;
    drop(sandbox);
}

/// A Stripe that is not Tollgate's own (the sandbox's foreign dialect): Sync now goes on past
/// what it cannot read and says how many objects it left out; Access › Webhooks and sync lists
/// each, with the list, page, object and field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_stripe_syncs_and_lists_what_it_could_not_read() {
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        foreign: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (_driver, c) = launch(&[
        ("TOLLGATE_DATA_DIR", data.path().display().to_string()),
        ("TOLLGATE_STRIPE_API_BASE", sandbox.base_url()),
        (
            "TOLLGATE_STRIPE_SECRET_KEY",
            tollgate_sandbox::DEFAULT_SECRET_KEY.to_owned(),
        ),
        ("TOLLGATE_SYNC_INTERVAL_SECS", "0".to_owned()),
    ])
    .await;
    click(&c, "[data-testid=nav-access]").await;
    click(&c, "[data-testid=sync-now]").await;
    let report = wait_text_for(&c, "[data-testid=sync-report]", "could not be read", 240).await;
    assert!(report.contains("left out"), "{report}");
    click(&c, "[data-testid=tab-sources]").await;
    let issues = wait_text(
        &c,
        "[data-testid=sync-issues]",
        "products page 1 (GET /v1/products)",
    )
    .await;
    assert!(issues.contains("missing field"), "{issues}");
    shot(&c, "45-foreign-stripe-sync-issues").await;
    drop(sandbox);
}
