//! The sync engine end to end against the sandbox over real HTTP and a real SQLite file:
//! backfill, the events cursor, the webhook receiver, ordering, PlatformAccess, drift, faults.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tollgate_core::console::AccessAction;
use tollgate_core::store::sync_views::{AccessQuery, SubscriptionQuery};
use tollgate_core::sync::{Event, Processor};
use tollgate_core::testing::SandboxFixture;
use tollgate_core::Console;
use tollgate_sandbox::Seed;

struct Fixture {
    base: SandboxFixture,
    http: reqwest::Client,
}

async fn fixture(seed: Seed) -> Fixture {
    Fixture {
        base: SandboxFixture::start(seed).await,
        http: reqwest::Client::new(),
    }
}

impl Fixture {
    fn console(&self, whsec: Option<&str>) -> Console {
        let sandbox = &self.base.sandbox;
        self.base.console_with(
            tollgate_sandbox::DEFAULT_SECRET_KEY,
            &sandbox.base_url(),
            whsec,
        )
    }

    async fn call(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base.sandbox.base_url()))
            .bearer_auth(tollgate_sandbox::DEFAULT_SECRET_KEY)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        self.call(reqwest::Method::POST, path, form).await
    }
    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, &[]).await
    }
}

fn q() -> SubscriptionQuery {
    SubscriptionQuery::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_mirrors_every_subscription_and_derives_access_without_drift() {
    let f = fixture(Seed::Demo).await;
    let c = f.console(None);
    let r = c.sync(false, None).await.unwrap();
    let b = r
        .backfill
        .expect("no checkpoint: the first sync is a backfill");
    assert_eq!(
        (b.customers, b.subscriptions),
        (300, 312),
        "canceled subscriptions included (status=all)"
    );
    let state = c.sync_state().await.unwrap();
    assert_eq!(
        (state.organizations, state.subscriptions, state.dirty),
        (300, 312, 0)
    );
    assert!(state.checkpoint.is_some() && !state.backfill_pending);
    // Every status the seed made is there, and a filter finds them.
    for status in [
        "active",
        "trialing",
        "past_due",
        "canceled",
        "incomplete",
        "paused",
    ] {
        let page = c
            .subscriptions(&SubscriptionQuery {
                status: Some(status.into()),
                ..q()
            })
            .await
            .unwrap();
        assert!(page.total > 0, "no {status} subscription mirrored");
        assert!(page.rows.iter().all(|r| r.status == status));
    }
    let all = c
        .subscriptions(&SubscriptionQuery { limit: 1000, ..q() })
        .await
        .unwrap();
    assert_eq!(all.total, 312);
    assert!(
        all.rows.iter().any(|r| r.tier.as_deref() == Some("top")),
        "tiers come from the catalog"
    );
    assert!(all.rows.iter().any(|r| r.cancel_at_period_end));
    assert!(all
        .rows
        .iter()
        .all(|r| r.org_id.as_deref().is_some_and(|o| o.starts_with("org_"))));
    // Sorted by amount descending, the first page is in order.
    let by_amount = c
        .subscriptions(&SubscriptionQuery {
            sort: Some("amount".into()),
            desc: true,
            limit: 50,
            ..q()
        })
        .await
        .unwrap();
    let amounts: Vec<i64> = by_amount.rows.iter().filter_map(|r| r.amount).collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]), "{amounts:?}");
    // Search by an id finds exactly it.
    let one = &all.rows[17];
    let found = c
        .subscriptions(&SubscriptionQuery {
            search: Some(one.subscription_id.to_uppercase()),
            ..q()
        })
        .await
        .unwrap();
    assert_eq!(found.rows.len(), 1);
    // Access: the seed 004 mapping, and no drift against Stripe.
    let access = c
        .access(&AccessQuery {
            status: None,
            plan: None,
            ended: None,
            search: None,
            offset: 0,
            limit: 5000,
        })
        .await
        .unwrap();
    assert!(
        access.counts.get("ACTIVE").copied().unwrap_or(0) > 200,
        "{:?}",
        access.counts
    );
    assert!(
        access.counts.contains_key("PAST_DUE") && access.counts.contains_key("CANCELED"),
        "{:?}",
        access.counts
    );
    assert!(access
        .rows
        .iter()
        .filter(|a| a.status == "CANCELED")
        .all(|a| a.ended_at.is_some()));
    assert!(access
        .rows
        .iter()
        .filter(|a| a.status == "ACTIVE")
        .all(|a| a.ended_at.is_none()));
    let drift = c.access_drift(None).await.unwrap();
    assert_eq!(drift.checked_subscriptions, 312);
    assert!(drift.items.is_empty(), "{:#?}", drift.items);
    // Entitlements: an active org carries its plan's features as a claim.
    let active = all
        .rows
        .iter()
        .find(|r| r.status == "active" && !r.entitlements.is_empty())
        .expect("an active org with entitlements");
    let detail = c
        .org_detail(active.org_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(!detail.claim.is_empty() && detail.claim.windows(2).all(|w| w[0] < w[1]));
    assert!(detail.timeline.iter().any(|t| t.kind == "change"));
    // CSV of a filter holds its rows and a header.
    let csv = c
        .subscriptions_csv(&SubscriptionQuery {
            status: Some("past_due".into()),
            ..q()
        })
        .await
        .unwrap();
    let past_due = c
        .subscriptions(&SubscriptionQuery {
            status: Some("past_due".into()),
            ..q()
        })
        .await
        .unwrap()
        .total;
    assert_eq!(csv.lines().count() as i64, past_due + 1);
    assert!(csv.starts_with("organization_id,organization,email"));
    // Bad filters name the field.
    let e = c
        .subscriptions(&SubscriptionQuery {
            status: Some("zombie".into()),
            ..q()
        })
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("status"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_cursor_picks_up_changes_missed_by_webhooks_once() {
    let f = fixture(Seed::Demo).await;
    let c = f.console(None);
    c.sync(true, None).await.unwrap();
    let active = c
        .subscriptions(&SubscriptionQuery {
            status: Some("active".into()),
            ..q()
        })
        .await
        .unwrap()
        .rows[0]
        .clone();
    // Changes at Stripe that no webhook told us about.
    f.call(
        reqwest::Method::DELETE,
        &format!("/v1/subscriptions/{}", active.subscription_id),
        &[],
    )
    .await;
    let r = c.sync(false, None).await.unwrap();
    assert!(r.backfill.is_none());
    let cur = r.cursor.unwrap();
    assert!(cur.new >= 1 && cur.read >= cur.new, "{cur:?}");
    assert!(r.settle.confirmed >= 1, "{:?}", r.settle);
    let detail = c
        .org_detail(active.org_id.as_deref().unwrap())
        .await
        .unwrap();
    let sub = detail
        .subscriptions
        .iter()
        .find(|s| s.subscription_id == active.subscription_id)
        .unwrap();
    assert_eq!(sub.status, "canceled");
    let plan = active.price_id.clone().unwrap();
    let acc = detail.access.iter().find(|a| a.plan_id == plan).unwrap();
    assert!(
        acc.status == "CANCELED"
            || detail
                .subscriptions
                .iter()
                .any(|s| s.price_id.as_deref() == Some(plan.as_str()) && s.status == "active")
    );
    assert!(detail
        .history
        .iter()
        .any(|h| h.status.as_deref() == Some("CANCELED")));
    // The overlap re-reads the last seconds; nothing is recorded twice.
    let again = c.sync(false, None).await.unwrap().cursor.unwrap();
    assert_eq!(again.new, 0, "{again:?}");
    assert!(
        again.duplicate >= 1,
        "the overlapping window re-read at least the last event: {again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified_recorded_once_and_answered_after_commit() {
    let f = fixture(Seed::Demo).await;
    let boot = f.console(None);
    boot.sync(true, None).await.unwrap();
    // An endpoint at the sandbox gives the secret it signs with; a rotated-out one stays too.
    let c = f.console(Some("whsec_oldrotated0000000000"));
    let probe = c.receiver_start(0).await.unwrap();
    let url = probe.url.clone().unwrap();
    let ep = f
        .post(
            "/v1/webhook_endpoints",
            &[("url", &url), ("enabled_events[]", "*")],
        )
        .await;
    let secret = ep["secret"].as_str().unwrap().to_owned();
    drop(c);
    let c = f.console(Some(&format!("whsec_oldrotated0000000000,{secret}")));
    let status = c.receiver_start(0).await.unwrap();
    let url2 = status.url.clone().unwrap();
    f.post(
        &format!("/v1/webhook_endpoints/{}", ep["id"].as_str().unwrap()),
        &[("url", &url2)],
    )
    .await;
    assert_eq!(status.secrets, 2);

    // A change at Stripe arrives signed, is recorded, and the settle task reads it.
    let subs = c
        .subscriptions(&SubscriptionQuery {
            status: Some("active".into()),
            ..q()
        })
        .await
        .unwrap();
    let target = subs.rows[3].clone();
    f.post(
        &format!("/v1/subscriptions/{}", target.subscription_id),
        &[("cancel_at_period_end", "true")],
    )
    .await;
    let mut seen = false;
    for _ in 0..100 {
        let d = c
            .org_detail(target.org_id.as_deref().unwrap())
            .await
            .unwrap();
        if d.subscriptions
            .iter()
            .any(|s| s.subscription_id == target.subscription_id && s.cancel_at_period_end)
        {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen,
        "the webhook's change reached the store: {:?}",
        c.receiver_status().await.stats
    );

    // Bad input: each answered with the reason, nothing recorded.
    let before = c.sync_state().await.unwrap().events;
    let http = reqwest::Client::new();
    let body = json!({"id": "evt_forged", "object": "event", "type": "customer.subscription.deleted", "created": 1, "data": {"object": {"id": target.subscription_id, "object": "subscription", "customer": target.customer_id}}}).to_string();
    let now = tollgate_core::store::now_seconds();
    let send = |sig: Option<String>, body: String| {
        let mut req = http.post(&url2).body(body);
        if let Some(s) = sig {
            req = req.header("Stripe-Signature", s);
        }
        req.send()
    };
    let r = send(None, body.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("no Stripe-Signature header"));
    let r = send(
        Some(tollgate_sandbox::signature_header(
            "whsec_wrong000000000000000",
            now,
            &body,
        )),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let r = send(
        Some(tollgate_sandbox::signature_header(
            &secret,
            now - 301,
            &body,
        )),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("tolerance"));
    let garbage = "{not json".to_owned();
    let r = send(
        Some(tollgate_sandbox::signature_header(&secret, now, &garbage)),
        garbage,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let r = send(
        Some(tollgate_sandbox::signature_header(&secret, now, &big)),
        big,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        c.sync_state().await.unwrap().events,
        before,
        "nothing recorded from bad deliveries"
    );

    // A genuine delivery, signed by the older secret, twice: recorded once.
    let ev = json!({"id": "evt_unknowncustomer1", "object": "event", "type": "customer.subscription.updated", "created": now, "livemode": false,
        "api_version": tollgate_sandbox::API_VERSION,
        "data": {"object": {"id": "sub_ghost", "object": "subscription", "customer": "cus_ghost", "status": "active", "created": now, "items": {"data": []}}}}).to_string();
    for dup in [false, true] {
        let r = send(
            Some(tollgate_sandbox::signature_header(
                "whsec_oldrotated0000000000",
                now,
                &ev,
            )),
            ev.clone(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["duplicate"], dup);
    }
    // An event for a customer Stripe does not know: recorded, reported, not dropped.
    let mut reported = false;
    for _ in 0..100 {
        let s = c.sync_state().await.unwrap();
        if s.issues
            .iter()
            .any(|i| i.object_id == "sub_ghost" || i.object_id == "cus_ghost")
        {
            reported = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reported, "{:?}", c.sync_state().await.unwrap().issues);
    let stats = c.receiver_status().await.stats.unwrap();
    // The oversized body is refused by the body limit before the handler counts it.
    assert!(stats.duplicates >= 1 && stats.rejected >= 4, "{stats:?}");
    c.receiver_stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifetime_purchase_manual_overrides_and_resync() {
    let f = fixture(Seed::Demo).await;
    let c = f.console(None);
    c.sync(true, None).await.unwrap();
    let products = f.get("/v1/products?limit=1").await;
    let product = products["data"][0]["id"].as_str().unwrap().to_owned();
    let price = f
        .post(
            "/v1/prices",
            &[
                ("currency", "eur"),
                ("unit_amount", "49900"),
                ("product", &product),
                ("nickname", "Lifetime"),
            ],
        )
        .await;
    let price_id = price["id"].as_str().unwrap().to_owned();
    let cus = f
        .post(
            "/v1/customers",
            &[
                ("name", "Lifetime Clinic"),
                ("metadata[companyId]", "hq_lifetime"),
            ],
        )
        .await;
    let cus_id = cus["id"].as_str().unwrap().to_owned();
    let cs = f
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", &cus_id),
                ("line_items[0][price]", &price_id),
                ("line_items[0][quantity]", "1"),
                ("success_url", "https://example.invalid/ok"),
            ],
        )
        .await;
    f.post(
        &format!(
            "/_sandbox/checkout_sessions/{}/complete",
            cs["id"].as_str().unwrap()
        ),
        &[],
    )
    .await;
    c.sync(false, None).await.unwrap();
    let d = c
        .org_detail("hq_lifetime")
        .await
        .expect("the companyId key names the organization");
    assert_eq!(d.org_key.as_deref(), Some("companyId"));
    let a = d
        .access
        .iter()
        .find(|a| a.plan_id == price_id)
        .expect("lifetime access");
    assert_eq!(
        (a.status.as_str(), a.ended_at, a.source.as_str()),
        ("ACTIVE", None, "purchase")
    );

    // A manual revoke needs a reason, wins, and is audited; clearing it restores Stripe's view.
    let e = c
        .access_override("hq_lifetime", &price_id, AccessAction::Revoke, " ")
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("reason"));
    let d = c
        .access_override(
            "hq_lifetime",
            &price_id,
            AccessAction::Revoke,
            "chargeback under review",
        )
        .await
        .unwrap();
    let a = d.access.iter().find(|a| a.plan_id == price_id).unwrap();
    assert_eq!(
        (
            a.status.as_str(),
            a.source.as_str(),
            a.override_reason.as_deref()
        ),
        ("CANCELED", "manual", Some("chargeback under review"))
    );
    let log = c.activity(10, None).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "access.revoke" && e.detail.contains("chargeback")));
    let d = c
        .access_override(
            "hq_lifetime",
            &price_id,
            AccessAction::Clear,
            "resolved with the bank",
        )
        .await
        .unwrap();
    assert_eq!(
        d.access
            .iter()
            .find(|a| a.plan_id == price_id)
            .unwrap()
            .status,
        "ACTIVE"
    );
    assert!(d.history.len() >= 3, "{:?}", d.history);

    // Drift appears when the store is behind, and a re-sync of the org fixes it.
    let subs = c
        .subscriptions(&SubscriptionQuery {
            status: Some("active".into()),
            ..q()
        })
        .await
        .unwrap();
    let victim = subs.rows[5].clone();
    f.call(
        reqwest::Method::DELETE,
        &format!("/v1/subscriptions/{}", victim.subscription_id),
        &[],
    )
    .await;
    let drift = c.access_drift(None).await.unwrap();
    assert!(
        drift
            .items
            .iter()
            .any(|i| i.object_id == victim.subscription_id
                && i.field == "status"
                && i.stripe.as_deref() == Some("canceled")),
        "{:#?}",
        drift.items
    );
    c.resync_org(victim.org_id.as_deref().unwrap())
        .await
        .unwrap();
    let drift = c.access_drift(None).await.unwrap();
    assert!(drift.items.is_empty(), "{:#?}", drift.items);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_failing_with_500_and_429_is_retried_then_the_sync_completes() {
    let f = fixture(Seed::Demo).await;
    let c = f.console(None);
    f.post("/_sandbox/faults", &[("status", "500"), ("count", "2")])
        .await;
    let r = c.sync(true, None).await.unwrap();
    assert_eq!(r.backfill.unwrap().subscriptions, 312);
    f.post("/_sandbox/faults", &[("status", "429"), ("count", "2")])
        .await;
    let r = c.sync(false, None).await.unwrap();
    assert!(r.cursor.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_a_stale_active_after_deleted_never_revives_access() {
    let f = fixture(Seed::Demo).await;
    let c = f.console(None);
    c.sync(true, None).await.unwrap();
    let store = c.store().await.unwrap();
    let row = c
        .subscriptions(&SubscriptionQuery {
            status: Some("active".into()),
            ..q()
        })
        .await
        .unwrap()
        .rows[0]
        .clone();
    let sub = f
        .get(&format!("/v1/subscriptions/{}", row.subscription_id))
        .await;
    let mut canceled = sub.clone();
    canceled["status"] = json!("canceled");
    canceled["ended_at"] = json!(2_000_000_000i64);
    let ev = |id: &str, t: &str, created: i64, obj: &Value| {
        let v = json!({"id": id, "object": "event", "type": t, "created": created, "livemode": false, "data": {"object": obj}});
        Event::from_value(&v, v.to_string()).unwrap()
    };
    let deleted = ev(
        "evt_del",
        "customer.subscription.deleted",
        2_000_000_000,
        &canceled,
    );
    let stale = ev(
        "evt_stale",
        "customer.subscription.updated",
        1_999_999_990,
        &sub,
    );
    let p = Processor::new(
        store.clone(),
        Arc::new(tollgate_core::testing::Offline),
        c.org_keys(),
    );
    p.ingest(std::slice::from_ref(&deleted), "webhook")
        .await
        .unwrap();
    let r = p.settle(&|| false).await.unwrap();
    assert!(r.offline.is_some() && r.from_payload >= 1, "{r:?}");
    p.ingest(&[stale.clone(), stale], "webhook").await.unwrap();
    p.settle(&|| false).await.unwrap();
    let d = c.org_detail(row.org_id.as_deref().unwrap()).await.unwrap();
    let s = d
        .subscriptions
        .iter()
        .find(|s| s.subscription_id == row.subscription_id)
        .unwrap();
    assert_eq!(s.status, "canceled", "terminal states are absorbing");
    assert!(
        s.unconfirmed,
        "a payload applied offline stays unconfirmed until Stripe is read"
    );
    assert!(c.sync_state().await.unwrap().dirty >= 1);
}

/// The commission ledger from the demo year: one row per appointment charge and per refund,
/// with the organization's plan at the time and the rate in force; a charge that matched its
/// rate is not flagged, a refund reverses its share; reading everything again adds nothing, and
/// a new appointment and a refund arrive through the events cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appointments_build_the_commission_ledger_once() {
    use sqlx::Row;
    let f = fixture(Seed::Demo).await;
    let c = f.console(None);
    let r = c.sync(false, None).await.unwrap();
    let b = r.backfill.unwrap();
    let store = c.store().await.unwrap();
    let count = |sql: &'static str| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    let charges = count("SELECT count(*) FROM transaction_commissions WHERE kind = 'charge'").await;
    let refunds = count("SELECT count(*) FROM transaction_commissions WHERE kind = 'refund'").await;
    let listed = f.get("/v1/charges?limit=100").await;
    assert!(listed["data"].as_array().is_some_and(|d| !d.is_empty()));
    assert_eq!(charges as u64, b.appointments, "one row per appointment");
    assert!(charges > 1000, "a year of appointments: {charges}");
    assert!(refunds > 10 && refunds < charges / 20, "{refunds} refunds");
    // Every row carries a plan type and tier; rates came from price metadata.
    let rates =
        count("SELECT count(*) FROM commission_rates WHERE source = 'price metadata'").await;
    assert!(rates >= 4, "{rates} seeded rates");
    let tiers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tier_level_at_transaction FROM transaction_commissions ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(
        tiers.contains(&"community".to_owned()) && tiers.contains(&"top".to_owned()),
        "{tiers:?}"
    );
    // The seed charges each organization's rate: rows whose snapshot found that plan match it.
    let matched =
        count("SELECT count(*) FROM transaction_commissions WHERE kind = 'charge' AND flagged = 0")
            .await;
    assert!(
        matched * 2 > charges,
        "{matched} of {charges} match their rate"
    );
    let bad = count(
        "SELECT count(*) FROM transaction_commissions WHERE flagged = 0 AND implied_amount <> commission_amount",
    )
    .await;
    assert_eq!(bad, 0);
    // A refund's row reverses its share of its charge, under the charge's terms.
    let row = sqlx::query(
        "SELECT r.gross_amount, r.commission_amount, c.gross_amount, c.commission_amount, CASE WHEN r.tier_level_at_transaction = c.tier_level_at_transaction THEN 1 ELSE 0 END
         FROM transaction_commissions r JOIN transaction_commissions c ON c.id = r.stripe_charge_id AND c.kind = 'charge'
         WHERE r.kind = 'refund' LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let (rg, rc, cg, cc): (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(rg < 0 && rc <= 0 && rg >= -cg, "{rg} {rc} {cg} {cc}");
    assert_eq!(
        rc,
        -((cc * -rg * 2 + cg) / (2 * cg)),
        "proportional, half-up"
    );
    assert_eq!(row.get::<i64, _>(4), 1);

    // The overview over the same store: statuses, MRR (annual a twelfth) and this month's
    // commissions agree with plain reads of the mirror.
    let o = c.overview().await.unwrap();
    let active =
        count("SELECT count(*) FROM org_subscriptions WHERE subscription_status = 'active'").await;
    assert_eq!(
        o.statuses
            .iter()
            .find(|s| s.label == "active")
            .unwrap()
            .value,
        active
    );
    let now = chrono::Utc::now().timestamp();
    let paying = sqlx::query(
        "SELECT amount, billing_interval, interval_count, trial_end FROM org_subscriptions
         WHERE subscription_status IN ('active', 'past_due', 'unpaid') AND currency = 'eur' AND amount IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let expected: i64 = paying
        .iter()
        .filter(|r| r.get::<Option<i64>, _>(3).is_none_or(|t| t <= now))
        .filter_map(|r| {
            tollgate_core::ledger::overview::monthly(
                r.get(0),
                &r.get::<String, _>(1),
                r.get::<Option<i64>, _>(2).unwrap_or(1),
            )
        })
        .sum();
    let eur = o.mrr.iter().find(|m| m.currency == "eur").unwrap();
    assert_eq!(eur.value, expected);
    assert!(expected > 0);
    assert_eq!(
        o.mrr_by_tier
            .iter()
            .filter(|m| m.currency == "eur")
            .map(|m| m.value)
            .sum::<i64>(),
        expected,
        "tiers add up to the currency's MRR"
    );
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let this_month: i64 = sqlx::query_scalar::<_, i64>(&format!(
        "SELECT CAST(COALESCE(sum(commission_amount), 0) AS BIGINT) FROM transaction_commissions WHERE currency = 'eur' AND local_day LIKE '{month}-%'"
    ))
    .fetch_one(store.pool())
    .await
    .unwrap();
    let comm = o
        .commissions
        .iter()
        .find(|c| c.currency == "eur")
        .map_or(0, |c| c.this_month);
    assert_eq!(comm, this_month);

    // A full sync again: history is not rewritten, nothing is doubled.
    let before = count("SELECT count(*) FROM transaction_commissions").await;
    c.sync(true, None).await.unwrap();
    assert_eq!(
        count("SELECT count(*) FROM transaction_commissions").await,
        before
    );

    // A new appointment and its refund, found by the events cursor.
    let accounts = f.get("/v1/accounts?limit=1").await;
    let acct = accounts["data"][0]["id"].as_str().unwrap().to_owned();
    let pi = f
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "10000"),
                ("currency", "eur"),
                ("confirm", "true"),
                ("application_fee_amount", "999"),
                ("transfer_data[destination]", &acct),
                ("metadata[organization_id]", "org_unknown_here"),
            ],
        )
        .await;
    let ch = pi["latest_charge"].as_str().unwrap().to_owned();
    f.post("/v1/refunds", &[("charge", &ch), ("amount", "2500")])
        .await;
    c.sync(false, None).await.unwrap();
    let rows = sqlx::query(
        "SELECT kind, gross_amount, commission_amount, implied_amount, flagged, plan_type_at_transaction, org_id, stripe_transfer_id
         FROM transaction_commissions WHERE stripe_charge_id = $1 ORDER BY kind",
    )
    .bind(&ch)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let got: Vec<(String, i64, i64, Option<i64>, i64, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    // An organization the store does not know pays commission only, at the community rate
    // when one is set; what was charged (999) is flagged against it.
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1, got[0].2, got[0].5.as_str()),
        ("charge", 10000, 999, "commission")
    );
    assert_eq!(
        (got[1].0.as_str(), got[1].1, got[1].2),
        ("refund", -2500, -250)
    );
    assert_eq!(got[0].4, 1, "999 is not what any rate gives on 100.00");
    assert!(
        rows[0]
            .get::<Option<String>, _>(7)
            .is_some_and(|t| t.starts_with("tr_")),
        "the transfer id is kept"
    );
}

/// Two processes backfilling one store at the very same time (two people of a team opening
/// the app on one Postgres, the CLI beside the app on one SQLite file), with no lease to keep
/// them apart: each has its own connection pool, they write the same customers, subscriptions
/// and appointments side by side, and every table ends as one backfill alone leaves it (no
/// subscription created twice, no access change doubled, no lock error). Both backends.
async fn two_backfills_at_once_write_what_one_writes(pg: bool) {
    use tollgate_core::console::{Overrides, SecretSource};
    use tollgate_core::testing::{assert_same_tables, table_digest, unique, Backing};
    let f = fixture(Seed::Demo).await;
    let base = f.base.sandbox.base_url();
    // Three pages of subscriptions more than the demo, so the two runs overlap for longer.
    f.post(
        "/_sandbox/populate",
        &[
            ("count", "300"),
            ("price", "price_1SQbV5K5Ap4Um3SpD65qOwZB"),
        ],
    )
    .await;
    let target = |backing: &Backing| match backing {
        Backing::Sqlite(dir) => format!("sqlite://{}", dir.path().join("test.sqlite3").display()),
        Backing::Postgres(schema) => schema.url.clone(),
    };
    let console = |url: &str| {
        Console::new(
            tollgate_core::Environment::Test,
            "cli",
            &unique("dev.tollgate.test"),
            Overrides {
                stripe_secret_key: Some(tollgate_sandbox::DEFAULT_SECRET_KEY.into()),
                webhook_secrets: None,
                database_url: Some((url.to_owned(), SecretSource::Flag)),
                stripe_api_base: Some(base.clone()),
            },
        )
    };
    async fn backfill(c: &Console) {
        let p = c.processor().await.unwrap();
        let gw = c.gateway().unwrap();
        let r =
            tollgate_core::sync::backfill::run(&p, &gw, &tollgate_core::progress::Progress::new())
                .await
                .unwrap_or_else(|e| panic!("a backfill failed beside the other: {e:?}"));
        assert!(!r.cancelled);
    }
    let (single_store, single_backing) = tollgate_core::testing::fresh_store(pg).await;
    single_store.close().await;
    let single = console(&target(&single_backing));
    backfill(&single).await;
    let want = table_digest(&single.store().await.unwrap()).await;
    assert_eq!(
        want["org_subscriptions"].len(),
        612,
        "312 demo + 300 populated"
    );

    for trial in 0..3 {
        let (shared_store, shared_backing) = tollgate_core::testing::fresh_store(pg).await;
        shared_store.migrate().await.unwrap();
        shared_store.close().await;
        let url = target(&shared_backing);
        // Two consoles: two pools, as two processes have.
        let (a, b) = (console(&url), console(&url));
        tokio::join!(backfill(&a), backfill(&b));
        let got = table_digest(&a.store().await.unwrap()).await;
        assert_same_tables(
            &format!("{} trial {trial}", if pg { "postgres" } else { "sqlite" }),
            &want,
            &got,
        );
    }
}

mod two_backfills {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::two_backfills_at_once_write_what_one_writes(false).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::two_backfills_at_once_write_what_one_writes(true).await
    }
}
