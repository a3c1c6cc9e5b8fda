//! `make bench` rows for real Stripe load (release build). Prints figures; asserts nothing.
//!
//! - Renewal day: the demo sandbox with 10,000 more organizations all renewing at once, the
//!   sandbox enforcing Stripe's live limit (100 requests a second) and delivering its events as
//!   signed webhooks 16 at a time to the app's receiver; Tollgate keeps to the same limit.
//!   From the last delivery to a mirror with nothing dirty, the sandbox's 429s, Stripe reads
//!   per event, and the mirror against Stripe's own list.
//! - `sync --full` of 10,000 subscriptions under test mode's 25 a second: it completes, its
//!   requests a second against 25, and 429s (none: the client keeps under the limit).
//! - The ledger after 108,000 events of a year (Stripe-sized payloads) and a compaction.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_core::console::{Overrides, SecretSource};
use tollgate_core::testing::unique;

const KEY: &str = tollgate_sandbox::DEFAULT_SECRET_KEY;
/// The demo's Community monthly price.
const PRICE: &str = "price_1SQbV5K5Ap4Um3SpD65qOwZB";

fn row(name: &str, measured: String, target: &str, ratio: String) {
    println!("{name:<44} {measured:>12} {target:>12} {ratio:>8}");
}

fn console(db_url: &str, base: &str, secret: Option<&str>) -> tollgate_core::Console {
    tollgate_core::Console::new(
        tollgate_core::Environment::Test,
        "cli",
        &unique("dev.tollgate.bench"),
        Overrides {
            stripe_secret_key: Some(KEY.into()),
            webhook_secrets: secret.map(str::to_owned),
            database_url: Some((db_url.to_owned(), SecretSource::Flag)),
            stripe_api_base: Some(base.to_owned()),
        },
    )
}

async fn control(http: &reqwest::Client, base: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await
        .expect("the sandbox answers");
    let status = r.status();
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("a body")).expect("JSON");
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

async fn state(http: &reqwest::Client, base: &str) -> Value {
    let r = http
        .get(format!("{base}/_sandbox/state"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("state");
    serde_json::from_slice(&r.bytes().await.expect("a body")).expect("state JSON")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until every queued delivery is delivered (or failed) and the dirty set is empty;
/// returns (last delivery, settled), each from `t0`.
async fn quiet(
    http: &reqwest::Client,
    base: &str,
    c: &tollgate_core::Console,
    t0: Instant,
    t0_unix_ms: i64,
) -> (Option<Duration>, Option<Duration>, Value) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut clean = 0;
    loop {
        let s = state(http, base).await;
        let w = &s["webhooks"];
        let pending = w["queued"].as_u64().unwrap_or(0)
            > w["delivered"].as_u64().unwrap_or(0) + w["failed"].as_u64().unwrap_or(0);
        let dirty = c.sync_state().await.expect("sync state").dirty;
        if !pending && dirty == 0 {
            clean += 1;
            if clean == 2 {
                let last = w["last_delivered_at_ms"]
                    .as_i64()
                    .map(|ms| Duration::from_millis((ms - t0_unix_ms).max(0) as u64));
                return (last, Some(t0.elapsed() - Duration::from_millis(50)), s);
            }
        } else {
            clean = 0;
        }
        if Instant::now() > deadline {
            return (None, None, s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Renewals on renewal day: 10,000 (`BENCH_RENEWALS` for a quicker look).
fn renewals() -> u64 {
    std::env::var("BENCH_RENEWALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

async fn renewal_day() {
    std::env::set_var("TOLLGATE_STRIPE_RATE_LIMIT", "100");
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        rate_limit: Some(100),
        webhook_concurrency: 16,
        ..Default::default()
    })
    .await
    .expect("the sandbox starts");
    let base = sandbox.base_url();
    let http = reqwest::Client::new();
    // The 10,000 organizations sign up first, and Tollgate reads them with a full sync.
    let t = Instant::now();
    let day = control(
        &http,
        &base,
        "/_sandbox/renewal_day",
        &[("count", &renewals().to_string()), ("price", PRICE)],
    )
    .await;
    let port = free_port();
    let endpoint = control(
        &http,
        &base,
        "/v1/webhook_endpoints",
        &[
            ("url", &format!("http://127.0.0.1:{port}/webhook")),
            ("enabled_events[]", "*"),
        ],
    )
    .await;
    let secret = endpoint["secret"].as_str().expect("a secret").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("renewal.sqlite3").display());
    let c = console(&db, &base, Some(&secret));
    c.sync(true, None).await.expect("sync the demo");
    c.receiver_start(port).await.expect("the receiver");
    let subs = c.sync_state().await.unwrap().subscriptions;
    println!(
        "renewal day: 10,000 organizations signed up, mirrored by a full sync in {:.1} s ({subs} subscriptions)",
        t.elapsed().as_secs_f64()
    );
    let before = state(&http, &base).await;
    let reads_before = c
        .receiver_status()
        .await
        .stats
        .and_then(|s| s.stripe_rate)
        .map_or(0, |r| r.requests);
    let t0 = Instant::now();
    let t0_ms = tollgate_core::store::now_millis();
    control(
        &http,
        &base,
        "/_sandbox/clock/advance",
        &[("seconds", &day["advance_seconds"].to_string())],
    )
    .await;
    let advanced = t0.elapsed();
    let (last, settled, after) = quiet(&http, &base, &c, t0, t0_ms).await;
    let n = |v: &Value, a: &str, b: &str| v[a][b].as_u64().unwrap_or(0);
    let events = n(&after, "webhooks", "delivered") - n(&before, "webhooks", "delivered");
    let limited = n(&after, "requests", "rate_limited") - n(&before, "requests", "rate_limited");
    let reads = c
        .receiver_status()
        .await
        .stats
        .and_then(|s| s.stripe_rate)
        .map_or(0, |r| r.requests)
        - reads_before;
    let v1 = n(&after, "requests", "v1") - n(&before, "requests", "v1");
    // The mirror against Stripe's list: status and period end of every subscription.
    let gw = c.gateway().unwrap();
    let mut pages = gw.pages("/subscriptions", json!({"status": "all"}), None);
    let mut stripe = std::collections::HashMap::new();
    while let Some(items) = pages.next().await.expect("list") {
        for s in items {
            stripe.insert(
                s["id"].as_str().unwrap().to_owned(),
                (
                    s["status"].as_str().unwrap_or_default().to_owned(),
                    s["items"]["data"][0]["current_period_end"].as_i64(),
                ),
            );
        }
    }
    let store = c.store().await.unwrap();
    let mine: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT stripe_subscription_id, subscription_status, current_period_end FROM org_subscriptions",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let differ = mine
        .iter()
        .filter(|(id, status, end)| stripe.get(id) != Some(&(status.clone(), *end)))
        .count()
        + stripe.len().saturating_sub(mine.len());
    println!("renewal day: 10,000 renewals in one clock advance ({:.1} s), Stripe's limit 100/s, webhooks 16 at a time", advanced.as_secs_f64());
    match (last, settled) {
        (Some(last), Some(settled)) => {
            let after_last = settled.saturating_sub(last);
            row(
                "  settled after the last delivery (s)",
                format!("{:.2}", after_last.as_secs_f64()),
                "30",
                format!("{:.2}", after_last.as_secs_f64() / 30.0),
            );
            println!(
                "    {events} events delivered in {:.1} s ({:.0}/s), all settled {:.1} s after the advance",
                last.as_secs_f64(),
                events as f64 / last.as_secs_f64().max(0.001),
                settled.as_secs_f64()
            );
        }
        _ => println!("  the mirror did not settle within 600 s"),
    }
    row(
        "  events delivered",
        events.to_string(),
        "50000",
        format!("{:.2}", events as f64 / 50_000.0),
    );
    row(
        "  answers of 429 from the sandbox",
        limited.to_string(),
        "0",
        if limited == 0 {
            "ok".into()
        } else {
            "FAIL".into()
        },
    );
    row(
        "  Stripe reads per event",
        format!("{:.4}", reads as f64 / events.max(1) as f64),
        "0.05",
        format!("{:.2}", reads as f64 / events.max(1) as f64 / 0.05),
    );
    println!("    {reads} reads by settle ({v1} /v1 requests in all, the mirror's check excluded)");
    row(
        "  subscriptions differing from Stripe",
        differ.to_string(),
        "0",
        if differ == 0 {
            "ok".into()
        } else {
            "FAIL".into()
        },
    );
    c.receiver_stop().await;
    std::env::remove_var("TOLLGATE_STRIPE_RATE_LIMIT");
}

async fn full_sync_under_test_mode_limit() {
    std::env::set_var("TOLLGATE_STRIPE_RATE_LIMIT", "25");
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        rate_limit: Some(25),
        ..Default::default()
    })
    .await
    .expect("the sandbox starts");
    let base = sandbox.base_url();
    let http = reqwest::Client::new();
    control(&http, &base, "/_sandbox/rate_limit", &[("limit", "0")]).await;
    control(
        &http,
        &base,
        "/_sandbox/populate",
        &[("count", "10000"), ("price", PRICE)],
    )
    .await;
    control(&http, &base, "/_sandbox/rate_limit", &[("limit", "25")]).await;
    let before = state(&http, &base).await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("full.sqlite3").display());
    let c = console(&db, &base, None);
    let t = Instant::now();
    let r = c.sync(true, None).await;
    let took = t.elapsed();
    let after = state(&http, &base).await;
    let n = |v: &Value, b: &str| v["requests"][b].as_u64().unwrap_or(0);
    let v1 = n(&after, "v1") - n(&before, "v1");
    let limited = n(&after, "rate_limited") - n(&before, "rate_limited");
    let rate = v1 as f64 / took.as_secs_f64();
    println!("sync --full of 10,000 subscriptions under test mode's 25 requests a second");
    match r {
        Ok(r) => row(
            "  completed (s); subscriptions read",
            format!("{:.1}", took.as_secs_f64()),
            "",
            r.backfill.map_or(0, |b| b.subscriptions).to_string(),
        ),
        Err(e) => println!("  FAILED: {}", e.message),
    }
    row(
        "  requests a second, against the limit",
        format!("{rate:.1}"),
        "25",
        format!("{:.2}", rate / 25.0),
    );
    row(
        "  answers of 429 (given up: none)",
        limited.to_string(),
        "0",
        if limited == 0 {
            "ok".into()
        } else {
            "FAIL".into()
        },
    );
    println!("    {v1} requests in {:.1} s", took.as_secs_f64());
    std::env::remove_var("TOLLGATE_STRIPE_RATE_LIMIT");
}

async fn ledger_size() {
    use tollgate_core::store::{Store, StoreTarget};
    use tollgate_core::sync::{Event, Processor};
    const N: usize = 108_000;
    // Stripe's own subscriptions and invoices as the demo sandbox returns them: real sizes.
    let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
        seed: tollgate_sandbox::Seed::Demo,
        ..Default::default()
    })
    .await
    .expect("the sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    let gw_console = console(
        &format!("sqlite://{}", dir.path().join("gw.sqlite3").display()),
        &sandbox.base_url(),
        None,
    );
    let gw = gw_console.gateway().unwrap();
    let mut objects = Vec::new();
    for path in ["/subscriptions", "/invoices"] {
        let mut pages = gw.pages(path, json!({}), None);
        while let Some(items) = pages.next().await.unwrap() {
            objects.extend(items);
        }
    }
    let path = dir.path().join("ledger.sqlite3");
    let store = Store::open(&StoreTarget::SqliteFile(path.clone()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let p = Processor::new(
        store.clone(),
        std::sync::Arc::new(tollgate_core::testing::Offline),
        vec!["organization_id".into()],
    );
    let now = tollgate_core::store::now_seconds();
    let mut bytes = 0usize;
    let mut door = p.batch("webhook");
    for i in 0..N {
        let o = &objects[i % objects.len()];
        let t = if o["object"] == "invoice" {
            "invoice.paid"
        } else {
            "customer.subscription.updated"
        };
        let v = json!({"id": format!("evt_{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)), "object": "event",
            "api_version": tollgate_sandbox::API_VERSION, "created": now - 365 * 86_400 + (i as i64 * 365 * 86_400 / N as i64),
            "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": t,
            "data": {"object": o}});
        let raw = v.to_string();
        bytes += raw.len();
        door.push(vec![Event::from_value(&v, raw).unwrap()])
            .await
            .unwrap();
    }
    door.finish().await.unwrap();
    // As settle leaves it: nothing awaits a read.
    sqlx::query("DELETE FROM dirty_objects")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    let file = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = file(&path);
    let t = Instant::now();
    let r = store.compact_ledger(35, &|| false).await.unwrap();
    let took = t.elapsed();
    let after = file(&path) + file(&path.with_extension("sqlite3-wal"));
    let mb = |b: u64| b as f64 / 1_048_576.0;
    println!(
        "the ledger: {N} events over a year, {:.0} MB of payloads (avg {:.1} KB), retention 35 days",
        mb(bytes as u64),
        bytes as f64 / N as f64 / 1024.0
    );
    row(
        "  SQLite file before compaction (MB)",
        format!("{:.1}", mb(before)),
        "",
        "".into(),
    );
    row(
        "  after `db compact` (MB)",
        format!("{:.1}", mb(after)),
        "60",
        format!("{:.2}", mb(after) / 60.0),
    );
    println!(
        "    {} payloads dropped, {} kept (inside the window), {}, in {:.1} s",
        r.compacted,
        r.events - r.events_compacted,
        r.vacuum,
        took.as_secs_f64()
    );
    let (kept, packed): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(length(payload)), 0), coalesce(sum(length(payload_z)), 0) FROM stripe_events WHERE compacted_at IS NULL",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    println!(
        "    the payloads inside the window: {:.1} MB deflated ({} of them), {:.1} MB plain (the last day's)",
        mb(packed as u64),
        r.packed,
        mb(kept as u64)
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if want("renewal") {
        renewal_day().await;
    }
    if want("full-sync") {
        full_sync_under_test_mode_limit().await;
    }
    if want("ledger") {
        ledger_size().await;
    }
}
