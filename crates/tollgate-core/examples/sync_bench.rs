//! `make bench` rows for the sync engine (release build). Prints figures and ratios to
//! target; asserts nothing.
//!   - 100,000 events through the door into SQLite (10% duplicates), in Stripe's page size;
//!     and the same events applied to the projections from their payloads (Stripe offline);
//!   - a full sync of 10,000 subscriptions from the sandbox over HTTP;
//!   - a filtered, sorted page of the Subscriptions list over 100,000 organizations;
//!   - webhook receive-to-commit: signed deliveries to the receiver over loopback, timed
//!     from the client until the 200 that is sent after the commit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_core::domain::WebhookSecret;
use tollgate_core::store::sync_views::SubscriptionQuery;
use tollgate_core::store::{Store, StoreTarget};
use tollgate_core::sync::receiver::Receiver;
use tollgate_core::sync::{Event, Processor};
use tollgate_core::testing::SandboxFixture;

fn row(name: &str, measured: String, target: String, ratio: f64) {
    println!("{name:<44} {measured:>12} {target:>12} {ratio:>8.2}");
}

fn median(v: Vec<Duration>) -> Duration {
    pct(v, 0.5)
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

const STATUSES: [&str; 4] = ["trialing", "active", "past_due", "active"];

/// Subscription event `n` of `subs` subscriptions: each walks trialing → active → past_due →
/// active, one step a second, with Stripe-like scrambled ids.
fn sub_event(n: usize, subs: usize) -> Value {
    let s = n % subs;
    let step = n / subs;
    let status = STATUSES[step % STATUSES.len()];
    json!({
        "id": format!("evt_{:016x}", (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        "object": "event", "api_version": "2025-08-27.basil", "created": 1_760_000_000 + step as i64,
        "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "type": if step == 0 { "customer.subscription.created" } else { "customer.subscription.updated" },
        "data": {"object": {
            "id": format!("sub_bench{s:07}"), "object": "subscription", "customer": format!("cus_bench{s:07}"),
            "status": status, "created": 1_760_000_000, "start_date": 1_760_000_000, "cancel_at_period_end": false,
            "metadata": {},
            "items": {"object": "list", "data": [{"id": format!("si_bench{s:07}"), "quantity": 1,
                "current_period_start": 1_760_000_000, "current_period_end": 1_762_592_000,
                "price": {"id": "price_bench_monthly", "unit_amount": 4900, "currency": "eur", "recurring": {"interval": "month", "interval_count": 1}}}]}
        }}
    })
}

async fn temp_store(dir: &std::path::Path, name: &str) -> Store {
    let store = Store::open(&StoreTarget::SqliteFile(dir.join(name)))
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate");
    store
}

async fn events_bench(dir: &std::path::Path) {
    const N: usize = 100_000;
    const SUBS: usize = 20_000;
    // 90,000 distinct events, then 10,000 of them again, shuffled in among the rest.
    let mut raw: Vec<String> = (0..N * 9 / 10)
        .map(|n| sub_event(n, SUBS).to_string())
        .collect();
    for i in 0..N / 10 {
        let dup = raw[(i * 7919) % raw.len()].clone();
        raw.insert((i * 104_729) % raw.len(), dup);
    }
    let events: Vec<Event> = raw
        .iter()
        .map(|r| Event::parse(r).expect("a bench event"))
        .collect();
    let store = temp_store(dir, "events.sqlite3").await;
    let p = Processor::new(
        store.clone(),
        Arc::new(tollgate_core::testing::Offline),
        vec!["organization_id".into()],
    );
    // Stripe's pages of 100, through the door as the events cursor sends them (Batch: a
    // transaction per 1,000 events).
    let t = Instant::now();
    let mut door = p.batch("cursor");
    for page in events.chunks(100) {
        door.push(page.to_vec()).await.expect("ingest");
    }
    let (_, c) = door.finish().await.expect("ingest");
    let (new, dup) = (c.new, c.duplicate);
    let ingest = t.elapsed();
    let rate = N as f64 / ingest.as_secs_f64();
    row(
        "events through the door, 100,000 (events/s)",
        format!("{rate:.0}"),
        "20000".into(),
        20_000.0 / rate,
    );
    println!(
        "  {new} recorded, {dup} duplicates no-ops, {:.2} s, pages of 100 committed 1,000 at a time",
        ingest.as_secs_f64()
    );
    let t = Instant::now();
    let r = p.settle(&|| false).await.expect("settle");
    let apply = t.elapsed();
    let total = ingest + apply;
    let rate = N as f64 / total.as_secs_f64();
    row(
        "  and applied offline to projections (ev/s)",
        format!("{rate:.0}"),
        "20000".into(),
        20_000.0 / rate,
    );
    println!(
        "  {} subscriptions written from payloads in {:.2} s",
        r.from_payload,
        apply.as_secs_f64()
    );
}

async fn backfill_bench() {
    const SUBS: usize = 10_000;
    let f = SandboxFixture::start(tollgate_sandbox::Seed::Demo).await;
    let base = f.sandbox.base_url();
    let http = reqwest::Client::new();
    let demo = f.console().sync(true, None).await.expect("demo sync");
    let have = demo.backfill.map(|b| b.subscriptions).unwrap_or(0) as usize;
    let r = http
        .post(format!("{base}/_sandbox/populate"))
        .bearer_auth(tollgate_sandbox::DEFAULT_SECRET_KEY)
        .form(&[
            ("count", (SUBS - have).to_string()),
            ("price", "price_1SQbV5K5Ap4Um3SpD65qOwZB".to_string()),
        ])
        .send()
        .await
        .expect("populate");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    // A store of its own: the fixture's was filled by the demo sync above.
    let f2 = SandboxFixture::start(tollgate_sandbox::Seed::Empty).await;
    let c = f2.console_with(tollgate_sandbox::DEFAULT_SECRET_KEY, &base, None);
    let p = c.processor().await.expect("processor");
    let gw = c.gateway().expect("gateway");
    let t = Instant::now();
    let b = tollgate_core::sync::backfill::run(&p, &gw, &tollgate_core::progress::Progress::new())
        .await
        .expect("backfill");
    let took = t.elapsed();
    row(
        "backfill of 10,000 subscriptions (s)",
        format!("{:.1}", took.as_secs_f64()),
        "30".into(),
        took.as_secs_f64() / 30.0,
    );
    println!(
        "  {} customers, {} subscriptions over HTTP, pages of 100",
        b.customers, b.subscriptions
    );
    // The events cursor after it: here every populate event is inside the 5-minute overlap
    // (an account's real history is older), so this is the worst case of a first sync.
    let t = Instant::now();
    let report = c.sync(false, None).await.expect("cursor");
    let cur = report.cursor.unwrap_or_default();
    println!(
        "  then the cursor: {} events in the overlap, {} new, {} objects read again, {:.1} s",
        cur.read,
        cur.new,
        report.settle.confirmed,
        t.elapsed().as_secs_f64()
    );
    f2.sandbox.stop().await;
    f.sandbox.stop().await;
}

async fn page_bench(dir: &std::path::Path) {
    const ORGS: i64 = 100_000;
    let store = temp_store(dir, "page.sqlite3").await;
    let pool = store.pool();
    for sql in [
        format!("INSERT INTO organizations (id, name, email, stripe_customer_id, created_at, updated_at)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
         SELECT 'org_' || i, 'Org ' || substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ', i % 26 + 1, 1) || ' ' || i, 'billing' || i || '@example.invalid', 'cus_' || i, 0, 0 FROM n", last = ORGS - 1),
        format!("INSERT INTO org_subscriptions (stripe_subscription_id, stripe_customer_id, org_id, org_name, email, stripe_price_id, tier, plan_type,
            billing_interval, interval_count, amount, currency, subscription_status, status_rank, current_period_end, cancel_at_period_end, start_date, created,
            search, confirmed, watermark, fetched_ms, updated_at)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
         SELECT 'sub_' || i, 'cus_' || i, 'org_' || i, 'Org ' || substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ', i % 26 + 1, 1) || ' ' || i, 'billing' || i || '@example.invalid',
            CASE i % 4 WHEN 0 THEN 'price_cm' WHEN 1 THEN 'price_ca' WHEN 2 THEN 'price_tm' ELSE 'price_ta' END,
            CASE WHEN i % 4 < 2 THEN 'community' ELSE 'top' END, CASE WHEN i % 2 = 0 THEN 'monthly' ELSE 'annual' END,
            CASE WHEN i % 2 = 0 THEN 'month' ELSE 'year' END, 1, 2500 + (i % 97) * 100, CASE WHEN i % 10 = 0 THEN 'usd' ELSE 'eur' END,
            CASE WHEN i % 20 = 0 THEN 'past_due' WHEN i % 13 = 0 THEN 'canceled' WHEN i % 7 = 0 THEN 'trialing' ELSE 'active' END, 1,
            1760000000 + (i % 1000) * 3600, i % 11 = 0, 1750000000, 1750000000 + i,
            lower('org ' || i || ' billing' || i || '@example.invalid sub_' || i || ' cus_' || i), 1, 0, 0, 0 FROM n", last = ORGS - 1),
    ] {
        sqlx::query(&sql).execute(pool).await.expect("bench rows");
    }
    let queries: Vec<(&str, SubscriptionQuery)> = vec![
        (
            "active, by name",
            SubscriptionQuery {
                status: Some("active".into()),
                ..Default::default()
            },
        ),
        (
            "top annual eur, by amount desc",
            SubscriptionQuery {
                tier: Some("top".into()),
                interval: Some("year".into()),
                currency: Some("eur".into()),
                sort: Some("amount".into()),
                desc: true,
                ..Default::default()
            },
        ),
        (
            "past_due, by period end",
            SubscriptionQuery {
                status: Some("past_due".into()),
                sort: Some("current_period_end".into()),
                ..Default::default()
            },
        ),
        (
            "search 'billing4242', by name",
            SubscriptionQuery {
                search: Some("billing4242".into()),
                ..Default::default()
            },
        ),
        (
            "active, page 400 by name",
            SubscriptionQuery {
                status: Some("active".into()),
                offset: 40_000,
                ..Default::default()
            },
        ),
        (
            "top annual eur, page 200 by amount",
            SubscriptionQuery {
                tier: Some("top".into()),
                interval: Some("year".into()),
                currency: Some("eur".into()),
                sort: Some("amount".into()),
                offset: 20_000,
                ..Default::default()
            },
        ),
        (
            "canceled usd, by created desc",
            SubscriptionQuery {
                status: Some("canceled".into()),
                currency: Some("usd".into()),
                sort: Some("created".into()),
                desc: true,
                ..Default::default()
            },
        ),
        (
            "trialing, page 50 by email",
            SubscriptionQuery {
                status: Some("trialing".into()),
                sort: Some("email".into()),
                offset: 5_000,
                ..Default::default()
            },
        ),
        (
            "everything, by tier desc",
            SubscriptionQuery {
                sort: Some("tier".into()),
                desc: true,
                ..Default::default()
            },
        ),
        (
            "everything, last page by subscription id",
            SubscriptionQuery {
                sort: Some("subscription_id".into()),
                offset: 99_900,
                ..Default::default()
            },
        ),
        (
            "search 'cus_77', annual, by period end",
            SubscriptionQuery {
                search: Some("cus_77".into()),
                interval: Some("year".into()),
                sort: Some("current_period_end".into()),
                ..Default::default()
            },
        ),
        (
            "search 'example' (every row), by amount",
            SubscriptionQuery {
                search: Some("example".into()),
                sort: Some("amount".into()),
                ..Default::default()
            },
        ),
    ];
    // The figure: filtered, sorted pages, and searches for a term few rows hold. A term that
    // every row holds is timed apart: its count reads every row's search text.
    let (queries, broad) = queries.split_at(queries.len() - 1);
    let mut all = Vec::new();
    let mut medians = Vec::new();
    for (name, q) in queries.iter().chain(broad) {
        let _ = store.subscriptions_page(q).await.expect("page"); // warm
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..15 {
            let t = Instant::now();
            let page = store.subscriptions_page(q).await.expect("page");
            times.push(t.elapsed());
            total = page.total;
        }
        let m = median(times.clone());
        println!(
            "  {name:<40} {:>7.2} ms median, {:>6.2} worst ({total} match)",
            m.as_secs_f64() * 1e3,
            pct(times.clone(), 1.0).as_secs_f64() * 1e3
        );
        if std::ptr::eq(q, &broad[0].1) {
            row(
                "  broad search: a term in every row (ms)",
                format!("{:.2}", m.as_secs_f64() * 1e3),
                "20".into(),
                m.as_secs_f64() * 1e3 / 20.0,
            );
        } else {
            all.extend(times);
            medians.push(m);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let m = median(all.clone());
    row(
        "Subscriptions page, 100,000 orgs, median (ms)",
        format!("{:.2}", ms(m)),
        "20".into(),
        ms(m) / 20.0,
    );
    let slowest = pct(medians, 1.0);
    row(
        &format!("  slowest of the {} queries' medians (ms)", queries.len()),
        format!("{:.2}", ms(slowest)),
        "20".into(),
        ms(slowest) / 20.0,
    );
    let p95 = pct(all.clone(), 0.95);
    let worst = pct(all, 1.0);
    println!(
        "  p95 {:.2} ms, single worst {:.2} ms over {} timed pages",
        ms(p95),
        ms(worst),
        queries.len() * 15
    );
}

async fn receiver_bench(dir: &std::path::Path) {
    const N: usize = 2_000;
    let store = temp_store(dir, "receiver.sqlite3").await;
    let p = Processor::new(
        store,
        Arc::new(tollgate_core::testing::Offline),
        vec!["organization_id".into()],
    );
    let secret = "whsec_benchreceiver0000000000";
    let notify = Arc::new(tokio::sync::Notify::new());
    let rx = Receiver::start(p, vec![WebhookSecret::parse(secret).unwrap()], 0, notify)
        .await
        .expect("receiver");
    let url = format!("http://{}/webhook", rx.addr);
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(N);
    for n in 0..N + 50 {
        let body = sub_event(n, 500).to_string();
        let now = chrono::Utc::now().timestamp();
        let sig = tollgate_sandbox::signature_header(secret, now, &body);
        let t = Instant::now();
        let r = http
            .post(&url)
            .header("Stripe-Signature", sig)
            .body(body)
            .send()
            .await
            .expect("delivery");
        let status = r.status();
        let _ = r.bytes().await;
        let took = t.elapsed();
        assert!(status.is_success(), "delivery {n}: {status}");
        if n >= 50 {
            times.push(took); // the first 50 warm the connection and the page cache
        }
    }
    let m = median(times.clone());
    row(
        "webhook receive-to-commit, median (ms)",
        format!("{:.2}", m.as_secs_f64() * 1e3),
        "5".into(),
        m.as_secs_f64() * 1e3 / 5.0,
    );
    println!(
        "  p95 {:.2} ms, worst {:.2} ms over {N} signed deliveries on one keep-alive connection",
        pct(times.clone(), 0.95).as_secs_f64() * 1e3,
        pct(times, 1.0).as_secs_f64() * 1e3
    );
    rx.stop().await;
}

#[tokio::main]
async fn main() {
    // `sync_bench [events] [pages] [receiver] [backfill]`: the named rows only; all by default.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let dir = tempfile::tempdir().expect("temp dir");
    if run("events") {
        events_bench(dir.path()).await;
    }
    if run("pages") {
        page_bench(dir.path()).await;
    }
    if run("receiver") {
        receiver_bench(dir.path()).await;
    }
    if run("backfill") {
        backfill_bench().await;
    }
}
