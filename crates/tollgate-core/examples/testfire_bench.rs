//! `make bench` rows for test-fire (release build). Prints figures and ratios to target;
//! asserts nothing. The store is the demo sandbox synced over HTTP, so events carry real ids.
//!   - the whole of `tollgate trigger TYPE` (read the organization from the store, build,
//!     sign, POST, record the attempt), median of 1,000, to Tollgate's own receiver (which
//!     commits before its 200) and to a plain route that checks the signature and answers 200;
//!   - the figure: build, sign and deliver one event (the organization read once),
//!     median of 1,000 to each, and the median store read and history write of a trigger;
//!   - a burst of 10,000 events at 16-way concurrency to that route, end to end (building
//!     every event and recording every attempt included), against a plain HTTP POST loop of
//!     the same bodies, 16 at a time, to the same route: the ratio is the burst's throughput
//!     over the loop's (the loop is the limit; goal 0.5 or more).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use futures_util::stream::{self, StreamExt};
use tollgate_core::console::{DeliveryOptions, TriggerInput};
use tollgate_core::domain::WebhookSecret;
use tollgate_core::testfire::SigningMode;
use tollgate_core::testing::SandboxFixture;

const SECRET: &str = "whsec_bench0testfire0000000000";

fn row(name: &str, measured: String, target: String, ratio: f64) {
    println!("{name:<44} {measured:>12} {target:>12} {ratio:>8.2}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A developer's route as it should be: the signature checked on the raw body, then 200.
async fn plain_route() -> String {
    let secrets = Arc::new(vec![WebhookSecret::parse(SECRET).unwrap()]);
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let secrets = secrets.clone();
        async move {
            let sig = headers
                .get("stripe-signature")
                .and_then(|h| h.to_str().ok());
            match tollgate_core::sync::signature::verify(
                sig,
                &body,
                &secrets,
                tollgate_core::store::now_seconds(),
            ) {
                Ok(_) => (StatusCode::OK, "{\"received\":true}"),
                Err(_) => (StatusCode::BAD_REQUEST, "{\"error\":\"signature\"}"),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/webhook")
}

fn input(url: &str, repeat: u32, concurrency: u32) -> TriggerInput {
    TriggerInput {
        kind: "invoice.payment_failed".into(),
        org: None,
        set: vec![],
        repeat,
        concurrency,
        delivery: DeliveryOptions {
            to: Some(url.to_owned()),
            mode: SigningMode::Valid,
            timeout_ms: None,
            retries: 0,
        },
    }
}

#[tokio::main]
async fn main() {
    let f = SandboxFixture::start(tollgate_sandbox::Seed::Demo).await;
    let console = f.console_with(
        tollgate_sandbox::DEFAULT_SECRET_KEY,
        &f.sandbox.base_url(),
        Some(SECRET),
    );
    console
        .sync(true, None)
        .await
        .expect("sync the demo sandbox");
    let receiver = console
        .receiver_start(0)
        .await
        .expect("receiver")
        .url
        .unwrap();
    let route = plain_route().await;
    let subject = console.testfire_subject(None).await.unwrap();
    assert!(!subject.generated, "events come from the synced store");

    for (name, url) in [
        ("Tollgate's receiver", &receiver),
        ("a plain route", &route),
    ] {
        // Warm the connection pool and the store's statements.
        for _ in 0..50 {
            console.trigger(&input(url, 1, 1), None).await.unwrap();
        }
        let mut times = Vec::with_capacity(1000);
        for _ in 0..1000 {
            let t = Instant::now();
            let r = console.trigger(&input(url, 1, 1), None).await.unwrap();
            times.push(t.elapsed());
            assert_eq!(r.ok, 1);
        }
        let m = median(times);
        row(
            &format!("whole trigger to {name} (ms)"),
            format!("{:.3}", m.as_secs_f64() * 1000.0),
            "2".into(),
            m.as_secs_f64() * 1000.0 / 2.0,
        );
    }

    // The figure itself, build, sign and deliver one event (the organization already read),
    // median of 1,000 to each receiver; then where the rest of a trigger's time goes.
    {
        use tollgate_core::testfire::{events, scenario, sign};
        let secrets = vec![WebhookSecret::parse(SECRET).unwrap()];
        let deliverer = tollgate_core::testfire::Deliverer::new(Duration::from_secs(10));
        let kind = events::kind("type", "invoice.payment_failed").unwrap();
        let subject = console.testfire_subject(None).await.unwrap();
        for (name, url) in [
            ("a plain route", &route),
            ("Tollgate's receiver", &receiver),
        ] {
            let mut times = Vec::with_capacity(1000);
            for _ in 0..1000 {
                let t = Instant::now();
                let story = events::Story::new(subject.clone(), false);
                let ev = events::build(kind, &story, tollgate_core::store::now_seconds());
                let body = serde_json::to_string(&ev).unwrap();
                let (sent, sig) = sign::signed(
                    SigningMode::Valid,
                    &body,
                    &secrets,
                    tollgate_core::store::now_seconds(),
                )
                .unwrap();
                let a = deliverer.post(url, &scenario::headers(sig), &sent).await;
                times.push(t.elapsed());
                assert_eq!(a.http_status, Some(200));
            }
            let m = median(times);
            row(
                &format!("build, sign, deliver to {name} (ms)"),
                format!("{:.3}", m.as_secs_f64() * 1000.0),
                "2".into(),
                m.as_secs_f64() * 1000.0 / 2.0,
            );
        }
        let (mut read, mut record) = (vec![], vec![]);
        for _ in 0..500 {
            let t = Instant::now();
            let subject = console.testfire_subject(None).await.unwrap();
            read.push(t.elapsed());
            let body =
                serde_json::to_string(&events::build(kind, &events::Story::new(subject, false), 0))
                    .unwrap();
            let t = Instant::now();
            console
                .testfire_send(
                    &body,
                    None,
                    &DeliveryOptions {
                        to: Some("http://127.0.0.1:9/none".into()),
                        mode: SigningMode::Unsigned,
                        timeout_ms: Some(1000),
                        retries: 0,
                    },
                )
                .await
                .unwrap();
            record.push(t.elapsed());
        }
        let us = |v: Vec<Duration>| median(v).as_micros();
        println!(
            "  a trigger also reads the organization from the store ({} µs) and records the attempt (a send to a closed port with its record: {} µs), medians of 500",
            us(read),
            us(record)
        );
    }

    // The burst, end to end.
    const N: u32 = 10_000;
    let t = Instant::now();
    let r = console.trigger(&input(&route, N, 16), None).await.unwrap();
    let burst = t.elapsed();
    assert_eq!(r.ok, N, "every event answered 200");
    let ours = N as f64 / burst.as_secs_f64();

    // The limit: the same bodies, already built and signed, POSTed 16 at a time.
    let history = console.testfire_run(&r.run_id).await.unwrap();
    assert_eq!(history.len(), N as usize, "every attempt recorded");
    let requests: Vec<(String, String)> = history
        .iter()
        .map(|d| {
            let sig = d
                .request_headers
                .iter()
                .find(|(k, _)| k == "stripe-signature")
                .unwrap()
                .1
                .clone();
            (sig, d.body.clone())
        })
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let t = Instant::now();
    let ok = stream::iter(requests.iter())
        .map(|(sig, body)| {
            let client = &client;
            let route = &route;
            async move {
                client
                    .post(route.as_str())
                    .header("content-type", "application/json; charset=utf-8")
                    .header("stripe-signature", sig.as_str())
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .buffer_unordered(16)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let plain = t.elapsed();
    assert_eq!(ok, N as usize, "the loop's bodies were accepted too");
    let limit = N as f64 / plain.as_secs_f64();
    row(
        "burst of 10,000 at 16-way, end to end (/s)",
        format!("{ours:.0}"),
        format!("{limit:.0}"),
        ours / limit,
    );
    println!(
        "  burst {:.2} s (sending {:.2} s, then recording 10,000 attempts); plain POST loop {:.2} s; p50 {} µs, p95 {} µs",
        burst.as_secs_f64(),
        r.elapsed_ms as f64 / 1000.0,
        plain.as_secs_f64(),
        r.latency_p50_us.unwrap_or(0),
        r.latency_p95_us.unwrap_or(0),
    );
    println!("  (the ratio is the burst's throughput over the plain loop's: goal 0.5 or more)");
    console.receiver_stop().await;
}
