//! Test-fire end to end: events built from the store's own objects (after a real sync from the
//! sandbox over HTTP), signed every way, delivered to Tollgate's own receiver and to endpoints
//! that misbehave (redirect, 5xx, hang, refuse), with every attempt in the history.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use tollgate_core::console::{DeliveryOptions, ScenarioInput, TriggerInput};
use tollgate_core::testfire::events::{self, Story, CATALOG};
use tollgate_core::testfire::scenario::{story, SCENARIOS};
use tollgate_core::testfire::{Outcome, SigningMode, Subject};
use tollgate_core::testing::SandboxFixture;
use tollgate_sandbox::Seed;

const WHSEC: &str = "whsec_testfire0secret0123456789";

/// Stripe's own example objects: ../shared/stripe/fixtures3.json beside the clone (as in CI),
/// else the sandbox's verbatim copy (a sandbox test checks the copy against it).
fn stripe_examples() -> Value {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/stripe/fixtures3.json"
    );
    match std::fs::read_to_string(shared) {
        Ok(raw) => serde_json::from_str::<Value>(&raw).unwrap()["resources"].clone(),
        Err(_) => serde_json::from_str(include_str!(
            "../../tollgate-sandbox/fixtures/resources.json"
        ))
        .unwrap(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of Stripe's example is there, with Stripe's JSON type where both are non-null.
fn has_stripes_keys(what: &str, got: &Value, example: &Value) {
    let ex = example
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no example"));
    let got = got
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object"));
    for (k, v) in ex {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{what}: missing Stripe's key {k:?}"));
        if !v.is_null() && !g.is_null() {
            assert_eq!(
                json_kind(g),
                json_kind(v),
                "{what}.{k}: {g} against Stripe's {v}"
            );
        }
    }
}

#[test]
fn the_catalog_builds_complete_stripe_events_for_every_type() {
    let examples = stripe_examples();
    assert!(CATALOG.len() >= 25, "{} types", CATALOG.len());
    let names: BTreeSet<&str> = CATALOG.iter().map(|k| k.name).collect();
    for required in [
        "checkout.session.completed",
        "checkout.session.completed:payment",
        "checkout.session.expired",
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "invoice.upcoming",
        "price.created",
        "price.updated",
        "product.created",
        "product.updated",
        "entitlements.active_entitlement_summary.updated",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "application_fee.created",
        "transfer.created",
    ] {
        assert!(
            names.contains(required),
            "{required} is missing from the catalog"
        );
    }
    let subject = Subject::generated(1_800_000_000);
    let st = Story::new(subject.clone(), false);
    let mut ids = BTreeSet::new();
    for k in CATALOG {
        let ev = events::build(k, &st, 1_800_000_000);
        has_stripes_keys(k.name, &ev, &examples["event"]);
        assert_eq!(ev["type"], k.event_type);
        assert_eq!(ev["object"], "event");
        assert_eq!(ev["livemode"], false);
        assert!(ev["id"].as_str().unwrap().starts_with("evt_"));
        assert!(
            ids.insert(ev["id"].as_str().unwrap().to_owned()),
            "event ids are fresh"
        );
        let obj = &ev["data"]["object"];
        assert_eq!(obj["object"], k.resource, "{}", k.name);
        has_stripes_keys(k.name, obj, &examples[k.resource]);
        if k.event_type.ends_with(".updated") {
            assert!(
                ev["data"]["previous_attributes"].is_object(),
                "{}: an update says what changed",
                k.name
            );
        }
        assert_eq!(
            ev["request"]["id"].is_string(),
            k.from_request,
            "{}",
            k.name
        );
        // Filled from the subject, not Stripe's example values.
        let text = ev.to_string();
        assert!(
            text.contains(&subject.customer_id)
                || k.resource.starts_with("price")
                || k.resource == "product"
                || k.resource == "transfer"
                || k.resource == "application_fee",
            "{} names the customer",
            k.name
        );
    }
    let sub = &events::build(
        events::kind("t", "customer.subscription.updated").unwrap(),
        &st,
        1,
    )["data"]["object"];
    has_stripes_keys(
        "subscription item",
        &sub["items"]["data"][0],
        &examples["subscription_item"],
    );
    assert_eq!(
        sub["items"]["data"][0]["price"]["id"],
        subject.price.id.as_str()
    );
    let inv = &events::build(events::kind("t", "invoice.paid").unwrap(), &st, 1)["data"]["object"];
    has_stripes_keys(
        "invoice line",
        &inv["lines"]["data"][0],
        &examples["line_item"],
    );
    assert_eq!(inv["amount_paid"], 2500);
    assert_eq!(
        inv["parent"]["subscription_details"]["subscription"],
        subject.subscription_id.as_str()
    );
    // An unknown type names the field and suggests.
    let e = events::kind("type", "invoice.payed").unwrap_err();
    assert_eq!(e.field, "type");
    assert!(e.rule.contains("invoice.paid"), "{}", e.rule);
}

#[test]
fn stories_send_what_stripe_sends_in_order_about_the_same_objects() {
    let st = Story::new(Subject::generated(1_800_000_000), false);
    let types = |name: &str| -> Vec<String> {
        story(name, &st, 1_800_000_000)
            .unwrap()
            .iter()
            .map(|s| s["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        types("renewal-failed-then-recovered"),
        [
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "charge.failed",
            "payment_intent.payment_failed",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
        ]
    );
    assert_eq!(
        types("cancel-at-period-end"),
        [
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "entitlements.active_entitlement_summary.updated",
        ]
    );
    for s in SCENARIOS
        .iter()
        .filter(|s| !["duplicate", "out-of-order", "burst"].contains(&s.name))
    {
        let steps = story(s.name, &st, 1_800_000_000).unwrap();
        assert!(steps.len() >= 3, "{}", s.name);
        let created: Vec<i64> = steps
            .iter()
            .map(|s| s["created"].as_i64().unwrap())
            .collect();
        assert!(
            created.windows(2).all(|w| w[0] < w[1]),
            "{}: created rises",
            s.name
        );
        let invoices: BTreeSet<&str> = steps
            .iter()
            .filter(|s| {
                s["type"].as_str().unwrap().starts_with("invoice.")
                    && s["type"] != "invoice.upcoming"
            })
            .map(|s| s["data"]["object"]["id"].as_str().unwrap())
            .collect();
        assert!(
            invoices.len() <= 1,
            "{}: one invoice per story, got {invoices:?}",
            s.name
        );
        for step in &steps {
            let o = &step["data"]["object"];
            if o["object"] == "subscription" {
                assert_eq!(o["id"], st.subject.subscription_id.as_str());
            }
        }
    }
    let up = story("upgrade-community-to-top", &st, 1).unwrap();
    let after = &up[0]["data"];
    assert_eq!(
        after["object"]["items"]["data"][0]["price"]["lookup_key"],
        "top-expert-monthly"
    );
    assert_eq!(
        after["previous_attributes"]["items"]["data"][0]["price"]["lookup_key"],
        "community-expert-monthly"
    );
    assert_eq!(
        up[1]["data"]["object"]["amount_due"],
        4900 - 2500,
        "the proration invoice"
    );
    let recovered = story("renewal-failed-then-recovered", &st, 1).unwrap();
    assert_eq!(recovered[6]["data"]["object"]["status"], "past_due");
    assert_eq!(recovered[11]["data"]["object"]["status"], "active");
    assert_ne!(
        recovered[3]["data"]["object"]["id"], recovered[7]["data"]["object"]["id"],
        "the retry is a new charge"
    );
}

fn opts(to: &str, mode: SigningMode) -> DeliveryOptions {
    DeliveryOptions {
        to: Some(to.to_owned()),
        mode,
        timeout_ms: None,
        retries: 0,
    }
}

fn trig(kind: &str, org: Option<&str>, to: &str, mode: SigningMode) -> TriggerInput {
    TriggerInput {
        kind: kind.into(),
        org: org.map(str::to_owned),
        set: vec![],
        repeat: 1,
        concurrency: 1,
        delivery: opts(to, mode),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_with_real_ids_reach_the_receiver_signed_every_way() {
    let f = SandboxFixture::start(Seed::Demo).await;
    let c = f.console_with(
        tollgate_sandbox::DEFAULT_SECRET_KEY,
        &f.sandbox.base_url(),
        Some(WHSEC),
    );
    c.sync(true, None).await.unwrap();
    let receiver = c.receiver_start(0).await.unwrap();
    let url = receiver.url.unwrap();
    assert_eq!(
        c.testfire_default_target().await,
        url,
        "the running receiver is the default target"
    );

    // Filled from the store: the organization's own customer and subscription.
    let subject = c.testfire_subject(None).await.unwrap();
    assert!(!subject.generated && subject.subscription_known);
    assert!(subject.customer_id.starts_with("cus_"));
    let built = c
        .testfire_build(
            "invoice.payment_failed",
            Some(&subject.org_id),
            &["data.object.attempt_count=3".into()],
        )
        .await
        .unwrap();
    let ev: Value = serde_json::from_str(&built.body).unwrap();
    assert_eq!(
        ev["data"]["object"]["customer"],
        subject.customer_id.as_str()
    );
    assert_eq!(ev["data"]["object"]["attempt_count"], 3);
    assert_eq!(
        ev["data"]["object"]["lines"]["data"][0]["pricing"]["price_details"]["price"],
        subject.price.id.as_str()
    );

    // Valid: recorded by the receiver (200 after its commit). Every other mode: refused (400).
    for mode in tollgate_core::testfire::sign::MODES {
        let r = c
            .trigger(
                &trig(
                    "customer.subscription.updated",
                    Some(&subject.org_id),
                    &url,
                    mode,
                ),
                None,
            )
            .await
            .unwrap();
        let d = &r.deliveries[0];
        let want = if mode == SigningMode::Valid { 200 } else { 400 };
        assert_eq!(d.http_status, Some(want), "{mode:?}: {:?}", d.response_body);
        assert!(d.as_expected, "{mode:?}");
        assert_eq!(r.as_expected, 1);
        assert!(d.id > 0, "recorded");
    }
    let stats = c.receiver_status().await.stats.unwrap();
    assert_eq!((stats.recorded, stats.rejected), (1, 4));

    // Duplicate: the same event twice; the receiver says the second is a duplicate.
    let dup = c
        .testfire_scenario(
            &ScenarioInput {
                name: "duplicate".into(),
                org: None,
                of: None,
                kind: Some("invoice.paid".into()),
                count: None,
                concurrency: None,
                delivery: opts(&url, SigningMode::Valid),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(dup.events, 2);
    assert_eq!(dup.deliveries[0].event_id, dup.deliveries[1].event_id);
    assert!(dup.deliveries[1]
        .response_body
        .as_deref()
        .unwrap()
        .contains("\"duplicate\":true"));

    // A story, and the same story out of order: every step answered.
    for (name, of) in [
        ("renewal-failed-then-recovered", None),
        ("out-of-order", Some("renewal-paid")),
    ] {
        let r = c
            .testfire_scenario(
                &ScenarioInput {
                    name: name.into(),
                    org: Some(subject.org_id.clone()),
                    of: of.map(str::to_owned),
                    kind: None,
                    count: None,
                    concurrency: None,
                    delivery: opts(&url, SigningMode::Valid),
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.ok, r.events, "{name}");
        let steps: Vec<u32> = r.deliveries.iter().map(|d| d.step).collect();
        assert_eq!(steps, (1..=r.events).collect::<Vec<_>>());
        if name == "out-of-order" {
            let first: Value = serde_json::from_str(&r.deliveries[0].body).unwrap();
            assert_eq!(
                first["type"], "invoice.payment_succeeded",
                "the story's last event goes first"
            );
        }
    }

    // A burst: 200 events, 16 at a time, each its own id, all recorded.
    let mut burst = trig("invoice.paid", None, &url, SigningMode::Valid);
    burst.repeat = 200;
    burst.concurrency = 16;
    let r = c.trigger(&burst, None).await.unwrap();
    assert_eq!((r.events, r.ok), (200, 200));
    let run = c.testfire_run(&r.run_id).await.unwrap();
    assert_eq!(run.len(), 200);
    assert_eq!(
        run.iter()
            .map(|d| &d.event_id)
            .collect::<BTreeSet<_>>()
            .len(),
        200
    );

    // Replay: byte for byte the same request.
    let first = c
        .testfire_history(500, None)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.mode == SigningMode::Valid && d.scenario.is_none())
        .unwrap();
    let replay = c.testfire_replay(first.id).await.unwrap();
    let again = c.testfire_delivery(replay.deliveries[0].id).await.unwrap();
    assert_eq!(again.body, first.body);
    assert_eq!(again.request_headers, first.request_headers);
    assert_eq!(again.replay_of, Some(first.id));
    assert!(
        again.response_body.unwrap().contains("\"duplicate\":true"),
        "the receiver had it already"
    );

    // --print: one request, the exact bytes, signed with the configured secret.
    let p = c
        .trigger_print(&trig(
            "checkout.session.completed:payment",
            None,
            &url,
            SigningMode::Valid,
        ))
        .await
        .unwrap();
    let sig = p.headers["stripe-signature"].clone();
    let t: i64 = sig.split(',').next().unwrap()[2..].parse().unwrap();
    let secret = tollgate_core::domain::WebhookSecret::parse(WHSEC).unwrap();
    assert_eq!(
        tollgate_core::sync::signature::verify(Some(&sig), p.body.as_bytes(), &[secret], t),
        Ok(0)
    );
    // A valid delivery replayed past the 300 s tolerance is judged as a stale one: the
    // receiver's 400 is the right answer, recorded so, and so again for a replay of the replay
    // (its t= is the first signing's).
    let old_t = tollgate_core::store::now_seconds() - 400;
    let mut old = first.clone();
    let sig = format!(
        "t={old_t},v1={}",
        tollgate_core::sync::signature::sign(WHSEC, old_t, old.body.as_bytes())
    );
    for (k, v) in old.request_headers.iter_mut() {
        if k == "stripe-signature" {
            *v = sig.clone();
        }
    }
    old.run_id = "run_old".into();
    old.sent_at_ms = old_t * 1000;
    c.store()
        .await
        .unwrap()
        .record_deliveries(std::slice::from_ref(&old))
        .await
        .unwrap();
    let old_id = c.testfire_run("run_old").await.unwrap()[0].id;
    let r1 = c.testfire_replay(old_id).await.unwrap();
    let d1 = &r1.deliveries[0];
    assert_eq!(d1.http_status, Some(400), "{:?}", d1.response_body);
    assert!(
        d1.as_expected && r1.as_expected == 1,
        "a stale replay refused is as expected"
    );
    assert!(
        c.testfire_delivery(d1.id).await.unwrap().as_expected,
        "and recorded so"
    );
    let r2 = c.testfire_replay(d1.id).await.unwrap();
    assert!(r2.deliveries[0].as_expected && r2.deliveries[0].http_status == Some(400));
    c.receiver_stop().await;
}

/// An endpoint that answers with `status` (and a Location on a 3xx), counting its calls.
async fn endpoint(
    status: u16,
    hang: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    let hits = std::sync::Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            if hang {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            let status = StatusCode::from_u16(status).unwrap();
            (
                status,
                [("location", "https://example.com/moved")],
                "x".repeat(10_000),
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hooks/stripe"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_endpoints_are_shown_not_retried_and_every_attempt_is_kept() {
    let f = SandboxFixture::start(Seed::Empty).await;
    let c = f.console_with(
        tollgate_sandbox::DEFAULT_SECRET_KEY,
        &f.sandbox.base_url(),
        Some(WHSEC),
    );
    use std::sync::atomic::Ordering;

    // An empty store: a generated organization, realistic ids.
    let s = c.testfire_subject(None).await.unwrap();
    assert!(s.generated && s.customer_id.starts_with("cus_") && s.customer_id.len() == 28);

    let (redirect, hits) = endpoint(302, false).await;
    let r = c
        .trigger(
            &trig("invoice.paid", None, &redirect, SigningMode::Valid),
            None,
        )
        .await
        .unwrap();
    let d = &r.deliveries[0];
    assert_eq!((d.outcome, d.http_status), (Outcome::Redirect, Some(302)));
    assert!(
        d.error
            .as_deref()
            .unwrap()
            .contains("https://example.com/moved"),
        "{:?}",
        d.error
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not followed, not retried");
    assert!(d.response_truncated && d.response_body.as_ref().unwrap().len() == 4096);

    let (failing, hits) = endpoint(503, false).await;
    let r = c
        .trigger(
            &trig("invoice.paid", None, &failing, SigningMode::Valid),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.deliveries[0].outcome, r.attempts),
        (Outcome::ServerError, 1)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Retries only when asked: 1 + 2 attempts, each kept, each signed afresh.
    let mut asked = trig("invoice.paid", None, &failing, SigningMode::Valid);
    asked.delivery.retries = 2;
    let r = c.trigger(&asked, None).await.unwrap();
    assert_eq!(r.attempts, 3);
    assert_eq!(
        r.deliveries.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(c.testfire_run(&r.run_id).await.unwrap().len(), 3);

    let (hanging, _) = endpoint(200, true).await;
    let mut slow = trig("invoice.paid", None, &hanging, SigningMode::Valid);
    slow.delivery.timeout_ms = Some(300);
    let r = c.trigger(&slow, None).await.unwrap();
    let d = &r.deliveries[0];
    assert_eq!(d.outcome, Outcome::Timeout);
    assert!(
        d.error.as_deref().unwrap().contains("0.3 s"),
        "{:?}",
        d.error
    );
    assert!(d.latency_us.unwrap() >= 300_000);

    // Nothing listens on a port just freed.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let r = c
        .trigger(
            &trig(
                "invoice.paid",
                None,
                &format!("http://{gone}/webhook"),
                SigningMode::Valid,
            ),
            None,
        )
        .await
        .unwrap();
    let d = &r.deliveries[0];
    assert_eq!(d.outcome, Outcome::Unreachable);
    assert!(
        d.error.as_deref().unwrap().contains(&gone.to_string()),
        "{:?}",
        d.error
    );

    // The history holds every attempt, newest first.
    let history = c.testfire_history(500, None).await.unwrap();
    assert_eq!(history.len(), 1 + 1 + 3 + 1 + 1);
    assert_eq!(history[0].outcome, Outcome::Unreachable);

    // Bad input: the field and the rule, and nothing sent or recorded.
    let bad = [
        (
            trig("invoice.payed", None, &failing, SigningMode::Valid),
            "type",
        ),
        (
            TriggerInput {
                set: vec!["data.object.amount_paid=lots".into()],
                ..trig("invoice.paid", None, &failing, SigningMode::Valid)
            },
            "set",
        ),
        (
            TriggerInput {
                set: vec!["data.object.nope=1".into()],
                ..trig("invoice.paid", None, &failing, SigningMode::Valid)
            },
            "set",
        ),
        (
            trig(
                "invoice.paid",
                None,
                "ftp://example.com",
                SigningMode::Valid,
            ),
            "to",
        ),
        (
            trig("invoice.paid", None, "not a url", SigningMode::Valid),
            "to",
        ),
        (
            trig(
                "invoice.paid",
                Some("org_nobody"),
                &failing,
                SigningMode::Valid,
            ),
            "org",
        ),
        (
            TriggerInput {
                repeat: 0,
                ..trig("invoice.paid", None, &failing, SigningMode::Valid)
            },
            "repeat",
        ),
    ];
    for (input, field) in bad {
        let e = c.trigger(&input, None).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{}", e.message);
    }
    let e = c
        .testfire_send("{not json", None, &opts(&failing, SigningMode::Valid))
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("body"));
    assert!(e.message.contains("line 1"), "{}", e.message);
    // No secret: a valid signature cannot be made, and says where to add one.
    let nosecret = f.console_with(
        tollgate_sandbox::DEFAULT_SECRET_KEY,
        &f.sandbox.base_url(),
        None,
    );
    let e = nosecret
        .trigger(
            &trig("invoice.paid", None, &failing, SigningMode::Valid),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("webhook_secret"), "{}", e.message);
    assert_eq!(
        c.testfire_history(100, None).await.unwrap().len(),
        7,
        "nothing recorded for refused input"
    );

    // A burst cancelled midway stops between events; what was sent is all in the history.
    let (ok, _) = endpoint(200, false).await;
    let mut burst = trig("invoice.paid", None, &ok, SigningMode::Valid);
    burst.repeat = 5000;
    burst.concurrency = 4;
    let canceller = async {
        for _ in 0..6000 {
            if c.op_progress("burst-op").is_some_and(|p| p.done >= 100) {
                return c.op_cancel("burst-op");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the burst never reached 100 events");
    };
    let (r, cancelled) = tokio::join!(c.trigger(&burst, Some("burst-op")), canceller);
    let r = r.unwrap();
    assert!(cancelled && r.cancelled);
    assert!(r.events >= 100 && r.events < 5000, "{} events", r.events);
    assert_eq!(
        c.testfire_run(&r.run_id).await.unwrap().len(),
        r.attempts as usize
    );

    // A burst's history is byte for byte what the endpoint received (its copies share one
    // stored body), and a replayed copy sends those bytes again.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let g = got.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let g = g.clone();
        async move {
            let sig = headers["stripe-signature"].to_str().unwrap().to_owned();
            g.lock().unwrap().push((sig, body));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let capture = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut copies = trig(
        "customer.subscription.updated",
        None,
        &capture,
        SigningMode::Tampered,
    );
    copies.repeat = 20;
    copies.concurrency = 4;
    let r = c.trigger(&copies, None).await.unwrap();
    let run = c.testfire_run(&r.run_id).await.unwrap();
    assert_eq!(run.len(), 20);
    let received = got.lock().unwrap().clone();
    for d in &run {
        let sig = &d
            .request_headers
            .iter()
            .find(|(k, _)| k == "stripe-signature")
            .unwrap()
            .1;
        let (_, body) = received.iter().find(|(s, _)| s == sig).expect("received");
        assert_eq!(&d.body, body, "step {}", d.step);
        assert!(body.contains(&d.event_id));
    }
    let copy = run.iter().find(|d| d.step == 7).unwrap();
    c.testfire_replay(copy.id).await.unwrap();
    assert_eq!(got.lock().unwrap().last().unwrap().1, copy.body);

    // The first event goes alone and is recorded before any copy: cancelled while the first
    // is still unanswered, a burst sends nothing more.
    let (slow, hits) = endpoint(200, true).await;
    let mut burst = trig("invoice.paid", None, &slow, SigningMode::Valid);
    burst.repeat = 50;
    burst.concurrency = 8;
    burst.delivery.timeout_ms = Some(1500);
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.op_cancel("slow-op")
    };
    let (r, _) = tokio::join!(c.trigger(&burst, Some("slow-op")), canceller);
    let r = r.unwrap();
    assert_eq!((r.events, r.attempts), (1, 1), "only the first was sent");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(c.testfire_run(&r.run_id).await.unwrap().len(), 1);
}
