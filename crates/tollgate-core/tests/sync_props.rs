//! The ordering property: any permutation of a subscription's event history, with any
//! duplicates, delivered in any batches, converges to the state in-order delivery gives, both
//! when Stripe can be read (refetch) and when it cannot (payloads under the watermark), and
//! PlatformAccess follows; and whether settle reads each object or Stripe's list of them.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::{json, Value};
use tollgate_core::store::sync_views::SubscriptionQuery;
use tollgate_core::store::{SendFuture, Store, StoreTarget};
use tollgate_core::sync::{Event, FetchError, Fetched, Kind, Processor, StripeReader, Sweep};

/// Stripe as a script: the current objects, or unreachable.
struct Scripted {
    online: Mutex<bool>,
    subscription: Mutex<Value>,
}

fn customer() -> Value {
    json!({"id": "cus_p", "object": "customer", "name": "Prop Clinic", "email": "p@example.invalid", "created": 1, "metadata": {"organization_id": "org_p"}})
}

impl StripeReader for Scripted {
    fn read(&self, kind: Kind, _id: &str) -> SendFuture<'_, Result<Fetched, FetchError>> {
        let online = *self.online.lock().unwrap();
        let v = match kind {
            Kind::Subscription => self.subscription.lock().unwrap().clone(),
            Kind::Customer => customer(),
            _ => json!({"object": "list", "data": []}),
        };
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
    /// Stripe's lists: the one subscription and the one customer, as a read would give them.
    fn list<'a>(
        &'a self,
        kind: Kind,
        _created_gte: Option<i64>,
        _after: Option<&'a str>,
    ) -> SendFuture<'a, Result<Option<tollgate_core::sync::ListPage>, FetchError>> {
        let online = *self.online.lock().unwrap();
        let items = match kind {
            Kind::Subscription => vec![self.subscription.lock().unwrap().clone()],
            Kind::Customer => vec![customer()],
            _ => return Box::pin(async { Ok(None) }),
        };
        Box::pin(async move {
            if online {
                Ok(Some(tollgate_core::sync::ListPage {
                    items,
                    has_more: false,
                }))
            } else {
                Err(FetchError::Unreachable("offline".into()))
            }
        })
    }
}

fn sub(status: &str, created: i64, price: &str) -> Value {
    json!({"id": "sub_p", "object": "subscription", "customer": "cus_p", "status": status, "created": 100, "start_date": 100,
        "ended_at": if status == "canceled" { json!(created) } else { Value::Null },
        "items": {"data": [{"quantity": 1, "price": {"id": price, "unit_amount": 1000, "currency": "eur", "recurring": {"interval": "month"}}}]}})
}

fn event(n: usize, status: &str, created: i64, price: &str) -> Event {
    let t = if status == "canceled" {
        "customer.subscription.deleted"
    } else {
        "customer.subscription.updated"
    };
    // Stripe's event ids are not time-ordered: scramble them.
    let id = format!(
        "evt_{:08x}",
        (n as u64).wrapping_mul(2_654_435_761) % (1 << 32)
    );
    let v = json!({"id": id, "object": "event", "type": t, "created": created, "livemode": false,
        "data": {"object": sub(status, created, price)}});
    Event::from_value(&v, v.to_string()).unwrap()
}

/// A believable history: statuses walk forward in time; a same-second pair only when the
/// later status ranks higher (as Stripe's same-second bursts do); canceled, if any, is last.
fn history() -> impl Strategy<Value = Vec<(String, i64, String)>> {
    let step = prop_oneof![
        Just("active"),
        Just("past_due"),
        Just("unpaid"),
        Just("trialing"),
        Just("paused")
    ];
    (
        prop::collection::vec((step, 0i64..3, 0usize..2), 1..8),
        any::<bool>(),
    )
        .prop_map(|(steps, cancel)| {
            let rank = tollgate_core::sync::objects::status_rank;
            let mut out: Vec<(String, i64, String)> = Vec::new();
            let mut t = 1000;
            for (status, gap, price) in steps {
                let gap = match out.last() {
                    Some((prev, _, _)) if gap == 0 && rank(status) <= rank(prev) => 1,
                    _ => gap,
                };
                t += gap;
                out.push((
                    status.to_owned(),
                    t,
                    ["price_a", "price_b"][price].to_owned(),
                ));
            }
            if cancel {
                let price = out.last().unwrap().2.clone();
                out.push(("canceled".into(), t + 1, price));
            }
            out
        })
}

async fn run(
    hist: Vec<(String, i64, String)>,
    order: Vec<usize>,
    batch: usize,
    online: bool,
    sweep: Sweep,
) -> (String, Option<String>, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreTarget::SqliteFile(dir.path().join("p.db")))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let last = hist.last().unwrap().clone();
    let reader = Arc::new(Scripted {
        online: Mutex::new(true),
        subscription: Mutex::new(sub(&last.0, last.1, &last.2)),
    });
    let p = Processor::new(
        store.clone(),
        reader.clone(),
        vec!["organization_id".into()],
    )
    .with_sweep(sweep);
    // The customer is known before the subscription's events arrive.
    let cus = json!({"id": "evt_cus", "object": "event", "type": "customer.created", "created": 1, "data": {"object": customer()}});
    p.ingest(
        &[Event::from_value(&cus, cus.to_string()).unwrap()],
        "webhook",
    )
    .await
    .unwrap();
    p.settle(&|| false).await.unwrap();
    *reader.online.lock().unwrap() = online;
    let events: Vec<Event> = order
        .iter()
        .map(|&i| {
            let (s, c, pr) = &hist[i % hist.len()];
            event(i % hist.len(), s, *c, pr)
        })
        .collect();
    for chunk in events.chunks(batch.max(1)) {
        p.ingest(chunk, "webhook").await.unwrap();
        p.settle(&|| false).await.unwrap();
    }
    let page = store
        .subscriptions_page(&SubscriptionQuery::default())
        .await
        .unwrap();
    let row = &page.rows[0];
    let detail = store.org_detail("org_p").await.unwrap().unwrap();
    let access = detail
        .access
        .iter()
        .map(|a| (a.plan_id.clone(), a.status.clone()))
        .collect();
    (row.status.clone(), row.price_id.clone(), access)
}

fn order_for(len: usize) -> impl Strategy<Value = (Vec<usize>, usize)> {
    // Every event at least once, some twice, shuffled; then a batch size.
    (prop::collection::vec(0..len, 0..len + 2), 1usize..5).prop_flat_map(move |(extra, batch)| {
        let all: Vec<usize> = (0..len).chain(extra).collect();
        (Just(all).prop_shuffle(), Just(batch))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_order_with_duplicates_converges_to_in_order_delivery(
        (hist, (order, batch)) in history().prop_flat_map(|h| { let n = h.len(); (Just(h), order_for(n)) }),
        online in any::<bool>(),
        by_list in any::<bool>(),
    ) {
        // Read one by one, or by Stripe's list: the same result either way.
        let sweep = if by_list { Sweep::Always } else { Sweep::Never };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let in_order: Vec<usize> = (0..hist.len()).collect();
        let expected = rt.block_on(run(hist.clone(), in_order, 1, online, Sweep::Never));
        let got = rt.block_on(run(hist.clone(), order, batch, online, sweep));
        let last = hist.last().unwrap();
        prop_assert_eq!(&expected.0, &last.0, "in-order delivery ends at the last state");
        prop_assert_eq!(&got, &expected, "history {:?}", hist);
    }
}
