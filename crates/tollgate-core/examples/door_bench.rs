//! `make bench` rows for the one door under load (release build). Prints figures; asserts
//! nothing. The demo sandbox is synced over HTTP into a SQLite store, the app's receiver and
//! its settle task run as in the app, and a burst of signed events (a tenth of them duplicates
//! of earlier ones) over the demo's subscriptions arrives 16 at a time while settle reads what
//! they touched back from the sandbox. Per burst:
//!   - lock errors: answers of 500, failed settle runs and write waits over a second;
//!   - every acknowledged event in the ledger, the dirty set drained;
//!   - ack latency p50/p95/p99/worst, and events settled per second (first send to drained).
//!
//! Each burst size runs twice, on fresh stores synced the same way: with the store's in-process
//! write queue (writers wait on a fair async lock, the door first, then `BEGIN IMMEDIATE`;
//! what Tollgate uses) and without it (`TOLLGATE_SQLITE_WRITE_QUEUE=off`: `BEGIN IMMEDIATE`
//! alone, the waiting done by SQLite's busy handler), so the choice stays measured.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use tollgate_core::testing::SandboxFixture;

const SECRET: &str = "whsec_bench0door00000000000000";
const CONCURRENCY: usize = 16;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// Events over the demo's subscriptions, as Stripe sends them: a subscription update carrying
/// the subscription, or an invoice event naming it. Every tenth delivery repeats an earlier
/// event (Stripe retries and duplicates).
fn plan(subs: &[Value], n: usize, run: &str) -> Vec<(String, Value)> {
    let types = [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ];
    let now = chrono::Utc::now().timestamp();
    let mut out: Vec<(String, Value)> = Vec::with_capacity(n);
    for i in 0..n {
        if i % 10 == 9 {
            let again = out[(i * 7919) % out.len()].clone();
            out.push(again);
            continue;
        }
        let sub = &subs[(i * 31) % subs.len()];
        let t = types[i % types.len()];
        let object = if t.starts_with("invoice.") {
            json!({"id": format!("in_{run}{i:08}"), "object": "invoice", "customer": sub["customer"],
                   "subscription": sub["id"], "status": if t == "invoice.created" { "draft" } else { "paid" },
                   "amount_due": 2500, "currency": "eur", "billing_reason": "subscription_cycle"})
        } else {
            sub.clone()
        };
        let id = format!("evt_{run}{i:08}");
        out.push((
            id.clone(),
            json!({"id": id, "object": "event", "api_version": tollgate_sandbox::API_VERSION,
                   "created": now + (i / 500) as i64, "livemode": false, "pending_webhooks": 1,
                   "request": {"id": null, "idempotency_key": null}, "type": t,
                   "data": {"object": object}}),
        ));
    }
    out
}

struct Burst {
    acks: Vec<Duration>,
    answers_500: u64,
    other_failures: u64,
    acked: Vec<String>,
    sent: Duration,
    drained: Option<Duration>,
}

async fn burst(url: &str, events: &[(String, Value)], console: &tollgate_core::Console) -> Burst {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let start = Instant::now();
    let results: Vec<(String, u16, Duration)> = stream::iter(events.iter())
        .map(|(id, body)| {
            let http = http.clone();
            async move {
                let body = body.to_string();
                let sig = tollgate_sandbox::signature_header(
                    SECRET,
                    chrono::Utc::now().timestamp(),
                    &body,
                );
                let t = Instant::now();
                let status = match http
                    .post(url)
                    .header("Stripe-Signature", sig)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                (id.clone(), status, t.elapsed())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let sent = start.elapsed();
    // Drained: nothing dirty, twice in a row 50 ms apart (a run may be between batches).
    let mut drained = None;
    let mut clean = 0;
    while start.elapsed() < Duration::from_secs(300) {
        let state = console.sync_state().await.expect("sync state");
        if state.dirty == 0 {
            clean += 1;
            if clean == 2 {
                drained = Some(start.elapsed() - Duration::from_millis(50));
                break;
            }
        } else {
            clean = 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut acks: Vec<Duration> = results.iter().map(|r| r.2).collect();
    acks.sort();
    Burst {
        acks,
        answers_500: results.iter().filter(|r| r.1 == 500).count() as u64,
        other_failures: results.iter().filter(|r| r.1 != 200 && r.1 != 500).count() as u64,
        acked: results
            .iter()
            .filter(|r| r.1 == 200)
            .map(|r| r.0.clone())
            .collect(),
        sent,
        drained,
    }
}

async fn in_ledger(store: &tollgate_core::store::Store, ids: &[String]) -> u64 {
    let mut unique: Vec<&String> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    let mut found = 0u64;
    for chunk in unique.chunks(500) {
        let sql = format!(
            "SELECT count(*) FROM stripe_events WHERE event_id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for id in chunk {
            q = q.bind(id.as_str());
        }
        found += q.fetch_one(store.pool()).await.unwrap() as u64;
    }
    found
}

/// Two full syncs at once on one store (two consoles: two pools, as two processes), against a
/// single one: rows beyond the single run's, per backend.
async fn two_syncs(pg: bool) {
    use tollgate_core::console::{Overrides, SecretSource};
    use tollgate_core::testing::{table_digest, unique, PgSchema};
    let f = SandboxFixture::start(tollgate_sandbox::Seed::Demo).await;
    let console = |url: &str| {
        tollgate_core::Console::new(
            tollgate_core::Environment::Test,
            "cli",
            &unique("dev.tollgate.bench"),
            Overrides {
                stripe_secret_key: Some(tollgate_sandbox::DEFAULT_SECRET_KEY.into()),
                webhook_secrets: None,
                database_url: Some((url.to_owned(), SecretSource::Flag)),
                stripe_api_base: Some(f.sandbox.base_url()),
            },
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (schemas, urls) = if pg {
        let (a, b) = (PgSchema::new().await, PgSchema::new().await);
        let urls = (a.url.clone(), b.url.clone());
        (Some((a, b)), urls)
    } else {
        let p = |n: &str| format!("sqlite://{}", dir.path().join(n).display());
        (None, (p("single.sqlite3"), p("twice.sqlite3")))
    };
    let single = console(&urls.0);
    single.sync(true, None).await.expect("a single sync");
    let (a, b) = (console(&urls.1), console(&urls.1));
    let t = Instant::now();
    let (ra, rb) = tokio::join!(a.sync(true, None), b.sync(true, None));
    let (ra, rb) = (ra.expect("first of two"), rb.expect("second of two"));
    let took = t.elapsed();
    let want = table_digest(&single.store().await.unwrap()).await;
    let got = table_digest(&a.store().await.unwrap()).await;
    let beyond: i64 = want
        .iter()
        .map(|(t, rows)| got[t].len() as i64 - rows.len() as i64)
        .filter(|d| *d > 0)
        .sum();
    let differing: Vec<&String> = want
        .iter()
        .filter(|(t, r)| got[*t] != **r)
        .map(|(t, _)| t)
        .collect();
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        format!(
            "two full syncs at once, {}: rows beyond one",
            if pg { "Postgres" } else { "SQLite" }
        ),
        beyond,
        0,
        if beyond == 0 && differing.is_empty() {
            "ok"
        } else {
            "FAIL"
        }
    );
    println!(
        "  {} tables compared, differing: {differing:?}; both done in {:.2} s; waited: {}; joined: {}",
        want.len(),
        took.as_secs_f64(),
        [&ra, &rb].iter().filter(|r| r.waited_for.is_some()).count(),
        [&ra, &rb].iter().filter(|r| r.joined).count()
    );
    drop(schemas);
}

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("two-syncs") {
        two_syncs(false).await;
        two_syncs(true).await;
        return;
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![4_000, 20_000]
    } else {
        sizes
    };
    println!(
        "the door under a burst at {CONCURRENCY}-way: SQLite, the demo sandbox read back by settle"
    );
    for &n in &sizes {
        for queued in [true, false] {
            // Read when the store opens: each run opens a fresh one.
            std::env::set_var(
                "TOLLGATE_SQLITE_WRITE_QUEUE",
                if queued { "on" } else { "off" },
            );
            let f = SandboxFixture::start(tollgate_sandbox::Seed::Demo).await;
            let console = f.console_with(
                tollgate_sandbox::DEFAULT_SECRET_KEY,
                &f.sandbox.base_url(),
                Some(SECRET),
            );
            console.sync(true, None).await.expect("sync the demo");
            let gw = console.gateway().unwrap();
            let mut subs = Vec::new();
            let mut pages = gw.pages("/subscriptions", json!({"status": "all"}), None);
            while let Some(items) = pages.next().await.unwrap() {
                subs.extend(items);
            }
            let url = console.receiver_start(0).await.unwrap().url.unwrap();
            let reads_before = console
                .receiver_status()
                .await
                .stats
                .and_then(|s| s.stripe_rate)
                .map_or(0, |r| r.requests);
            let events = plan(&subs, n, if queued { "q" } else { "b" });
            let unique = {
                let mut ids: Vec<&String> = events.iter().map(|e| &e.0).collect();
                ids.sort();
                ids.dedup();
                ids.len()
            };
            let b = burst(&url, &events, &console).await;
            let store = console.store().await.unwrap();
            let stats = console.receiver_status().await.stats.unwrap();
            let found = in_ledger(&store, &b.acked).await;
            let acked_unique = {
                let mut a = b.acked.clone();
                a.sort();
                a.dedup();
                a.len() as u64
            };
            let mode = if queued {
                "the write queue (kept)"
            } else {
                "BEGIN IMMEDIATE alone"
            };
            println!(
                "{:<44} {:>12} {:>12} {:>8}",
                format!("burst of {n} ({unique} unique), {mode}"),
                "",
                "",
                ""
            );
            let lock_errors = b.answers_500 + stats.settle_failures + stats.panics;
            println!(
                "{:<44} {:>12} {:>12} {:>8}",
                "  lock errors (500s, failed settles, panics)",
                lock_errors,
                0,
                if lock_errors == 0 { "ok" } else { "FAIL" }
            );
            if let Some(e) = &stats.settle_last_error {
                println!("    last settle error: {e}");
            }
            println!(
                "  acked {} ({} unique), in the ledger {found}, other answers {}; waits over 1 s: {}",
                b.acked.len(),
                acked_unique,
                b.other_failures,
                store.slow_writes()
            );
            println!(
                "  ack p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, worst {:.2} ms",
                pct(&b.acks, 0.50),
                pct(&b.acks, 0.95),
                pct(&b.acks, 0.99),
                pct(&b.acks, 1.0)
            );
            match b.drained {
                Some(d) => println!(
                    "  sent in {:.2} s ({:.0}/s); drained (dirty set empty) after {:.2} s: {:.0} unique events settled/s; settle runs {}",
                    b.sent.as_secs_f64(),
                    n as f64 / b.sent.as_secs_f64(),
                    d.as_secs_f64(),
                    unique as f64 / d.as_secs_f64(),
                    stats.settle_runs
                ),
                None => println!("  the dirty set did not drain within 300 s"),
            }
            let reads = stats.stripe_rate.as_ref().map_or(0, |r| r.requests) - reads_before;
            println!(
                "{:<44} {:>12} {:>12} {:>8}",
                "  Stripe reads per event (settle)",
                format!("{:.4}", reads as f64 / n as f64),
                "0.05",
                format!("{:.2}", reads as f64 / n as f64 / 0.05)
            );
            println!("    {reads} reads for {n} deliveries");
            console.receiver_stop().await;
        }
    }
    two_syncs(false).await;
    two_syncs(true).await;
}
