//! The sandbox under load, as Stripe would be: its rate limiter, the counters a benchmark
//! reads, webhook deliveries in flight, and renewal day (10,000 subscriptions renewing in one
//! clock advance).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tollgate_sandbox::{start, RunningSandbox, SandboxConfig};

const KEY: &str = "sk_test_sandbox";

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn call(
    sb: &RunningSandbox,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> Answer {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().copied())
        .finish();
    let http = reqwest::Client::new();
    let req = if method == reqwest::Method::GET {
        let sep = if path.contains('?') { '&' } else { '?' };
        http.get(format!("{}{path}{sep}{body}", sb.base_url()))
    } else {
        http.request(method, format!("{}{path}", sb.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let res = req.bearer_auth(KEY).send().await.unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        text: res.text().await.unwrap(),
    }
}

async fn get(sb: &RunningSandbox, path: &str) -> Answer {
    call(sb, reqwest::Method::GET, path, &[]).await
}

async fn post(sb: &RunningSandbox, path: &str, form: &[(&str, &str)]) -> Answer {
    call(sb, reqwest::Method::POST, path, form).await
}

async fn ok(sb: &RunningSandbox, path: &str, form: &[(&str, &str)]) -> Value {
    let a = post(sb, path, form).await;
    assert_eq!(a.status, 200, "{path}: {}", a.text);
    a.json()
}

async fn state(sb: &RunningSandbox) -> Value {
    let a = get(sb, "/_sandbox/state").await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.json()
}

async fn monthly_price(sb: &RunningSandbox) -> String {
    let prod = ok(sb, "/v1/products", &[("name", "Load")]).await;
    let price = ok(
        sb,
        "/v1/prices",
        &[
            ("currency", "eur"),
            ("unit_amount", "2500"),
            ("recurring[interval]", "month"),
            ("product", prod["id"].as_str().unwrap()),
        ],
    )
    .await;
    price["id"].as_str().unwrap().to_owned()
}

const STRIPE_429: &str = r#"{"error":{"code":"rate_limit","doc_url":"https://stripe.com/docs/error-codes/rate-limit","message":"Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error"}}"#;

/// Sends `n` requests at once (half reads, half writes) and returns their answers.
async fn burst(sb: &RunningSandbox, n: usize) -> Vec<Answer> {
    let mut set = tokio::task::JoinSet::new();
    let base = sb.base_url();
    for i in 0..n {
        let base = base.clone();
        set.spawn(async move {
            let http = reqwest::Client::new();
            let req = if i % 2 == 0 {
                http.get(format!("{base}/v1/customers?limit=1"))
            } else {
                http.post(format!("{base}/v1/customers"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("email=burst{i}@x.invalid"))
            };
            let res = req.bearer_auth(KEY).send().await.unwrap();
            Answer {
                status: res.status().as_u16(),
                headers: res.headers().clone(),
                text: res.text().await.unwrap(),
            }
        });
    }
    set.join_all().await
}

#[tokio::test]
async fn the_rate_limiter_answers_past_the_limit_exactly_as_stripe_does() {
    let sb = start(SandboxConfig {
        rate_limit: Some(5),
        ..Default::default()
    })
    .await
    .unwrap();
    let answers = burst(&sb, 15).await;
    let (admitted, limited): (Vec<&Answer>, Vec<&Answer>) =
        answers.iter().partition(|a| a.status == 200);
    assert_eq!(admitted.len(), 5, "5 a second, reads and writes alike");
    assert_eq!(limited.len(), 10);
    let mut ids = std::collections::HashSet::new();
    for a in &limited {
        assert_eq!(a.status, 429);
        assert_eq!(a.text, STRIPE_429, "Stripe's body, byte for byte");
        assert_eq!(a.headers["stripe-rate-limited-reason"], "global-rate");
        assert!(
            a.headers.get("stripe-should-retry").is_none(),
            "Stripe sends no Stripe-Should-Retry with a 429 of its limiter"
        );
        let id = a.headers["request-id"].to_str().unwrap().to_owned();
        assert!(id.starts_with("req_") && id.len() == 18, "{id}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 10, "each 429 has its own request id");

    // A second later the window has moved on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&sb, "/v1/customers").await.status, 200);

    let s = state(&sb).await;
    assert_eq!(s["rate_limit"], 5);
    assert_eq!(s["requests"]["v1"], 16);
    assert_eq!(s["requests"]["v1_get"], 9);
    assert_eq!(s["requests"]["v1_post"], 7);
    assert_eq!(s["requests"]["rate_limited"], 10);
    assert_eq!(s["requests"]["faulted"], 0);

    // Off at run time, then on again lower.
    assert_eq!(
        ok(&sb, "/_sandbox/rate_limit", &[("limit", "0")]).await["rate_limit"],
        Value::Null
    );
    assert!(burst(&sb, 30).await.iter().all(|a| a.status == 200));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ok(&sb, "/_sandbox/rate_limit", &[("limit", "2")]).await["rate_limit"],
        2
    );
    let answers = burst(&sb, 6).await;
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 2);
    assert_eq!(state(&sb).await["rate_limit"], 2);

    // Control routes are not rate limited, and check their input as Stripe would.
    let bad = post(&sb, "/_sandbox/rate_limit", &[("limit", "-1")]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], "limit");
    let missing = post(&sb, "/_sandbox/rate_limit", &[]).await;
    assert_eq!(missing.status, 400);
}

#[tokio::test]
async fn injected_faults_still_work_beside_the_rate_limiter_and_are_counted() {
    let sb = start(SandboxConfig {
        rate_limit: Some(3),
        ..Default::default()
    })
    .await
    .unwrap();
    ok(
        &sb,
        "/_sandbox/faults",
        &[("status", "500"), ("count", "1")],
    )
    .await;
    ok(
        &sb,
        "/_sandbox/faults",
        &[("status", "429"), ("count", "1")],
    )
    .await;
    // The limiter comes first: the first three requests of the second meet the faults.
    let first = get(&sb, "/v1/customers").await;
    assert_eq!(first.status, 500);
    assert_eq!(first.headers["stripe-should-retry"], "true");
    let second = get(&sb, "/v1/customers").await;
    assert_eq!(second.status, 429);
    assert_eq!(second.headers["stripe-should-retry"], "true");
    assert_eq!(second.json()["error"]["code"], "rate_limit");
    assert_eq!(get(&sb, "/v1/customers").await.status, 200);
    let limited = get(&sb, "/v1/customers").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["stripe-rate-limited-reason"], "global-rate");
    let s = state(&sb).await;
    assert_eq!(s["requests"]["v1"], 4);
    assert_eq!(s["requests"]["faulted"], 2);
    assert_eq!(s["requests"]["rate_limited"], 1);

    // The request counters reset; nothing else does.
    let reset = ok(&sb, "/_sandbox/requests/reset", &[]).await;
    assert_eq!(reset["requests"]["v1"], 0);
    let s = state(&sb).await;
    for k in ["v1", "v1_get", "v1_post", "rate_limited", "faulted"] {
        assert_eq!(s["requests"][k], 0, "{k}");
    }
    assert_eq!(s["rate_limit"], 3);
}

/// A webhook receiver on port 0: records (signature, body) of what it accepts and the most
/// requests it held at once; answers 500 to a body containing a key of `refuse` while that
/// key's count lasts.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, String)>>>,
    max_in_flight: Arc<AtomicUsize>,
}

async fn receiver(delay: Duration, refuse: Arc<Mutex<HashMap<String, usize>>>) -> Receiver {
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (g, i, m) = (got.clone(), in_flight.clone(), max_in_flight.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (g, i, m, refuse) = (g.clone(), i.clone(), m.clone(), refuse.clone());
            async move {
                let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                i.fetch_sub(1, Ordering::SeqCst);
                for (needle, left) in refuse.lock().unwrap().iter_mut() {
                    if *left > 0 && body.contains(needle.as_str()) {
                        *left -= 1;
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                }
                let sig = headers["stripe-signature"].to_str().unwrap().to_owned();
                g.lock().unwrap().push((sig, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        url,
        got,
        max_in_flight,
    }
}

async fn drained(sb: &RunningSandbox, within: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let s = state(sb).await;
        let w = &s["webhooks"];
        let done = w["delivered"].as_u64().unwrap() + w["failed"].as_u64().unwrap();
        if done >= w["queued"].as_u64().unwrap() {
            return s;
        }
        assert!(
            t0.elapsed() < within,
            "webhooks not drained in {within:?}: {w}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn secret_of(endpoint: &Value) -> String {
    endpoint["secret"].as_str().unwrap().to_owned()
}

fn check_signature(secret: &str, sig: &str, body: &str) {
    let t: i64 = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sig, tollgate_sandbox::signature_header(secret, t, body));
}

#[tokio::test]
async fn webhook_deliveries_in_flight_are_settable_signed_retried_and_counted() {
    let refuse: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let rx = receiver(Duration::from_millis(40), refuse.clone()).await;
    let sb = start(SandboxConfig {
        webhook_concurrency: 8,
        ..Default::default()
    })
    .await
    .unwrap();
    let before = state(&sb).await;
    assert_eq!(
        before["webhooks"],
        serde_json::json!({ "queued": 0, "delivered": 0, "failed": 0, "last_delivered_at_ms": null })
    );
    let price = monthly_price(&sb).await;
    let we = ok(
        &sb,
        "/v1/webhook_endpoints",
        &[("url", &rx.url), ("enabled_events[]", "*")],
    )
    .await;
    let secret = secret_of(&we);
    // 10 organizations: customer.created, customer.subscription.created and four invoice
    // events each.
    let t0 = Instant::now();
    ok(
        &sb,
        "/_sandbox/populate",
        &[("count", "10"), ("price", &price)],
    )
    .await;
    let s = drained(&sb, Duration::from_secs(20)).await;
    let took = t0.elapsed();
    assert_eq!(s["webhooks"]["queued"], 60);
    assert_eq!(s["webhooks"]["delivered"], 60);
    assert_eq!(s["webhooks"]["failed"], 0);
    let last = s["webhooks"]["last_delivered_at_ms"].as_i64().unwrap();
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((wall_ms - last).abs() < 60_000, "{last} is unix ms");
    let max = rx.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=8).contains(&max),
        "at most 8 in flight, and more than one: {max}"
    );
    assert!(
        took < Duration::from_millis(60 * 40),
        "faster than one at a time: {took:?}"
    );
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 60);
    for (sig, body) in &got {
        check_signature(&secret, sig, body);
    }
    // Every event's pending_webhooks came down to 0.
    let evs = get(&sb, "/v1/events?limit=100").await.json();
    assert!(evs["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["pending_webhooks"] == 0));

    // A refused delivery is retried (and counted once, delivered); one refused every time
    // fails after its retries.
    rx.got.lock().unwrap().clear();
    refuse
        .lock()
        .unwrap()
        .extend([("once@".to_owned(), 1), ("never@".to_owned(), usize::MAX)]);
    ok(&sb, "/v1/customers", &[("email", "once@x.invalid")]).await;
    ok(&sb, "/v1/customers", &[("email", "never@x.invalid")]).await;
    let s = drained(&sb, Duration::from_secs(20)).await;
    assert_eq!(s["webhooks"]["queued"], 62);
    assert_eq!(s["webhooks"]["delivered"], 61);
    assert_eq!(s["webhooks"]["failed"], 1);
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(got[0].1.contains("once@x.invalid"));
    check_signature(&secret, &got[0].0, &got[0].1);
    assert_eq!(
        refuse.lock().unwrap()["never@"],
        usize::MAX - 3,
        "tried three times"
    );
}

#[tokio::test]
async fn one_delivery_in_flight_by_default_keeps_the_order_events_happened_in() {
    let rx = receiver(Duration::from_millis(5), Arc::default()).await;
    let sb = start(SandboxConfig::default()).await.unwrap();
    let price = monthly_price(&sb).await;
    ok(
        &sb,
        "/v1/webhook_endpoints",
        &[("url", &rx.url), ("enabled_events[]", "*")],
    )
    .await;
    ok(
        &sb,
        "/_sandbox/populate",
        &[("count", "5"), ("price", &price)],
    )
    .await;
    drained(&sb, Duration::from_secs(20)).await;
    let mut logged: Vec<String> = get(&sb, "/v1/events?limit=100").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    logged.reverse();
    // Those made before the endpoint was registered (the product and the price) go nowhere.
    let logged = logged.split_off(logged.len() - 30);
    let received: Vec<String> = rx
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<Value>(body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(received.len(), 30);
    assert_eq!(received, logged, "delivered one at a time, oldest first");
    assert_eq!(rx.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn renewal_day_answers_the_ids_and_the_advance_that_renews_them() {
    let sb = start(SandboxConfig::default()).await.unwrap();
    let price = monthly_price(&sb).await;
    let day = ok(
        &sb,
        "/_sandbox/renewal_day",
        &[("count", "3"), ("price", &price)],
    )
    .await;
    assert_eq!(day["created"], 3);
    let subs = day["subscriptions"].as_array().unwrap();
    let customers = day["customers"].as_array().unwrap();
    assert_eq!((subs.len(), customers.len()), (3, 3));
    let now = get(&sb, "/_sandbox/clock").await.json()["now"]
        .as_i64()
        .unwrap();
    let end = day["current_period_end"].as_i64().unwrap();
    assert!(end > now + 27 * 86400, "a month from now");
    // Answered a moment before `now` was read: one second past the period's end from then.
    let advance = day["advance_seconds"].as_i64().unwrap();
    assert!(
        (end - now + 1..=end - now + 3).contains(&advance),
        "{advance}"
    );
    for (s, c) in subs.iter().zip(customers) {
        let sub = get(&sb, &format!("/v1/subscriptions/{}", s.as_str().unwrap()))
            .await
            .json();
        assert_eq!(sub["status"], "active");
        assert_eq!(sub["customer"], *c);
        assert_eq!(sub["items"]["data"][0]["current_period_end"], end);
        assert!(sub["metadata"]["organization_id"]
            .as_str()
            .unwrap()
            .starts_with("renewal_org_"));
    }
    // A minute before the period ends, nothing renews; at its end, all three do.
    let secs = (end - now - 60).to_string();
    let adv = ok(&sb, "/_sandbox/clock/advance", &[("seconds", &secs)]).await;
    assert_eq!(adv["renewed"], 0);
    let adv = ok(&sb, "/_sandbox/clock/advance", &[("seconds", "61")]).await;
    assert_eq!(adv["renewed"], 3);

    // Checked as populate is.
    let bad = post(
        &sb,
        "/_sandbox/renewal_day",
        &[("count", "0"), ("price", &price)],
    )
    .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["param"].clone()),
        (400, "count".into())
    );
    let bad = post(
        &sb,
        "/_sandbox/renewal_day",
        &[("count", "2"), ("price", "price_nope")],
    )
    .await;
    assert_eq!(bad.status, 404);
    let bad = post(&sb, "/_sandbox/renewal_day", &[("count", "2")]).await;
    assert_eq!(bad.json()["error"]["code"], "parameter_missing");
}

/// Renewal day over HTTP: 2,000 renewals in one advance, their 10,000 events delivered signed
/// to a local receiver, 16 at a time. Completeness only: 10,000 renewals and their events are
/// checked on the world itself (`billing::tests`, quick enough in a debug build), and timed, with
/// their 50,000 deliveries, in the release build by the `bench` example.
#[tokio::test]
async fn renewal_day_delivers_every_renewal_event_signed_sixteen_at_a_time() {
    const N: usize = 2_000;
    // A millisecond each, so that deliveries overlap where the receiver can see it.
    let rx = receiver(Duration::from_millis(1), Arc::default()).await;
    let sb = start(SandboxConfig {
        webhook_concurrency: 16,
        ..Default::default()
    })
    .await
    .unwrap();
    let price = monthly_price(&sb).await;
    let day = ok(
        &sb,
        "/_sandbox/renewal_day",
        &[("count", &N.to_string()), ("price", &price)],
    )
    .await;
    assert_eq!(day["created"], N);
    // Registered after populating: what it receives is the renewals' events.
    let we = ok(
        &sb,
        "/v1/webhook_endpoints",
        &[("url", &rx.url), ("enabled_events[]", "*")],
    )
    .await;
    let secret = secret_of(&we);
    let before = state(&sb).await;
    let adv = ok(
        &sb,
        "/_sandbox/clock/advance",
        &[("seconds", &day["advance_seconds"].to_string())],
    )
    .await;
    assert_eq!(adv["renewed"], N);
    let s = drained(&sb, Duration::from_secs(240)).await;
    let queued =
        s["webhooks"]["queued"].as_u64().unwrap() - before["webhooks"]["queued"].as_u64().unwrap();
    assert_eq!(queued, 5 * N as u64);
    assert_eq!(s["webhooks"]["failed"], 0);
    assert_eq!(
        s["objects"]["event"],
        6 * N + 5 * N + 2,
        "populate's six a renewal's five, and the catalog's two"
    );
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), 5 * N);
    let max = rx.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=16).contains(&max), "{max} in flight");
    let mut types: HashMap<String, usize> = HashMap::new();
    let mut per_sub: HashMap<String, usize> = HashMap::new();
    for (i, (sig, body)) in got.iter().enumerate() {
        if i % 97 == 0 {
            check_signature(&secret, sig, body);
        }
        let ev: Value = serde_json::from_str(body).unwrap();
        *types
            .entry(ev["type"].as_str().unwrap().to_owned())
            .or_default() += 1;
        let obj = &ev["data"]["object"];
        let sub = if obj["object"] == "subscription" {
            obj["id"].clone()
        } else {
            obj["parent"]["subscription_details"]["subscription"].clone()
        };
        *per_sub.entry(sub.as_str().unwrap().to_owned()).or_default() += 1;
    }
    for t in [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ] {
        assert_eq!(types.get(t), Some(&N), "{t}");
    }
    assert_eq!(per_sub.len(), N);
    assert!(per_sub.values().all(|n| *n == 5));
}
