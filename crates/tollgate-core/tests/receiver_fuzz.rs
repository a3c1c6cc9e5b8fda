//! Fuzzing what comes off the wire (proptest; `PROPTEST_CASES` raises the counts):
//! - the signature check over any `Stripe-Signature` header, body and clock (the i64 extremes
//!   of `t=` included) never panics, and accepts only what the secret signed;
//! - the event parser over any bytes, and over Stripe's own objects with any field replaced by
//!   any JSON value (extreme numbers, wrong types, nesting), never panics;
//! - the processor writes such objects, read back from "Stripe" or applied from payloads,
//!   without a panic (each becomes a row, a sync issue, or nothing);
//! - the real receiver over HTTP answers every such delivery with 200, 400 or 413, never a 500
//!   or a panic, and records exactly the correctly signed events.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{json, Value};
use tollgate_core::domain::WebhookSecret;
use tollgate_core::store::{SendFuture, Store, StoreTarget};
use tollgate_core::sync::signature::{sign, verify};
use tollgate_core::sync::{Event, FetchError, Fetched, Kind, Processor, StripeReader};

const SECRET: &str = "whsec_fuzz000000000000000000000";

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

fn secrets() -> Vec<WebhookSecret> {
    vec![WebhookSecret::parse(SECRET).unwrap()]
}

/// Any JSON value, weighted toward what breaks arithmetic and parsing.
fn wild() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(0.5)),
        Just(Value::Null),
        Just(json!(true)),
        Just(json!("")),
        Just(json!("sub_\u{0}\u{202e}")),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z_]{0,12}".prop_map(|s| json!(s)),
        ".{0,40}".prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event's `created`: mostly a believable timestamp, else anything.
fn created() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0i64..2_000_000_000).prop_map(|t| json!(t)),
        1 => wild(),
    ]
}

/// Every path to a leaf of `v`.
fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let mut p = at.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let mut p = at.clone();
                p.push(i.to_string());
                out.push(p.clone());
                paths(c, p, out);
            }
        }
        _ => {}
    }
}

fn set(v: &mut Value, path: &[String], to: Value) {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        let next = match cur {
            Value::Object(m) => m.get_mut(k),
            Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) if i + 1 == path.len() => {
                *n = to;
                return;
            }
            Some(n) => cur = n,
            None => return,
        }
    }
}

/// The objects the processor reads, as Stripe's examples give them, with our ids.
fn base_object(kind: usize) -> (Kind, Value) {
    let mut sub = tollgate_sandbox::template("subscription");
    sub["id"] = json!("sub_fuzz");
    sub["customer"] = json!("cus_fuzz");
    sub["status"] = json!("active");
    let mut cus = tollgate_sandbox::template("customer");
    cus["id"] = json!("cus_fuzz");
    cus["metadata"] = json!({"organization_id": "org_fuzz"});
    let mut ch = tollgate_sandbox::template("charge");
    ch["id"] = json!("ch_fuzz");
    ch["status"] = json!("succeeded");
    ch["transfer_data"] = json!({"destination": "acct_fuzz", "amount": null});
    ch["application_fee_amount"] = json!(120);
    ch["refunds"] = json!({"object": "list", "data": [{"id": "re_fuzz", "amount": 500, "created": 5, "status": "succeeded"}]});
    match kind % 3 {
        0 => (Kind::Subscription, sub),
        1 => (Kind::Customer, cus),
        _ => (Kind::Charge, ch),
    }
}

/// A Stripe object with a few fields (any depth) replaced by wild values.
fn mutated() -> impl Strategy<Value = (Kind, Value)> {
    (
        0usize..3,
        prop::collection::vec((any::<prop::sample::Index>(), wild()), 1..6),
    )
        .prop_map(|(kind, edits)| {
            let (k, mut v) = base_object(kind);
            for (ix, to) in edits {
                let mut all = Vec::new();
                paths(&v, Vec::new(), &mut all);
                if !all.is_empty() {
                    let p = all[ix.index(all.len())].clone();
                    set(&mut v, &p, to);
                }
            }
            (k, v)
        })
}

fn event_of(kind: Kind, object: &Value, n: u64, created: Value) -> Value {
    let t = match kind {
        Kind::Subscription => "customer.subscription.updated",
        Kind::Customer => "customer.updated",
        _ => "charge.succeeded",
    };
    json!({"id": format!("evt_fuzz{n:012}"), "object": "event", "type": t, "created": created,
           "livemode": false, "data": {"object": object}})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(4000), ..ProptestConfig::default() })]

    #[test]
    fn any_signature_header_body_and_clock_is_judged_without_a_panic(
        header in prop_oneof![
            ".{0,80}",
            (any::<i64>(), "[0-9a-f]{0,70}").prop_map(|(t, v)| format!("t={t},v1={v}")),
            Just("t=-9223372036854775808,v1=00".to_owned()),
            Just("t=9223372036854775807,v1=00".to_owned()),
            Just("t=99999999999999999999999,v1=00".to_owned()),
            Just(",,,=,t=,v1=,v0=zz".to_owned()),
        ],
        body in prop::collection::vec(any::<u8>(), 0..200),
        now in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), 1_700_000_000i64..1_900_000_000],
    ) {
        let _ = verify(Some(&header), &body, &secrets(), now);
        let _ = verify(None, &body, &secrets(), now);
    }

    #[test]
    fn a_signature_verifies_only_for_what_the_secret_signed_at_any_time(
        t in any::<i64>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        skew in -400i64..400,
        flip in any::<Option<prop::sample::Index>>(),
    ) {
        let header = format!("t={t},v1={}", sign(SECRET, t, &body));
        let now = t.saturating_add(skew);
        let mut sent = body.clone();
        if let Some(i) = flip.filter(|_| !sent.is_empty()) {
            let i = i.index(sent.len());
            sent[i] ^= 0x20;
        }
        let r = verify(Some(&header), &sent, &secrets(), now);
        let within = now.saturating_sub(t).unsigned_abs() <= 300;
        prop_assert_eq!(r.is_ok(), sent == body && within, "{:?}", r);
    }

    #[test]
    fn any_bytes_and_any_mutated_event_parse_without_a_panic(
        raw in ".{0,300}",
        (kind, object) in mutated(),
        created in created(),
    ) {
        let _ = Event::parse(&raw);
        let v = event_of(kind, &object, 1, created);
        let _ = Event::parse(&v.to_string());
        // The object's own fields in the event's place too.
        let _ = Event::from_value(&object, object.to_string());
    }
}

/// "Stripe" answering with whatever object the case holds, or unreachable.
struct Holding {
    object: Mutex<Value>,
    online: Mutex<bool>,
}

impl StripeReader for Holding {
    fn read(&self, _: Kind, _: &str) -> SendFuture<'_, Result<Fetched, FetchError>> {
        let v = self.object.lock().unwrap().clone();
        let online = *self.online.lock().unwrap();
        Box::pin(async move {
            if online {
                Ok(Fetched::Found(v))
            } else {
                Err(FetchError::Unreachable("offline".into()))
            }
        })
    }
    fn refresh_catalog<'a>(&'a self, _: &'a Store) -> SendFuture<'a, Result<(), FetchError>> {
        Box::pin(async { Ok(()) })
    }
}

#[test]
fn the_processor_writes_any_mutated_object_without_a_panic() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, reader) = rt.block_on(async {
        let store = Store::open(&StoreTarget::SqliteFile(dir.path().join("fuzz.sqlite3")))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (
            store,
            Arc::new(Holding {
                object: Mutex::new(Value::Null),
                online: Mutex::new(true),
            }),
        )
    });
    let p = Processor::new(store, reader.clone(), vec!["organization_id".into()]);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(4000) / 8,
        ..ProptestConfig::default()
    });
    let n = std::cell::Cell::new(0u64);
    runner
        .run(
            &(mutated(), created(), any::<bool>()),
            |((kind, object), created, online)| {
                n.set(n.get() + 1);
                let n = n.get();
                // A new object each case (a charge is recorded once, never rewritten), unless the
                // mutation took its id.
                let mut object = object;
                for (field, base) in [("id", "sub_fuzz"), ("id", "cus_fuzz"), ("id", "ch_fuzz")] {
                    if object[field] == base {
                        object[field] = json!(format!("{base}{n}"));
                    }
                }
                if object["refunds"]["data"][0]["id"] == "re_fuzz" {
                    object["refunds"]["data"][0]["id"] = json!(format!("re_fuzz{n}"));
                }
                *reader.object.lock().unwrap() = object.clone();
                *reader.online.lock().unwrap() = online;
                let v = event_of(kind, &object, n, created);
                if let Ok(e) = Event::parse(&v.to_string()) {
                    rt.block_on(async {
                        p.ingest(&[e], "webhook")
                            .await
                            .expect("the door records it");
                        // Read back (online) or applied from its payload (offline): either way
                        // a row, a sync issue or nothing, never a panic or a store error.
                        p.settle(&|| false).await.expect("settle runs");
                    });
                }
                Ok(())
            },
        )
        .unwrap();
    let count = |sql: &'static str| -> i64 {
        rt.block_on(sqlx::query_scalar(sql).fetch_one(p.store().pool()))
            .unwrap()
    };
    let (events, subs, customers, ledger, issues) = (
        count("SELECT count(*) FROM stripe_events"),
        count("SELECT count(*) FROM org_subscriptions"),
        count("SELECT count(*) FROM customers"),
        count("SELECT count(*) FROM transaction_commissions"),
        count("SELECT count(*) FROM sync_issues"),
    );
    eprintln!(
        "processor fuzz: {} cases, {events} events recorded; rows: {subs} subscriptions, {customers} customers, {ledger} ledger rows, {issues} sync issues",
        n.get()
    );
    assert!(
        events > 0 && subs + customers + ledger > 0,
        "the cases reached the writes"
    );
}

/// The real receiver over HTTP: any body and header, correctly signed or not.
#[test]
fn the_receiver_answers_any_delivery_without_a_panic_and_records_only_signed_events() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rx, url, store) = rt.block_on(async {
        let store = Store::open(&StoreTarget::SqliteFile(dir.path().join("rx.sqlite3")))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let reader = Arc::new(Holding {
            object: Mutex::new(Value::Null),
            online: Mutex::new(false),
        });
        let p = Processor::new(store.clone(), reader, vec!["organization_id".into()]);
        let rx = tollgate_core::sync::receiver::Receiver::start(
            p,
            secrets(),
            0,
            Arc::new(tokio::sync::Notify::new()),
        )
        .await
        .unwrap();
        let url = format!("http://{}/webhook", rx.addr);
        (rx, url, store)
    });
    let http = reqwest::Client::new();
    let signed_ok = std::cell::RefCell::new(std::collections::HashSet::new());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(4000) / 10,
        ..ProptestConfig::default()
    });
    let n = std::cell::Cell::new(0u64);
    runner
        .run(
            &(
                mutated(),
                created(),
                prop_oneof![Just(None), ".{0,60}".prop_map(Some)],
                any::<bool>(),
                any::<bool>(),
                ".{0,80}",
            ),
            |((kind, object), created, header, signed, as_event, raw)| {
                n.set(n.get() + 1);
                let n = n.get();
                let body = if as_event {
                    event_of(kind, &object, n, created).to_string()
                } else {
                    raw
                };
                let now = chrono::Utc::now().timestamp();
                let header = if signed {
                    Some(format!("t={now},v1={}", sign(SECRET, now, body.as_bytes())))
                } else {
                    header
                };
                let status = rt.block_on(async {
                    let mut req = http.post(&url).body(body.clone());
                    if let Some(h) = &header {
                        if let Ok(hv) = reqwest::header::HeaderValue::from_str(h) {
                            req = req.header("Stripe-Signature", hv);
                        }
                    }
                    req.send()
                        .await
                        .expect("the receiver answers")
                        .status()
                        .as_u16()
                });
                prop_assert!(
                    matches!(status, 200 | 400 | 413),
                    "{} for {} bytes, header {:?}",
                    status,
                    body.len(),
                    header
                );
                if status == 200 {
                    prop_assert!(signed, "only signed deliveries are taken");
                    signed_ok
                        .borrow_mut()
                        .insert(Event::parse(&body).unwrap().id);
                }
                Ok(())
            },
        )
        .unwrap();
    let stats = rx.stats();
    assert_eq!(stats.panics, 0, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    let recorded: i64 = rt
        .block_on(sqlx::query_scalar("SELECT count(*) FROM stripe_events").fetch_one(store.pool()))
        .unwrap();
    let signed_ok = signed_ok.into_inner();
    assert_eq!(
        recorded as usize,
        signed_ok.len(),
        "exactly the signed events"
    );
    eprintln!(
        "receiver fuzz: {} deliveries, {} recorded, {} rejected",
        n.get(),
        signed_ok.len(),
        stats.rejected
    );
    rt.block_on(rx.stop());
}
