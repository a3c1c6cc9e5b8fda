//! `make bench` row: Tollgate's webhook receiver beside Stripe Sync Engine (npm
//! `@supabase/stripe-sync-engine` 0.48.5, pinned in bench/peer/package.json), in one run, on one
//! demo sandbox, driven by one Node client (bench/peer/drive.mjs) with the same 20,000 signed
//! deliveries (18,000 unique events, 2,000 duplicates of earlier ones) 16 at a time. Release
//! build; prints figures, asserts none; fails loudly only when a target cannot be run at all.
//!
//! Targets, each on a fresh store:
//!   - a plain route that only answers 200 (the limit of the client, the machine and HTTP);
//!   - Tollgate's receiver with its settle task, as the app runs them, on SQLite, then on
//!     Postgres (a fresh schema), the store synced from the sandbox first. Settled: every
//!     acknowledged event in the ledger and the dirty set drained;
//!   - the engine behind a small Node server (bench/peer/peer-server.mjs) on the same Postgres
//!     (a fresh database each run: its migrations write into the schema `stripe` whatever its
//!     `schema` option says), its Stripe client pointed at the sandbox, twice: re-reading
//!     (`revalidateObjectsViaStripeApi: ['subscription', 'invoice']`) and by default (the
//!     payload written as it came). It writes before it answers, so settled is its last answer;
//!     its mirror is counted afterwards.
//!
//! Per target: unique events per second from the first send to settled, ack latency
//! p50/p95/p99/worst, Stripe reads made meanwhile (the sandbox's `requests.v1` delta) and reads
//! per unique event; then Tollgate's events/s over each of the engine's modes.
//!
//! The Node packages are installed (`npm ci --prefix bench/peer`) when bench/peer/node_modules
//! lacks the engine.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tollgate_core::console::{Overrides, SecretSource};
use tollgate_core::testing::{postgres_base_url, unique, PgSchema, SandboxFixture};

const SECRET: &str = "whsec_bench0peer00000000000000";
const CONCURRENCY: usize = 16;
const DELIVERIES: usize = 20_000;
const ENGINE: &str = "@supabase/stripe-sync-engine 0.48.5";
/// Event ids of the plan start so; nothing else in a fresh store does.
const ID_PREFIX: &str = "evt_1PeerBench";

fn die(why: impl std::fmt::Display) -> ! {
    eprintln!("peer_bench: {why}");
    std::process::exit(1);
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/peer")
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

/// The Node side, installed from the committed lock file when it is not there yet.
fn node_ready() {
    let dir = peer_dir();
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => die(format!(
            "`node --version` failed ({}): the load client and the peer need Node 20",
            o.status
        )),
        Err(e) => die(format!(
            "cannot run node ({e}): the load client and the peer need Node 20 and npm"
        )),
    }
    if dir
        .join("node_modules/@supabase/stripe-sync-engine/package.json")
        .exists()
        && dir.join("node_modules/stripe/package.json").exists()
    {
        return;
    }
    eprintln!(
        "peer_bench: installing the peer's Node packages (npm ci --prefix {})",
        dir.display()
    );
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status();
    match out {
        Ok(s) if s.success() => {}
        Ok(s) => die(format!(
            "`npm ci --prefix {}` failed ({s}): the peer ({ENGINE}) and the load client cannot run",
            dir.display()
        )),
        Err(e) => die(format!(
            "cannot run npm ({e}): the peer ({ENGINE}) and the load client cannot run"
        )),
    }
}

/// A child process ended when the bench is done with it (or dies).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the load client printed.
#[derive(Debug)]
struct Drive {
    raw: Value,
    ok: u64,
    acked_unique: u64,
    first_send: f64,
    last_ack: f64,
}

impl Drive {
    fn ms(&self, k: &str) -> f64 {
        self.raw[k].as_f64().unwrap_or(f64::NAN)
    }
}

/// Runs the load client against `url` to the end.
async fn drive(label: &str, url: &str, plan: &Path) -> Drive {
    let mut cmd = Command::new("node");
    cmd.arg(peer_dir().join("drive.mjs"))
        .arg(url)
        .arg(plan)
        .arg(SECRET)
        .arg(CONCURRENCY.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| die(format!("{label}: cannot start the load client: {e}")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    let raw: Value = match (out.status.success(), line) {
        (true, Some(l)) => serde_json::from_str(l)
            .unwrap_or_else(|e| die(format!("{label}: the load client printed {l:?}: {e}"))),
        _ => die(format!(
            "{label}: the load client failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )),
    };
    let d = Drive {
        ok: raw["ok"].as_u64().unwrap_or(0),
        acked_unique: raw["acked_unique"].as_u64().unwrap_or(0),
        first_send: raw["first_send_epoch_ms"].as_f64().unwrap_or(0.0),
        last_ack: raw["last_ack_epoch_ms"].as_f64().unwrap_or(0.0),
        raw,
    };
    if d.ok == 0 {
        die(format!(
            "{label}: not one delivery was answered 2xx, so this target did not run: {}",
            d.raw
        ));
    }
    d
}

/// The sandbox's count of `/v1` requests so far; `None` when it keeps none.
async fn v1_requests(http: &reqwest::Client, base: &str) -> Option<u64> {
    let body = http
        .get(format!("{base}/_sandbox/state"))
        .bearer_auth(tollgate_sandbox::DEFAULT_SECRET_KEY)
        .send()
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    let state: Value = serde_json::from_slice(&body).ok()?;
    state["requests"]["v1"].as_u64()
}

/// The same deliveries for every target: events over the demo's real subscriptions and
/// invoices, as Stripe sends them (a subscription update carrying the subscription as the
/// sandbox returns it, or an invoice event carrying one of that subscription's invoices as the
/// sandbox returns it), `created` a second apart every 500; every tenth delivery repeats an
/// earlier one (Stripe retries and duplicates). As door_bench's plan, with real invoices.
fn plan(subs: &[Value], invoices: &[Value], n: usize) -> Vec<(String, String)> {
    let types = [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
    ];
    let sub_of = |inv: &Value| -> Option<String> {
        inv["parent"]["subscription_details"]["subscription"]
            .as_str()
            .or(inv["subscription"].as_str())
            .map(str::to_owned)
    };
    let mut by_sub: std::collections::HashMap<String, Vec<&Value>> = Default::default();
    for inv in invoices {
        if let Some(s) = sub_of(inv) {
            by_sub.entry(s).or_default().push(inv);
        }
    }
    let now = chrono::Utc::now().timestamp();
    let mut out: Vec<(String, String)> = Vec::with_capacity(n);
    for i in 0..n {
        if i % 10 == 9 {
            let again = out[(i * 7919) % out.len()].clone();
            out.push(again);
            continue;
        }
        let sub = &subs[(i * 31) % subs.len()];
        let t = types[i % types.len()];
        let object = if t.starts_with("invoice.") {
            let own = sub["id"].as_str().and_then(|s| by_sub.get(s));
            match own {
                Some(list) => list[(i / types.len()) % list.len()].clone(),
                None => invoices[(i * 17) % invoices.len()].clone(),
            }
        } else {
            sub.clone()
        };
        let id = format!("{ID_PREFIX}{i:010}");
        let body = json!({"id": id, "object": "event", "api_version": tollgate_sandbox::API_VERSION,
                   "created": now + (i / 500) as i64, "livemode": false, "pending_webhooks": 1,
                   "request": {"id": null, "idempotency_key": null}, "type": t,
                   "data": {"object": object}});
        out.push((id, body.to_string()));
    }
    out
}

/// One target's figures.
struct Figures {
    label: String,
    drive: Drive,
    /// From the first send to settled.
    settled_ms: f64,
    reads: Option<u64>,
    unique: usize,
}

impl Figures {
    fn events_per_s(&self) -> f64 {
        self.unique as f64 / (self.settled_ms / 1e3)
    }
    fn reads_per_event(&self) -> Option<f64> {
        self.reads.map(|r| r as f64 / self.unique as f64)
    }
}

fn row(figure: &str, measured: String, target: &str, ratio: String) {
    println!("{figure:<44} {measured:>12} {target:>12} {ratio:>8}");
}

fn print_target(f: &Figures, limit: Option<f64>, detail: &str) {
    let d = &f.drive;
    row(
        &format!("{}: events/s to settled", f.label),
        format!("{:.0}", f.events_per_s()),
        "-",
        "-".into(),
    );
    if let Some(l) = limit {
        row(
            "  ÷ the plain route's events/s",
            format!("{:.2}", f.events_per_s() / l),
            "1.00",
            format!("{:.2}", f.events_per_s() / l),
        );
    }
    row(
        "  ack p95 (ms)",
        format!("{:.2}", d.ms("p95_ms")),
        "10",
        format!("{:.2}", d.ms("p95_ms") / 10.0),
    );
    row(
        "  ack worst (ms)",
        format!("{:.2}", d.ms("max_ms")),
        "100",
        format!("{:.2}", d.ms("max_ms") / 100.0),
    );
    match f.reads_per_event() {
        Some(r) => row(
            "  Stripe reads per unique event",
            format!("{r:.3}"),
            "0.05",
            format!("{:.2}", r / 0.05),
        ),
        None => row(
            "  Stripe reads per unique event",
            "n/a".into(),
            "0.05",
            "-".into(),
        ),
    }
    println!(
        "  sent {}, 2xx {} ({} unique of {}), non-2xx {}, network errors {}",
        d.raw["sent"], d.ok, d.acked_unique, f.unique, d.raw["non2xx"], d.raw["network_errors"]
    );
    if let Some(s) = d.raw["samples"].as_array().filter(|s| !s.is_empty()) {
        println!("    e.g. {}", Value::Array(s.clone()));
    }
    println!(
        "  ack p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, worst {:.2} ms; last ack after {:.2} s, settled after {:.2} s",
        d.ms("p50_ms"),
        d.ms("p95_ms"),
        d.ms("p99_ms"),
        d.ms("max_ms"),
        d.ms("elapsed_ms") / 1e3,
        f.settled_ms / 1e3
    );
    println!(
        "  Stripe reads during the run: {}{}",
        f.reads.map(|r| r.to_string()).unwrap_or_else(|| {
            "n/a (the sandbox's GET /_sandbox/state has no requests.v1)".into()
        }),
        detail
    );
}

/// A console on `db_url` and the sandbox, with the bench's webhook secret.
fn console(f: &SandboxFixture, db_url: &str) -> tollgate_core::Console {
    tollgate_core::Console::new(
        tollgate_core::Environment::Test,
        "cli",
        &unique("dev.tollgate.peerbench"),
        Overrides {
            stripe_secret_key: Some(tollgate_sandbox::DEFAULT_SECRET_KEY.into()),
            webhook_secrets: Some(SECRET.into()),
            database_url: Some((db_url.to_owned(), SecretSource::Flag)),
            stripe_api_base: Some(f.sandbox.base_url()),
        },
    )
}

/// Tollgate's receiver and settle task on a fresh store (synced from the sandbox first).
async fn tollgate(
    f: &SandboxFixture,
    http: &reqwest::Client,
    label: &str,
    db_url: &str,
    plan_path: &Path,
    unique: usize,
) -> (Figures, String) {
    let console = console(f, db_url);
    console
        .sync(true, None)
        .await
        .unwrap_or_else(|e| die(format!("{label}: the store could not sync the demo: {e:?}")));
    let store = console
        .store()
        .await
        .unwrap_or_else(|e| die(format!("{label}: no store: {e:?}")));
    let url = console
        .receiver_start(0)
        .await
        .unwrap_or_else(|e| die(format!("{label}: the receiver did not start: {e:?}")))
        .url
        .unwrap();
    let base = f.sandbox.base_url();
    let before = v1_requests(http, &base).await;

    // The dirty set, sampled every 10 ms from before the first send until it is drained after
    // the last answer: (wall clock, dirty).
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(f64, u64)>::new()));
    let sampler = {
        let (store, samples) = (store.clone(), samples.clone());
        tokio::spawn(async move {
            loop {
                let dirty = store.dirty_count().await.unwrap_or(u64::MAX);
                samples.lock().unwrap().push((epoch_ms(), dirty));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let d = drive(label, &url, plan_path).await;
    // Settled: the first sample after the last answer that finds the dirty set empty, and the
    // next one too (a settle run may be between batches). Every acknowledged event is in the
    // ledger by then: the receiver answers after its commit (counted below).
    let deadline = Instant::now() + Duration::from_secs(300);
    let settled_at = loop {
        let found = {
            let s = samples.lock().unwrap();
            let after: Vec<&(f64, u64)> = s.iter().filter(|s| s.0 >= d.last_ack).collect();
            after
                .windows(2)
                .find(|w| w[0].1 == 0 && w[1].1 == 0)
                .map(|w| w[0].0)
        };
        if let Some(t) = found {
            break t;
        }
        if Instant::now() > deadline {
            die(format!(
                "{label}: the dirty set did not drain within 300 s of the last answer"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    sampler.abort();
    let reads = match (before, v1_requests(http, &base).await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let stats = console.receiver_status().await.stats.unwrap_or_default();
    console.receiver_stop().await;
    let in_ledger: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM stripe_events WHERE event_id LIKE '{ID_PREFIX}%'"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap_or(-1);
    let dirty = store.dirty_count().await.unwrap_or(u64::MAX);
    let detail = format!(
        "\n  in the ledger {in_ledger} of {} acknowledged unique, dirty left {dirty}; settle runs {}, failed {}, panics {}{}",
        d.acked_unique,
        stats.settle_runs,
        stats.settle_failures,
        stats.panics,
        stats
            .settle_last_error
            .as_ref()
            .map(|e| format!("; last settle error: {e}"))
            .unwrap_or_default()
    );
    let settled_ms = settled_at - d.first_send;
    (
        Figures {
            label: label.into(),
            drive: d,
            settled_ms,
            reads,
            unique,
        },
        detail,
    )
}

/// The engine behind peer-server.mjs on a fresh database; counts its mirror afterwards.
async fn peer(
    f: &SandboxFixture,
    http: &reqwest::Client,
    label: &str,
    mode: &str,
    plan_path: &Path,
    unique: usize,
    expect: (usize, usize),
) -> (Figures, String) {
    let base_url = postgres_base_url();
    let admin = sqlx::PgPool::connect(&base_url)
        .await
        .unwrap_or_else(|e| die(format!("{label}: Postgres at {base_url}: {e}")));
    let db = tollgate_core::testing::unique("peer").to_lowercase();
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| die(format!("{label}: cannot create database {db}: {e}")));
    let db_url = {
        let no_query = base_url.split('?').next().unwrap();
        let (server, _) = no_query.rsplit_once('/').unwrap();
        format!("{server}/{db}")
    };
    let mut child = Command::new("node")
        .arg(peer_dir().join("peer-server.mjs"))
        .arg(&db_url)
        .arg(SECRET)
        .arg(f.sandbox.base_url())
        .arg(tollgate_sandbox::API_VERSION)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| die(format!("{label}: cannot start the peer: {e}")));
    let stdout = child.stdout.take().unwrap();
    let child = Reaped(child);
    let port = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        lines.find_map(|l| {
            l.ok()?
                .strip_prefix("listening ")
                .and_then(|p| p.trim().parse::<u16>().ok())
        })
    });
    let Some(port) = tokio::time::timeout(Duration::from_secs(120), port)
        .await
        .ok()
        .and_then(|r| r.ok().flatten())
    else {
        drop(child);
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&admin)
            .await;
        die(format!(
            "{label}: the peer did not start listening (its migrations or Node failed; see above)"
        ));
    };
    let url = format!("http://127.0.0.1:{port}/webhook");
    let base = f.sandbox.base_url();
    let before = v1_requests(http, &base).await;
    let d = drive(label, &url, plan_path).await;
    let reads = match (before, v1_requests(http, &base).await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    drop(child);
    let pool = sqlx::PgPool::connect(&db_url)
        .await
        .unwrap_or_else(|e| die(format!("{label}: cannot read the peer's database: {e}")));
    let count = |table: &str| {
        let pool = pool.clone();
        let sql = format!("SELECT count(*) FROM stripe.{table}");
        async move {
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&pool)
                .await
                .unwrap_or(-1)
        }
    };
    let (subs, invoices, items) = (
        count("subscriptions").await,
        count("invoices").await,
        count("subscription_items").await,
    );
    pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await;
    admin.close().await;
    let detail = format!(
        "\n  its mirror: {subs} subscriptions of {} in the plan, {invoices} invoices of {}, {items} subscription items",
        expect.0, expect.1
    );
    let settled_ms = d.last_ack - d.first_send;
    (
        Figures {
            label: label.into(),
            drive: d,
            settled_ms,
            reads,
            unique,
        },
        detail,
    )
}

/// A route that only answers 200: what the client, the machine and HTTP allow.
async fn plain(http: &reqwest::Client, base: &str, plan_path: &Path, unique: usize) -> Figures {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/webhook",
        post(|_body: axum::body::Bytes| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let before = v1_requests(http, base).await;
    let d = drive(
        "the plain route",
        &format!("http://{addr}/webhook"),
        plan_path,
    )
    .await;
    let reads = match (before, v1_requests(http, base).await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    server.abort();
    let settled_ms = d.last_ack - d.first_send;
    Figures {
        label: "plain 200 (the limit)".into(),
        drive: d,
        settled_ms,
        reads,
        unique,
    }
}

#[tokio::main]
async fn main() {
    // Which targets (all unless named): sqlite postgres engine-reread engine-default.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let known = ["sqlite", "postgres", "engine-reread", "engine-default"];
    if let Some(bad) = only.iter().find(|a| !known.contains(&a.as_str())) {
        die(format!(
            "unknown target {bad:?}: name some of {known:?}, or none for all"
        ));
    }
    let wanted = |t: &str| only.is_empty() || only.iter().any(|a| a == t);
    node_ready();
    // Postgres is needed by two targets of three: say so before anything runs.
    if let Err(e) = sqlx::PgPool::connect(&postgres_base_url()).await {
        die(format!(
            "Postgres at {} is needed (Tollgate on Postgres, and the peer): {e}",
            postgres_base_url()
        ));
    }
    let f = SandboxFixture::start(tollgate_sandbox::Seed::Demo).await;
    let base = f.sandbox.base_url();
    let http = reqwest::Client::new();

    // The demo's subscriptions and invoices, as the sandbox returns them.
    let gw = console(&f, &f.db_url).gateway().unwrap();
    let list = |path: &'static str, query: Value| {
        let gw = &gw;
        async move {
            let mut all = Vec::new();
            let mut pages = gw.pages(path, query, None);
            while let Some(items) = pages
                .next()
                .await
                .unwrap_or_else(|e| die(format!("cannot list {path} from the sandbox: {e}")))
            {
                all.extend(items);
            }
            all
        }
    };
    let subs = list("/subscriptions", json!({"status": "all"})).await;
    let invoices = list("/invoices", json!({})).await;
    if subs.is_empty() || invoices.is_empty() {
        die(format!(
            "the demo sandbox listed {} subscriptions and {} invoices: nothing to send",
            subs.len(),
            invoices.len()
        ));
    }
    let events = plan(&subs, &invoices, DELIVERIES);
    let unique_ids: std::collections::HashSet<&str> = events.iter().map(|e| e.0.as_str()).collect();
    let unique = unique_ids.len();
    let touched = |prefix: &str| {
        let mut ids: std::collections::HashSet<String> = Default::default();
        for (_, b) in &events {
            let v: Value = serde_json::from_str(b).unwrap();
            if let Some(id) = v["data"]["object"]["id"].as_str() {
                if id.starts_with(prefix) {
                    ids.insert(id.to_owned());
                }
            }
        }
        ids.len()
    };
    let expect = (touched("sub_"), touched("in_"));
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.jsonl");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&plan_path).unwrap());
        for (_, body) in &events {
            writeln!(w, "{body}").unwrap();
        }
    }
    let reads_counted = v1_requests(&http, &base).await.is_some();

    println!(
        "webhook receivers side by side: {DELIVERIES} deliveries ({unique} unique) at {CONCURRENCY}-way from one Node client, the demo sandbox"
    );
    println!(
        "  plan: {} subscription updates and invoice events over {} subscriptions and {} invoices (of {} and {} in the sandbox); peer: {ENGINE}{}",
        events.len(),
        expect.0,
        expect.1,
        subs.len(),
        invoices.len(),
        if reads_counted {
            ""
        } else {
            "; the sandbox counts no requests, so no Stripe reads are shown"
        }
    );

    // The plain route always runs (the other rows are read against it).
    let limit = plain(&http, &base, &plan_path, unique).await;
    print_target(&limit, None, "");
    let limit_eps = limit.events_per_s();

    let mut tollgates = Vec::new();
    if wanted("sqlite") {
        let sqlite_url = format!("sqlite://{}", dir.path().join("tollgate.sqlite3").display());
        let (t, detail) = tollgate(
            &f,
            &http,
            "Tollgate, SQLite",
            &sqlite_url,
            &plan_path,
            unique,
        )
        .await;
        print_target(&t, Some(limit_eps), &detail);
        tollgates.push((t, "SQLite"));
    }
    if wanted("postgres") {
        let schema = PgSchema::new().await;
        let (t, detail) = tollgate(
            &f,
            &http,
            "Tollgate, Postgres",
            &schema.url,
            &plan_path,
            unique,
        )
        .await;
        print_target(&t, Some(limit_eps), &detail);
        drop(schema);
        tollgates.push((t, "Postgres"));
    }
    let mut peers = Vec::new();
    for (name, mode, label) in [
        ("engine-reread", "revalidate", "re-reading"),
        ("engine-default", "default", "default"),
    ] {
        if wanted(name) {
            let (p, detail) = peer(
                &f,
                &http,
                &format!("Sync Engine, {label}"),
                mode,
                &plan_path,
                unique,
                expect,
            )
            .await;
            print_target(&p, Some(limit_eps), &detail);
            peers.push((p, label));
        }
    }

    for (t, tn) in &tollgates {
        for (p, pn) in &peers {
            let r = t.events_per_s() / p.events_per_s();
            row(
                &format!("Tollgate {tn} ÷ engine {pn}, ev/s"),
                format!("{r:.2}"),
                "≥2.0",
                format!("{:.2}", r / 2.0),
            );
        }
    }
}
