//! `make bench` rows for the sandbox (release build): start with the demo seed; 1,000
//! `GET /v1/prices?limit=100` from one client; listing 10,000 subscriptions by cursor; renewal
//! day (populate 10,000 organizations, one clock advance renewing them all, the 50,000 webhooks
//! it causes delivered 16 at a time to a local receiver).
//! Prints figures and ratios to target; asserts nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_sandbox::{start, SandboxConfig, Seed};

fn row(name: &str, measured: Duration, target: Duration) {
    let ms = measured.as_secs_f64() * 1000.0;
    let t = target.as_secs_f64() * 1000.0;
    println!("{name:<44} {ms:>12.0} {t:>12.0} {:>8.2}", ms / t);
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::main]
async fn main() {
    let http = reqwest::Client::new();
    // `bench renewal-day`: that row alone.
    if std::env::args().nth(1).as_deref() == Some("renewal-day") {
        renewal_day(&http).await;
        return;
    }

    // Start: seed built, port bound, first request answered.
    let t0 = Instant::now();
    let sb = start(SandboxConfig {
        seed: Seed::Demo,
        ..Default::default()
    })
    .await
    .unwrap();
    let first = http
        .get(format!("{}/v1/account", sb.base_url()))
        .bearer_auth("sk_test_sandbox")
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success());
    row(
        "sandbox start, demo seed (ms)",
        t0.elapsed(),
        Duration::from_secs(1),
    );

    let url = format!("{}/v1/prices?limit=100", sb.base_url());
    let t1 = Instant::now();
    for _ in 0..1000 {
        let r = http
            .get(&url)
            .bearer_auth("sk_test_sandbox")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let _ = r.bytes().await.unwrap();
    }
    row(
        "1,000 GET /v1/prices?limit=100 (ms)",
        t1.elapsed(),
        Duration::from_secs(1),
    );
    sb.stop().await;

    // 10,000 subscriptions, made through the API, then listed 100 at a time by cursor.
    let sb = start(SandboxConfig::default()).await.unwrap();
    let post = |path: &str, body: String| {
        http.post(format!("{}{path}", sb.base_url()))
            .bearer_auth("sk_test_sandbox")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let prod: serde_json::Value = post("/v1/products", "name=Bench".into())
        .await
        .map(json)
        .unwrap()
        .await;
    let price: serde_json::Value = post(
        "/v1/prices",
        format!(
            "currency=eur&unit_amount=2500&recurring[interval]=month&product={}",
            prod["id"].as_str().unwrap()
        ),
    )
    .await
    .map(json)
    .unwrap()
    .await;
    let price = price["id"].as_str().unwrap().to_owned();
    let t2 = Instant::now();
    for i in 0..10_000 {
        let cus: serde_json::Value = post("/v1/customers", format!("email=b{i}@x.invalid"))
            .await
            .map(json)
            .unwrap()
            .await;
        let r = post(
            "/v1/subscriptions",
            format!(
                "customer={}&items[0][price]={price}",
                cus["id"].as_str().unwrap()
            ),
        )
        .await
        .unwrap();
        assert!(r.status().is_success());
    }
    let made = t2.elapsed();
    let t3 = Instant::now();
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let mut u = format!("{}/v1/subscriptions?limit=100", sb.base_url());
        if let Some(a) = &after {
            u.push_str(&format!("&starting_after={a}"));
        }
        let page: serde_json::Value = http
            .get(&u)
            .bearer_auth("sk_test_sandbox")
            .send()
            .await
            .map(json)
            .unwrap()
            .await;
        let data = page["data"].as_array().unwrap();
        n += data.len();
        after = data
            .last()
            .and_then(|s| s["id"].as_str())
            .map(str::to_owned);
        if page["has_more"] != true {
            break;
        }
    }
    assert_eq!(n, 10_000);
    row(
        "list 10,000 subscriptions by cursor (ms)",
        t3.elapsed(),
        Duration::from_secs(2),
    );
    println!(
        "{:<44} {:>12.0} {:>12} {:>8}",
        "(setup: create 10,000 subscriptions, ms)",
        made.as_secs_f64() * 1000.0,
        "-",
        "-"
    );
    sb.stop().await;

    renewal_day(&http).await;
}

/// The 1st of the month: 10,000 active subscriptions renew in one clock advance.
async fn renewal_day(http: &reqwest::Client) {
    let received = Arc::new(AtomicU64::new(0));
    let r2 = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let r2 = r2.clone();
            async move {
                r2.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sb = start(SandboxConfig {
        webhook_concurrency: 16,
        ..Default::default()
    })
    .await
    .unwrap();
    let post = |path: &str, body: String| {
        http.post(format!("{}{path}", sb.base_url()))
            .bearer_auth("sk_test_sandbox")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let prod: serde_json::Value = post("/v1/products", "name=Renewal".into())
        .await
        .map(json)
        .unwrap()
        .await;
    let price: serde_json::Value = post(
        "/v1/prices",
        format!(
            "currency=eur&unit_amount=2500&recurring[interval]=month&product={}",
            prod["id"].as_str().unwrap()
        ),
    )
    .await
    .map(json)
    .unwrap()
    .await;
    let price = price["id"].as_str().unwrap().to_owned();

    let t0 = Instant::now();
    let r = post(
        "/_sandbox/renewal_day",
        format!("count=10000&price={price}"),
    )
    .await
    .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let day: serde_json::Value = json(r).await;
    row(
        "populate 10,000 organizations (ms)",
        t0.elapsed(),
        Duration::from_secs(3),
    );

    // Only now a webhook endpoint: what it receives is the renewals' events.
    let r = post(
        "/v1/webhook_endpoints",
        format!("url={hook}&enabled_events[]=*"),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let t1 = Instant::now();
    let adv: serde_json::Value = post(
        "/_sandbox/clock/advance",
        format!("seconds={}", day["advance_seconds"]),
    )
    .await
    .map(json)
    .unwrap()
    .await;
    assert_eq!(adv["renewed"], 10_000, "{adv}");
    row(
        "advance: 10,000 renewals, 50,000 events (ms)",
        t1.elapsed(),
        Duration::from_secs(3),
    );
    let state = |http: &reqwest::Client| {
        http.get(format!("{}/_sandbox/state", sb.base_url()))
            .bearer_auth("sk_test_sandbox")
            .send()
    };
    // Deliveries begin as the advance answers (the world is free again).
    let t2 = Instant::now();
    let queued = state(http).await.map(json).unwrap().await["webhooks"]["queued"]
        .as_u64()
        .unwrap();
    loop {
        let s = state(http).await.map(json).unwrap().await;
        let done = s["webhooks"]["delivered"].as_u64().unwrap()
            + s["webhooks"]["failed"].as_u64().unwrap();
        if done >= queued || t2.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = received.load(Ordering::Relaxed);
    if got != 50_000 {
        eprintln!("renewal day: the receiver got {got} webhooks, not 50,000");
    }
    row(
        "deliver 50,000 webhooks, 16 in flight (ms)",
        t2.elapsed(),
        Duration::from_secs(30),
    );
    sb.stop().await;
}
