//! The store against both backends: the same tests, SQLite and Postgres.

use tollgate_core::domain::{DatabaseUrl, Environment};
use tollgate_core::store::{
    latest_version, Backend, NewAuditEntry, Store, StoreError, StoreTarget,
};
use tollgate_core::testing::fresh_store;

const TABLES: &[&str] = &[
    "organizations",
    "products",
    "prices",
    "entitlement_features",
    "product_features",
    "org_subscriptions",
    "platform_access",
    "transaction_commissions",
    "subscription_events",
    "stripe_events",
    "sync_cursors",
    "webhook_deliveries",
    "audit_log",
    "customers",
    "purchases",
    "customer_entitlements",
    "platform_access_history",
    "access_overrides",
    "dirty_objects",
    "sync_issues",
    "commission_rates",
    "commission_days",
    "settings",
    "sync_leases",
];

async fn exec(store: &Store, sql: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(sql)
        .execute(store.pool())
        .await
        .map(|r| r.rows_affected())
}

async fn seed_org_and_plan(store: &Store) {
    exec(store, "INSERT INTO organizations (id, name, stripe_customer_id, created_at, updated_at) VALUES ('org_1', 'Clinic One', 'cus_1', 1, 1)").await.unwrap();
    exec(store, "INSERT INTO products (stripe_id, name, active, created, updated_at) VALUES ('prod_c', 'Expert Community', 1, 1, 1)").await.unwrap();
    exec(store, "INSERT INTO prices (stripe_id, product_id, lookup_key, tier, plan_type, billing_interval, interval_count, unit_amount, currency, commission_rate_bps, active, created, updated_at) VALUES ('price_cm', 'prod_c', 'community-expert-monthly', 'community', 'monthly', 'month', 1, 2500, 'eur', 1200, 1, 1, 1)").await.unwrap();
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test] async fn $name() { super::$name(false).await } )* }
        mod postgres { $( #[tokio::test] async fn $name() { super::$name(true).await } )* }
    };
}

both_backends!(
    migrates_the_whole_schema_once,
    platform_access_is_unique_per_org_and_plan,
    statuses_and_rates_are_checked,
    prices_are_immutable_and_lookup_keys_unique,
    audit_log_round_trips,
    catalog_snapshots_swap_keys_and_keep_billed_fields,
    the_event_processor_records_once_and_derives_access,
    subscription_pages_agree_with_one_plain_sorted_read,
    commission_reports_agree_with_the_ledger,
    overview_counts_each_month_end_as_recorded,
    test_fire_fills_from_the_store_and_keeps_every_attempt,
    compaction_drops_old_payloads_and_keeps_what_dedup_and_dirty_objects_need,
    two_doors_on_one_store_record_each_event_once_and_mark_each_object_at_its_newest,
);

async fn compaction_drops_old_payloads_and_keeps_what_dedup_and_dirty_objects_need(pg: bool) {
    use tollgate_core::sync::{Event, Processor};
    let (store, _backing) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    let p = Processor::new(
        store.clone(),
        std::sync::Arc::new(Script),
        vec!["organization_id".into()],
    );
    let now = tollgate_core::store::now_seconds();
    let ev = |id: String, created: i64, sub: String| {
        // A payload of realistic size: what compaction is for.
        let v = serde_json::json!({"id": id, "object": "event", "type": "customer.subscription.updated", "created": created,
            "data": {"object": {"id": sub, "object": "subscription", "customer": "cus_1", "status": "active", "created": 5,
                "metadata": {"padding": "x".repeat(3000)},
                "items": {"data": [{"quantity": 1, "price": {"id": "price_cm", "unit_amount": 2500, "currency": "eur", "recurring": {"interval": "month"}}}]}}}});
        Event::from_value(&v, v.to_string()).unwrap()
    };
    // 3,000 events 100 days old over 30 subscriptions, 50 from the last hour; all settled.
    let old: Vec<Event> = (0..3000)
        .map(|i| {
            ev(
                format!("evt_old{i:05}"),
                now - 100 * 86_400 + i,
                format!("sub_{}", i % 30),
            )
        })
        .collect();
    let recent: Vec<Event> = (0..50)
        .map(|i| ev(format!("evt_new{i:05}"), now - 3600, "sub_1".into()))
        .collect();
    p.ingest(&old, "cursor").await.unwrap();
    p.ingest(&recent, "webhook").await.unwrap();
    p.settle(&|| false).await.unwrap();
    // One old object is still dirty: its events keep their payloads.
    let keep = ev("evt_dirty".into(), now - 90 * 86_400, "sub_dirty".into());
    let offline = Processor::new(
        store.clone(),
        std::sync::Arc::new(tollgate_core::testing::Offline),
        vec!["organization_id".into()],
    );
    offline.ingest(&[keep], "webhook").await.unwrap();
    assert_eq!(store.dirty_count().await.unwrap(), 1);

    assert_eq!(store.retention_days().await.unwrap(), 35);
    let r = store.compact_ledger(35, &|| false).await.unwrap();
    assert_eq!(r.compacted, 3000, "{r:?}");
    assert_eq!(
        (r.events, r.events_compacted, r.kept_for_dirty),
        (3051, 3000, 1),
        "{r:?}"
    );
    assert!(!r.cancelled);
    if !pg {
        assert!(
            r.bytes_after * 3 < r.bytes_before,
            "the file shrinks: {} -> {} bytes ({})",
            r.bytes_before,
            r.bytes_after,
            r.vacuum
        );
        assert_eq!(
            r.vacuum, "incremental vacuum",
            "a new store vacuums incrementally"
        );
    }
    // What stays: id, type, created and the ids; duplicates are still no-ops.
    let row: (String, String, i64, Option<String>, String) = sqlx::query_as(
        "SELECT event_type, object_id, created, subscription_id, payload FROM stripe_events WHERE event_id = 'evt_old00007'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        (
            row.0.as_str(),
            row.1.as_str(),
            row.3.as_deref(),
            row.4.as_str()
        ),
        ("customer.subscription.updated", "sub_7", Some("sub_7"), "")
    );
    assert_eq!(row.2, now - 100 * 86_400 + 7);
    let again = p.ingest(&old[..100], "cursor").await.unwrap();
    assert_eq!(
        (again.new, again.duplicate),
        (0, 100),
        "a compacted event is still a duplicate"
    );
    let (kept, z): (String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT payload, payload_z FROM stripe_events WHERE event_id = 'evt_dirty'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    let kept = match z {
        Some(z) => tollgate_core::store::compact::unpack(&z).unwrap(),
        None => kept,
    };
    assert!(
        kept.contains("sub_dirty"),
        "the dirty object's payload stays"
    );
    if !pg {
        // Inside the window and a day old: kept deflated, whole.
        assert_eq!(r.packed, 1, "{r:?}");
        assert!(kept.contains(&"x".repeat(3000)), "inflated whole");
    }
    // Offline, the dirty object still gets its (kept) payload applied; compacted ones are
    // never read as payloads.
    let s = offline.settle(&|| false).await.unwrap();
    assert_eq!(s.from_payload, 1, "{s:?}");
    // A second run finds nothing; a cancelled one stops before its first batch.
    let r2 = store.compact_ledger(35, &|| false).await.unwrap();
    assert_eq!(r2.compacted, 0);
    let r3 = store.compact_ledger(1, &|| true).await.unwrap();
    assert!(r3.cancelled && r3.compacted == 0, "{r3:?}");
    assert!(store
        .compacted_ago()
        .await
        .unwrap()
        .is_some_and(|ago| ago < 60));
}

/// Stripe as a script, always online.
struct Script;
impl tollgate_core::sync::StripeReader for Script {
    fn read(
        &self,
        kind: tollgate_core::sync::Kind,
        _id: &str,
    ) -> tollgate_core::store::SendFuture<
        '_,
        Result<tollgate_core::sync::Fetched, tollgate_core::sync::FetchError>,
    > {
        use tollgate_core::sync::{Fetched, Kind};
        let v = match kind {
            Kind::Customer => {
                serde_json::json!({"id": "cus_1", "object": "customer", "name": "Clinic One", "created": 1, "metadata": {"organization_id": "org_1"}})
            }
            Kind::Subscription => {
                serde_json::json!({"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "past_due", "created": 5,
                "items": {"data": [{"quantity": 1, "current_period_end": 99, "price": {"id": "price_cm", "unit_amount": 2500, "currency": "eur", "recurring": {"interval": "month"}}}]}})
            }
            _ => {
                serde_json::json!({"object": "list", "data": [{"feature": "feat_1", "lookup_key": "video-consults"}]})
            }
        };
        Box::pin(async move { Ok(Fetched::Found(v)) })
    }
    fn refresh_catalog<'a>(
        &'a self,
        _: &'a Store,
    ) -> tollgate_core::store::SendFuture<'a, Result<(), tollgate_core::sync::FetchError>> {
        Box::pin(async { Ok(()) })
    }
}

async fn the_event_processor_records_once_and_derives_access(pg: bool) {
    use tollgate_core::store::sync_views::{AccessQuery, SubscriptionQuery};
    use tollgate_core::sync::{Event, Processor};
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    seed_org_and_plan(&store).await;
    let p = Processor::new(
        store.clone(),
        std::sync::Arc::new(Script),
        vec!["organization_id".into()],
    );
    let ev = |id: &str, t: &str, obj: serde_json::Value| {
        let v = serde_json::json!({"id": id, "object": "event", "type": t, "created": 10, "data": {"object": obj}});
        Event::from_value(&v, v.to_string()).unwrap()
    };
    let events = vec![
        ev(
            "evt_1",
            "customer.subscription.updated",
            serde_json::json!({"id": "sub_1", "object": "subscription", "customer": "cus_1"}),
        ),
        ev(
            "evt_2",
            "invoice.payment_failed",
            serde_json::json!({"id": "in_1", "object": "invoice", "customer": "cus_1", "subscription": "sub_1"}),
        ),
        ev(
            "evt_3",
            "entitlements.active_entitlement_summary.updated",
            serde_json::json!({"object": "entitlements.active_entitlement_summary", "customer": "cus_1"}),
        ),
        ev(
            "evt_4",
            "payout.paid",
            serde_json::json!({"id": "po_1", "object": "payout"}),
        ),
    ];
    let first = p.ingest(&events, "webhook").await.unwrap();
    assert_eq!((first.new, first.duplicate, first.recorded_only), (4, 0, 1));
    let again = p.ingest(&events[..2], "cursor").await.unwrap();
    assert_eq!(
        (again.new, again.duplicate),
        (0, 2),
        "a duplicate id is a no-op"
    );
    let r = p.settle(&|| false).await.unwrap();
    assert_eq!((r.remaining, r.offline.clone()), (0, None), "{r:?}");
    let page = store
        .subscriptions_page(&SubscriptionQuery {
            search: Some("CLINIC".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let row = &page.rows[0];
    assert_eq!(
        (
            row.status.as_str(),
            row.tier.as_deref(),
            row.current_period_end,
            row.amount
        ),
        ("past_due", Some("community"), Some(99), Some(2500))
    );
    let access = store
        .access_page(&AccessQuery {
            status: None,
            plan: None,
            ended: None,
            search: None,
            offset: 0,
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(access.rows.len(), 1);
    assert_eq!(
        (
            access.rows[0].status.as_str(),
            access.rows[0].plan_label.as_deref()
        ),
        ("PAST_DUE", Some("community-expert-monthly"))
    );
    let detail = store.org_detail("org_1").await.unwrap().unwrap();
    assert_eq!(detail.claim, vec!["video-consults".to_owned()]);
    assert!(detail
        .timeline
        .iter()
        .any(|t| t.kind == "event" && t.title == "invoice.payment_failed"));
    let state = store.sync_state().await.unwrap();
    assert_eq!((state.events, state.dirty, state.subscriptions), (4, 0, 1));

    // A newer event, and Stripe's copy read back as the store holds it: the watermark moves
    // and nothing else is written (no timeline row, the row itself untouched).
    exec(&store, "UPDATE org_subscriptions SET updated_at = 7")
        .await
        .unwrap();
    let timeline = |store: Store| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM subscription_events")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    let rows_before = timeline(store.clone()).await;
    let newer = ev(
        "evt_5",
        "customer.subscription.updated",
        serde_json::json!({"id": "sub_1", "object": "subscription", "customer": "cus_1"}),
    );
    let newer = Event {
        created: 20,
        ..newer
    };
    p.ingest(&[newer], "webhook").await.unwrap();
    let r = p.settle(&|| false).await.unwrap();
    assert!(r.remaining == 0 && r.confirmed >= 1, "{r:?}");
    let (watermark, updated_at): (i64, i64) = sqlx::query_as(
        "SELECT watermark, updated_at FROM org_subscriptions WHERE stripe_subscription_id = 'sub_1'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((watermark, updated_at), (20, 7));
    assert_eq!(timeline(store.clone()).await, rows_before);
}

async fn catalog_snapshots_swap_keys_and_keep_billed_fields(pg: bool) {
    use tollgate_core::store::{CatalogSnapshot, PriceRow, ProductRow};
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    let product = ProductRow {
        stripe_id: "prod_1".into(),
        name: "Expert Community".into(),
        description: None,
        active: true,
        metadata: "{}".into(),
        livemode: false,
        created: 1,
    };
    let price = |id: &str, key: &str| PriceRow {
        stripe_id: id.into(),
        product_id: "prod_1".into(),
        lookup_key: Some(key.into()),
        tier: Some("lecturer".into()),
        audience: Some("module".into()),
        price_type: "recurring".into(),
        billing_interval: Some("month".into()),
        interval_count: Some(1),
        billing_scheme: "per_unit".into(),
        unit_amount: Some(2500),
        currency: "eur".into(),
        active: true,
        metadata: "{}".into(),
        created: 1,
        ..Default::default()
    };
    let mut snap = CatalogSnapshot {
        products: vec![product],
        prices: vec![
            price("price_a", "x-y-monthly"),
            price("price_b", "y-y-monthly"),
        ],
        ..Default::default()
    };
    snap.subscriber_counts = Some([("price_a".to_owned(), 7)].into());
    store.replace_catalog(&snap).await.unwrap();
    // Stripe swapped the two keys: the unique index must not trip half-way.
    snap.prices = vec![
        price("price_a", "y-y-monthly"),
        price("price_b", "x-y-monthly"),
    ];
    store.replace_catalog(&snap).await.unwrap();
    let view = store.catalog().await.unwrap();
    let a = view
        .prices
        .iter()
        .find(|p| p.stripe_id == "price_a")
        .unwrap();
    assert_eq!(a.lookup_key.as_deref(), Some("y-y-monthly"));
    assert_eq!(a.active_subscribers, 7);
    assert_eq!(a.tier.as_deref(), Some("lecturer"), "any tier word is kept");
    assert!(view.refreshed_at.is_some());
    // A billed field never changes in place.
    let mut changed = snap.clone();
    changed.prices[0].unit_amount = Some(9900);
    assert!(store.replace_catalog(&changed).await.is_err());
    let rows = store
        .prices_by_lookup_keys(&["x-y-monthly".into()])
        .await
        .unwrap();
    assert_eq!(rows[0].stripe_id, "price_b");
}

async fn migrates_the_whole_schema_once(pg: bool) {
    let (store, _guard) = fresh_store(pg).await;
    let before = store.status().await.unwrap();
    assert_eq!(before.schema_version, 0);
    let first = store.migrate().await.unwrap();
    assert_eq!(
        first.applied,
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    );
    assert_eq!(first.schema_version, latest_version(store.backend()));
    let again = store.migrate().await.unwrap();
    assert!(again.applied.is_empty(), "second migrate applies nothing");
    for table in TABLES {
        let n = exec(&store, &format!("SELECT 1 FROM {table} LIMIT 1")).await;
        assert!(n.is_ok(), "table {table} missing: {n:?}");
    }
}

async fn platform_access_is_unique_per_org_and_plan(pg: bool) {
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    seed_org_and_plan(&store).await;
    exec(&store, "INSERT INTO platform_access (org_id, plan_id, status, started_at, ended_at, source, updated_at) VALUES ('org_1', 'price_cm', 'ACTIVE', 10, NULL, 'subscription', 10)").await.unwrap();
    let dup = exec(&store, "INSERT INTO platform_access (org_id, plan_id, status, started_at, source, updated_at) VALUES ('org_1', 'price_cm', 'ACTIVE', 11, 'subscription', 11)").await;
    assert!(dup.is_err(), "(org, plan) must be unique");
    let orphan = exec(&store, "INSERT INTO platform_access (org_id, plan_id, status, started_at, source, updated_at) VALUES ('org_nope', 'price_cm', 'ACTIVE', 11, 'subscription', 11)").await;
    assert!(orphan.is_err(), "foreign keys are enforced");
    let backwards = exec(
        &store,
        "UPDATE platform_access SET ended_at = 5 WHERE org_id = 'org_1'",
    )
    .await;
    assert!(backwards.is_err(), "ended_at before started_at is refused");
}

async fn statuses_and_rates_are_checked(pg: bool) {
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    seed_org_and_plan(&store).await;
    let paused = exec(&store, "INSERT INTO platform_access (org_id, plan_id, status, started_at, source, updated_at) VALUES ('org_1', 'price_cm', 'PAUSED', 1, 'subscription', 1)").await;
    assert!(paused.is_err(), "only ACTIVE, PAST_DUE, CANCELED");
    let row = |id: &str, rate: i64, plan: &str| {
        format!("INSERT INTO transaction_commissions (id, kind, stripe_charge_id, plan_type_at_transaction, tier_level_at_transaction, currency, gross_amount, commission_amount, implied_amount, commission_rate, flagged, occurred_at, local_day, created_at) VALUES ('{id}', 'charge', 'ch_{id}', '{plan}', 'top', 'eur', 10000, 1200, 1200, {rate}, 0, 1, '1970-01-01', 1)")
    };
    let rate = exec(&store, &row("tc1", 10001, "monthly")).await;
    assert!(rate.is_err(), "a rate above 10000 bps is refused");
    let plan = exec(&store, &row("tc3", 1200, "weekly")).await;
    assert!(plan.is_err(), "plan types are commission, monthly, annual");
    let ok = exec(&store, &row("tc2", 1200, "monthly")).await;
    assert!(ok.is_ok(), "{ok:?}");
    let rates = exec(&store, "INSERT INTO commission_rates (plan_type, tier, rate_bps, effective_from, effective_to, source, created_at) VALUES ('monthly', 'top', 800, 100, 100, 'admin', 1)").await;
    assert!(rates.is_err(), "a rate period must not be empty");
}

async fn prices_are_immutable_and_lookup_keys_unique(pg: bool) {
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    seed_org_and_plan(&store).await;
    let change = exec(
        &store,
        "UPDATE prices SET unit_amount = 2900 WHERE stripe_id = 'price_cm'",
    )
    .await;
    let msg = change
        .expect_err("amount change must be refused")
        .to_string();
    assert!(msg.contains("immutable"), "{msg}");
    // Moving the lookup key or deactivating is allowed: Stripe allows it too.
    exec(
        &store,
        "UPDATE prices SET active = 0, lookup_key = NULL WHERE stripe_id = 'price_cm'",
    )
    .await
    .unwrap();
    exec(&store, "INSERT INTO prices (stripe_id, product_id, lookup_key, unit_amount, currency, active, created, updated_at) VALUES ('price_cm2', 'prod_c', 'community-expert-monthly', 2900, 'eur', 1, 2, 2)").await.unwrap();
    let clash = exec(&store, "INSERT INTO prices (stripe_id, product_id, lookup_key, unit_amount, currency, active, created, updated_at) VALUES ('price_cm3', 'prod_c', 'community-expert-monthly', 3100, 'eur', 1, 3, 3)").await;
    assert!(clash.is_err(), "a lookup key sits on one price at most");
}

async fn audit_log_round_trips(pg: bool) {
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    for action in ["secret.set", "secret.remove"] {
        store
            .append_audit(&NewAuditEntry {
                environment: Environment::Live,
                actor: "alice".into(),
                surface: "cli",
                action,
                target: Some("stripe-secret-key".into()),
                detail: serde_json::json!({ "masked": "sk_live_…4242" }),
                stripe_ids: vec!["price_1".into(), "prod_1".into()],
            })
            .await
            .unwrap();
    }
    let entries = store.recent_audit(10, None).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].action, "secret.remove", "newest first");
    assert_eq!(entries[0].environment, Environment::Live);
    assert!(entries[0].at > 1_700_000_000);
    assert_eq!(entries[0].actor, "alice");
    assert_eq!(entries[0].surface.as_deref(), Some("cli"));
    assert_eq!(entries[0].stripe_ids, vec!["price_1", "prod_1"]);
    let older = store.recent_audit(10, Some(entries[0].id)).await.unwrap();
    assert_eq!(older.len(), 1, "pages back from an id");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.sqlite3");
    let junk = b"this is not a sqlite database, it is a grocery list: eggs, milk, ".repeat(200);
    std::fs::write(&path, &junk).unwrap();
    let err = Store::open(&StoreTarget::SqliteFile(path.clone()))
        .await
        .expect_err("junk must not open");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("damaged"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        junk,
        "the file is left as it was"
    );
}

#[tokio::test]
async fn a_read_only_database_reads_but_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.sqlite3");
    let rw = Store::open(&StoreTarget::SqliteFile(path.clone()))
        .await
        .unwrap();
    rw.migrate().await.unwrap();
    rw.close().await;
    let url = DatabaseUrl::parse(&format!("sqlite://{}?mode=ro", path.display())).unwrap();
    let ro = Store::open(&StoreTarget::Url(url))
        .await
        .expect("a read-only file opens");
    assert_eq!(
        ro.status().await.unwrap().schema_version,
        latest_version(Backend::Sqlite),
        "and reads"
    );
    let err = ro
        .append_audit(&NewAuditEntry {
            environment: Environment::Test,
            actor: "alice".into(),
            surface: "cli",
            action: "secret.set",
            target: None,
            detail: serde_json::json!({}),
            stripe_ids: Vec::new(),
        })
        .await
        .expect_err("writes are refused");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
}

#[tokio::test]
async fn a_postgres_that_is_down_is_reported_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let url = DatabaseUrl::parse("postgres://tollgate:secret-pw@127.0.0.1:1/test").unwrap();
    let err = Store::open(&StoreTarget::Url(url))
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cannot be reached"), "{text}");
    assert!(
        !text.contains("secret-pw"),
        "the password never appears: {text}"
    );
}

#[tokio::test]
async fn both_backends_report_their_kind() {
    let (s, _g) = fresh_store(false).await;
    assert_eq!(s.backend(), Backend::Sqlite);
    let (p, _g2) = fresh_store(true).await;
    assert_eq!(p.backend(), Backend::Postgres);
    assert!(!p.location().contains("password"));
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys_on() {
    let (store, _g) = fresh_store(false).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

/// The Subscriptions page picks its plan per query (walk the sort index, or filter first and
/// sort; read past the middle from the other end; trigram index or scan for search). Whatever
/// it picks, every page must be the matching slice of one plain ORDER BY over the same filter,
/// and the filter must match exactly the rows a plain check in Rust picks.
async fn subscription_pages_agree_with_one_plain_sorted_read(pg: bool) {
    use tollgate_core::store::sync_views::SubscriptionQuery;
    const N: usize = 3_000;
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    let statuses = [
        "active", "active", "active", "trialing", "past_due", "canceled",
    ];
    let tiers = ["community", "top"];
    let intervals = ["month", "year"];
    let currencies = ["eur", "eur", "usd"];
    // (id, status, tier, interval, currency, search text)
    let mut rows = Vec::new();
    for i in 0..N {
        let search = format!(
            "org{}{i:05} b{i:05}@x.test sub_{i:05} cus_{i:05}{}",
            (b'a' + (i % 26) as u8) as char,
            // A few odd characters for the escaping: a literal %, _ and quote.
            match i % 500 {
                7 => " 100%_off",
                8 => " say \"hi\"",
                _ => "",
            }
        );
        rows.push((
            format!("sub_{i:05}"),
            statuses[i % 6],
            tiers[(i / 3) % 2],
            intervals[(i / 7) % 2],
            currencies[i % 3],
            search,
        ));
    }
    for chunk in rows.chunks(200) {
        let mut sql = String::from("INSERT INTO org_subscriptions (stripe_subscription_id, stripe_customer_id, org_name, email, tier, billing_interval, interval_count, amount, currency, subscription_status, status_rank, current_period_end, cancel_at_period_end, start_date, created, search, confirmed, watermark, updated_at) VALUES ");
        for (n, (id, status, tier, interval, currency, search)) in chunk.iter().enumerate() {
            let i: usize = id[4..].parse().unwrap();
            if n > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{id}', 'cus_{i:05}', {name}, 'b{i:05}@x.test', '{tier}', '{interval}', 1, {amount}, '{currency}', '{status}', 1, {end}, 0, {created}, {created}, '{search}', 1, 0, 0)",
                // Some NULLs, which each backend sorts to its own end.
                name = if i % 97 == 0 { "NULL".to_owned() } else { format!("'{}'", &search[..9]) },
                amount = if i % 89 == 0 { "NULL".to_owned() } else { (1000 + (i * 37) % 101 * 100).to_string() },
                end = 1_760_000_000 + (i % 40) as i64 * 86_400,
                created = 1_700_000_000 + ((i * 7919) % N) as i64,
            ));
        }
        exec(&store, &sql).await.unwrap();
    }
    let mut queries = Vec::new();
    for sort in [
        "org_name",
        "email",
        "tier",
        "interval",
        "status",
        "amount",
        "current_period_end",
        "created",
        "subscription_id",
    ] {
        for (status, tier, interval, currency) in [
            (None, None, None, None),
            (Some("active"), None, None, None),
            (Some("past_due"), Some("top"), None, None),
            (None, Some("community"), Some("year"), Some("usd")),
            (Some("canceled"), None, None, Some("eur")),
        ] {
            queries.push(SubscriptionQuery {
                status: status.map(Into::into),
                tier: tier.map(Into::into),
                interval: interval.map(Into::into),
                currency: currency.map(Into::into),
                sort: Some(sort.into()),
                desc: queries.len() % 2 == 1,
                ..Default::default()
            });
        }
    }
    for (search, status) in [
        ("sub_0012", None),       // few rows: the trigram index
        ("ORGC", Some("active")), // case folded
        ("x.test", None),         // every row: a scan
        ("b0", None),             // under 3 characters: a scan
        ("100%_", None),          // LIKE's wildcards, literally
        ("\"hi\"", None),         // an FTS5 quote, literally
        ("zzz", None),            // nothing
    ] {
        queries.push(SubscriptionQuery {
            search: Some(search.into()),
            status: status.map(Into::into),
            sort: Some("amount".into()),
            ..Default::default()
        });
    }
    for q in queries {
        let want: std::collections::BTreeSet<&str> = rows
            .iter()
            .filter(|(_, status, tier, interval, currency, search)| {
                q.status.as_deref().is_none_or(|v| v == *status)
                    && q.tier.as_deref().is_none_or(|v| v == *tier)
                    && q.interval.as_deref().is_none_or(|v| v == *interval)
                    && q.currency.as_deref().is_none_or(|v| v == *currency)
                    && q.search
                        .as_deref()
                        .is_none_or(|v| search.contains(&v.to_lowercase()))
            })
            .map(|r| r.0.as_str())
            .collect();
        let all: Vec<String> = store
            .subscriptions_all(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.subscription_id)
            .collect();
        let got: std::collections::BTreeSet<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(got, want, "the rows {q:?} matches");
        assert_eq!(got.len(), all.len(), "no row twice: {q:?}");
        // Pages of 100 from the front, past the middle and at the very end, and one odd size.
        let mut offsets = vec![0, 100, all.len() / 2, all.len().saturating_sub(100)];
        offsets.extend([all.len().saturating_sub(37), all.len()]);
        for (offset, limit) in offsets.into_iter().map(|o| (o, 100)).chain([(13, 37)]) {
            let page = store
                .subscriptions_page(&SubscriptionQuery {
                    offset: offset as i64,
                    limit: limit as i64,
                    ..q.clone()
                })
                .await
                .unwrap();
            assert_eq!(page.total as usize, all.len(), "{q:?}");
            let ids: Vec<&str> = page
                .rows
                .iter()
                .map(|r| r.subscription_id.as_str())
                .collect();
            let end = (offset + limit).min(all.len());
            let slice: Vec<&str> = all[offset.min(end)..end]
                .iter()
                .map(String::as_str)
                .collect();
            assert_eq!(ids, slice, "page at {offset} of {q:?}");
        }
    }
}

/// The overview's trends count each month's end as the store recorded it: a past-due spell
/// (with its MRR at risk) in the months it spanned, and a plan change's old price before it.
async fn overview_counts_each_month_end_as_recorded(pg: bool) {
    use tollgate_core::store::ledger;
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    seed_org_and_plan(&store).await;
    exec(&store, "INSERT INTO prices (stripe_id, product_id, lookup_key, tier, plan_type, billing_interval, interval_count, unit_amount, currency, active, created, updated_at) VALUES ('price_tm', 'prod_c', 'top-expert-monthly', 'top', 'monthly', 'month', 1, 4900, 'eur', 1, 1, 1)").await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let day = 86_400;
    let start = now - 200 * day;
    let (spell_from, spell_to, upgraded) = (now - 100 * day, now - 70 * day, now - 45 * day);
    // sub_c was first seen canceled (no recorded change): running until it ended.
    let ended = now - 20 * day;
    for (id, price, tier, amount, status, ended_at) in [
        (
            "sub_a",
            "price_cm",
            "community",
            2500,
            "active",
            "NULL".to_owned(),
        ),
        (
            "sub_b",
            "price_tm",
            "top",
            4900,
            "active",
            "NULL".to_owned(),
        ),
        (
            "sub_c",
            "price_cm",
            "community",
            2500,
            "canceled",
            ended.to_string(),
        ),
    ] {
        exec(&store, &format!("INSERT INTO org_subscriptions (stripe_subscription_id, stripe_customer_id, stripe_price_id, tier, plan_type, billing_interval, interval_count, amount, currency, subscription_status, status_rank, start_date, ended_at, created, search, confirmed, watermark, updated_at)
            VALUES ('{id}', 'cus_{id}', '{price}', '{tier}', 'monthly', 'month', 1, {amount}, 'eur', '{status}', 0, {start}, {ended_at}, {start}, '{id}', 1, {now}, {now})")).await.unwrap();
    }
    let event = |sub: &str, change: &str, ps: &str, ns: &str, pp: &str, np: &str, at: i64| {
        format!("INSERT INTO subscription_events (stripe_customer_id, stripe_subscription_id, change, previous_status, new_status, previous_price, new_price, occurred_at, recorded_at)
            VALUES ('cus_{sub}', '{sub}', '{change}', {ps}, {ns}, {pp}, {np}, {at}, {at})")
    };
    for sql in [
        event(
            "sub_a",
            "status",
            "'active'",
            "'past_due'",
            "NULL",
            "NULL",
            spell_from,
        ),
        event(
            "sub_a",
            "status",
            "'past_due'",
            "'active'",
            "NULL",
            "NULL",
            spell_to,
        ),
        event(
            "sub_b",
            "plan",
            "NULL",
            "NULL",
            "'price_cm'",
            "'price_tm'",
            upgraded,
        ),
    ] {
        exec(&store, &sql).await.unwrap();
    }
    let o = ledger::overview(&store, now).await.unwrap();
    assert_eq!(o.time_zone, "UTC");
    // Each month's end (the last: now), in UTC.
    let ends: Vec<i64> = o
        .months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i + 1 == o.months.len() {
                return now;
            }
            let first = chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").unwrap();
            let next = first + chrono::Months::new(1);
            next.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() - 1
        })
        .collect();
    let trend = |label: &str| {
        o.statuses
            .iter()
            .find(|s| s.label == label)
            .unwrap()
            .trend
            .clone()
    };
    let live = |t: i64| t >= start;
    let past_due = |t: i64| (spell_from..spell_to).contains(&t);
    let top = |t: i64| t >= upgraded;
    let c_runs = |t: i64| live(t) && t < ended;
    let c_mrr = |t: i64| if c_runs(t) { 2500 } else { 0 };
    let expect = |f: &dyn Fn(i64) -> i64| ends.iter().map(|t| f(*t)).collect::<Vec<i64>>();
    assert_eq!(trend("past_due"), expect(&|t| past_due(t) as i64));
    assert!(
        trend("past_due").contains(&1),
        "a month end fell in the spell"
    );
    assert_eq!(
        trend("active"),
        expect(&|t| live(t) as i64 * (2 - past_due(t) as i64) + c_runs(t) as i64)
    );
    assert_eq!(
        trend("canceled"),
        expect(&|t| (live(t) && !c_runs(t)) as i64)
    );
    assert!(trend("canceled").contains(&0) && trend("canceled").contains(&1));
    assert_eq!(
        o.statuses
            .iter()
            .find(|s| s.label == "past_due")
            .unwrap()
            .value,
        0
    );
    let risk = o
        .past_due_at_risk
        .iter()
        .find(|r| r.currency == "eur")
        .unwrap();
    assert_eq!(risk.trend, expect(&|t| if past_due(t) { 2500 } else { 0 }));
    assert_eq!(risk.value, 0);
    let tier = |t: &str| {
        o.mrr_by_tier
            .iter()
            .find(|m| m.tier.as_deref() == Some(t))
            .unwrap()
            .trend
            .clone()
    };
    assert_eq!(
        tier("community"),
        expect(&|t| c_mrr(t)
            + if !live(t) {
                0
            } else if top(t) {
                2500
            } else {
                5000
            })
    );
    assert_eq!(tier("top"), expect(&|t| if top(t) { 4900 } else { 0 }));
    let eur = o.mrr.iter().find(|m| m.currency == "eur").unwrap();
    assert_eq!(eur.value, 2500 + 4900);
    assert_eq!(
        eur.trend,
        expect(&|t| c_mrr(t)
            + if !live(t) {
                0
            } else if top(t) {
                7400
            } else {
                5000
            })
    );
}

/// The screen's view of a query (report and chart read together, from one read when they can
/// share it) says what the two reports say when asked apart: groups, totals, source. Returns
/// the report asked alone.
async fn view_says_what_reports_say(
    store: &Store,
    q: &tollgate_core::ledger::report::CommissionQuery,
    what: &str,
) -> tollgate_core::ledger::report::CommissionReport {
    use tollgate_core::ledger::report::Dim;
    use tollgate_core::store::ledger;
    let mut cq = q.clone();
    cq.group_by = vec![Dim::Period, Dim::Tier];
    let (vr, vc) = ledger::commission_view(store, &q.check().unwrap())
        .await
        .unwrap();
    let alone = ledger::commission_report(store, &q.check().unwrap())
        .await
        .unwrap();
    let chart = ledger::commission_report(store, &cq.check().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (&vr.groups, &vr.totals, &vr.source),
        (&alone.groups, &alone.totals, &alone.source),
        "report: {what}"
    );
    assert_eq!(
        (&vc.groups, &vc.totals, &vc.source),
        (&chart.groups, &chart.totals, &chart.source),
        "chart: {what}"
    );
    alone
}

/// Reports from the daily rollups and from the ledger rows agree with plain sums over the
/// ledger, for every grouping; a time zone change moves days but keeps totals; drill-down and
/// export return the rows behind a group; an overlapping rate is refused and nothing changes.
async fn commission_reports_agree_with_the_ledger(pg: bool) {
    use tollgate_core::ledger::report::{CommissionQuery, Dim, Period, RateInput};
    use tollgate_core::store::ledger;
    let (store, _guard) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    let added = ledger::seed(&store, 3000, &|_| {}).await.unwrap();
    assert!(added > 3000, "charges and some refunds: {added}");
    let sum = |sql: String| {
        let store = store.clone();
        async move {
            sqlx::query_as::<_, (i64, i64, i64)>(&sql)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    let today = chrono::Utc::now().date_naive();
    let q = |group_by: Vec<Dim>, period: Period| CommissionQuery {
        from: (today - chrono::Duration::days(400)).to_string(),
        to: (today + chrono::Duration::days(2)).to_string(),
        period,
        group_by,
        currency: None,
        tier: None,
        plan_type: None,
        expert: None,
        flagged_only: false,
    };
    let (gross, fee, flagged) = sum("SELECT CAST(COALESCE(sum(gross_amount), 0) AS BIGINT), CAST(COALESCE(sum(commission_amount), 0) AS BIGINT), CAST(COALESCE(sum(flagged), 0) AS BIGINT) FROM transaction_commissions WHERE currency = 'eur'".into()).await;
    for (dims, period) in [
        (vec![Dim::Period, Dim::Tier], Period::Month),
        (vec![Dim::Period], Period::Quarter),
        (vec![Dim::PlanType], Period::Week),
        (vec![Dim::Expert], Period::Month),
        (vec![Dim::Period, Dim::Expert, Dim::Tier], Period::Day),
        (vec![], Period::Month),
    ] {
        let r = ledger::commission_report(&store, &q(dims.clone(), period).check().unwrap())
            .await
            .unwrap();
        // The screen's view (report and chart read together, shared when they can be) says
        // what the two reports say, flagged-only too.
        for flagged_only in [false, true] {
            let mut vq = q(dims.clone(), period);
            vq.flagged_only = flagged_only;
            view_says_what_reports_say(&store, &vq, &format!("{dims:?} {flagged_only}")).await;
        }
        let eur = r.totals.iter().find(|t| t.currency == "eur").unwrap();
        assert_eq!(
            (eur.gross, eur.commission, eur.flagged),
            (gross, fee, flagged),
            "{dims:?} {period:?}"
        );
        let groups: (i64, i64) = r
            .groups
            .iter()
            .filter(|g| g.currency == "eur")
            .fold((0, 0), |a, g| (a.0 + g.gross, a.1 + g.commission));
        assert_eq!(groups, (gross, fee), "{dims:?}: groups add up to the total");
        assert!(
            r.groups
                .iter()
                .all(|g| g.currency == "eur" || g.currency == "usd"),
            "currencies stay apart"
        );
        if dims == vec![Dim::Period, Dim::Tier] {
            assert!(
                r.groups.len() >= 12 * 2 && r.source == "daily rollups",
                "{}",
                r.groups.len()
            );
            // Drill down into one group: its rows are the group.
            let g = &r.groups[3];
            let mut dq = q(vec![], Period::Month);
            dq.from = g.first_day.clone().unwrap();
            dq.to = g.last_day.clone().unwrap();
            dq.tier = g.tier.clone();
            dq.currency = Some(g.currency.clone());
            let page = ledger::commission_rows(&store, &dq.check().unwrap(), 0, 10_000)
                .await
                .unwrap();
            assert_eq!(page.total, g.charges + g.refunds);
            assert_eq!(page.rows.iter().map(|r| r.gross).sum::<i64>(), g.gross);
            let mut csv = Vec::new();
            let n = ledger::export_rows(&store, &dq.check().unwrap(), &mut csv, &|_| {}, &|| false)
                .await
                .unwrap();
            assert_eq!(n as i64, page.total);
            assert_eq!(
                String::from_utf8(csv).unwrap().lines().count() as i64,
                page.total + 1
            );
        }
        if dims.contains(&Dim::Expert) {
            let rows = dims.contains(&Dim::Period) && matches!(period, Period::Day | Period::Week);
            assert_eq!(
                r.source,
                if rows {
                    "ledger rows"
                } else {
                    "monthly expert rollups"
                }
            );
        }
    }
    // With an expert filter, by tier over weeks: the report reads monthly rollups, the chart
    // the rows; the view says what the separate reports say, day bounds included.
    let org: String = sqlx::query_scalar(
        "SELECT org_id FROM transaction_commissions WHERE org_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    for period in [Period::Week, Period::Day, Period::Month] {
        let mut vq = q(vec![Dim::Tier], period);
        vq.expert = Some(org.clone());
        let alone = view_says_what_reports_say(&store, &vq, &format!("{period:?}")).await;
        assert!(!alone.groups.is_empty());
    }

    // The export of the whole period, read 7 rows per query: every row once, in the ledger's
    // order, its fields as the rows page has them.
    let whole = q(vec![], Period::Month).check().unwrap();
    let all = ledger::commission_rows(&store, &whole, 0, 10_000)
        .await
        .unwrap();
    assert!(all.total > 100 && all.total <= 10_000, "{}", all.total);
    let steps = std::sync::Mutex::new(Vec::new());
    let mut csv = Vec::new();
    let n = ledger::export_rows_chunked(
        &store,
        &whole,
        &mut csv,
        7,
        &|k| steps.lock().unwrap().push(k),
        &|| false,
    )
    .await
    .unwrap();
    assert_eq!(n as i64, all.total);
    let steps = steps.into_inner().unwrap();
    assert_eq!(steps.len() as i64, (all.total + 6) / 7);
    assert_eq!(steps.last().copied(), Some(n));
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    assert_eq!(&reader.headers().unwrap()[4], "organization_name");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len() as i64, all.total);
    for (f, row) in records.iter().zip(&all.rows) {
        assert_eq!(&f[0], row.id);
        assert_eq!(&f[1], row.kind);
        assert_eq!(&f[3], row.org_id.as_deref().unwrap_or(""));
        assert_eq!(&f[4], row.org_name.as_deref().unwrap_or(""));
        assert_eq!(f[8], row.currency.to_ascii_uppercase());
        let minor: i64 = f[10].replace('.', "").parse().unwrap();
        assert_eq!(minor, row.commission, "{f:?}");
        assert_eq!(&f[13], if row.flagged { "yes" } else { "no" });
        assert_eq!(&f[17], row.local_day);
    }
    // Cancelled before the first chunk: the header only.
    let mut csv = Vec::new();
    let n = ledger::export_rows_chunked(&store, &whole, &mut csv, 7, &|_| {}, &|| true)
        .await
        .unwrap();
    assert_eq!((n, String::from_utf8(csv).unwrap().lines().count()), (0, 1));
    // By expert and month: whole months from the monthly rollups, the edge days from the rows,
    // the same sums as the rows grouped by day.
    let by_month = ledger::commission_report(
        &store,
        &q(vec![Dim::Period, Dim::Expert], Period::Month)
            .check()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(by_month.source, "monthly expert rollups");
    let by_day = ledger::commission_report(
        &store,
        &q(vec![Dim::Period, Dim::Expert], Period::Day)
            .check()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(by_day.source, "ledger rows");
    let per_month = |r: &tollgate_core::ledger::report::CommissionReport,
                     month_of: &dyn Fn(&str) -> String| {
        let mut m = std::collections::BTreeMap::new();
        for g in &r.groups {
            let e = m
                .entry((
                    month_of(g.period.as_deref().unwrap()),
                    g.expert.clone(),
                    g.currency.clone(),
                ))
                .or_insert((0, 0));
            e.0 += g.commission;
            e.1 += g.charges;
        }
        m
    };
    assert_eq!(
        per_month(&by_month, &|p| p.to_owned()),
        per_month(&by_day, &|p| p[..7].to_owned())
    );

    // Weeks and months bucketed in SQL equal the days bucketed here (ISO weeks by chrono), from
    // the rollups and from the rows (flagged only; by expert).
    for (dims, flagged_only) in [
        (vec![Dim::Period], false),
        (vec![Dim::Period], true),
        (vec![Dim::Period, Dim::Expert], false),
    ] {
        for period in [Period::Week, Period::Month, Period::Quarter] {
            let ask = |period: Period| {
                let mut a = q(dims.clone(), period);
                a.flagged_only = flagged_only;
                a.check().unwrap()
            };
            let days = ledger::commission_report(&store, &ask(Period::Day))
                .await
                .unwrap();
            let mut expected = std::collections::BTreeMap::new();
            for g in &days.groups {
                let d = chrono::NaiveDate::parse_from_str(g.period.as_deref().unwrap(), "%Y-%m-%d")
                    .unwrap();
                let e = expected
                    .entry((period.bucket(d), g.expert.clone(), g.currency.clone()))
                    .or_insert((0, 0, 0));
                e.0 += g.charges;
                e.1 += g.refunds;
                e.2 += g.commission;
            }
            let got: std::collections::BTreeMap<_, _> =
                ledger::commission_report(&store, &ask(period))
                    .await
                    .unwrap()
                    .groups
                    .iter()
                    .map(|g| {
                        (
                            (
                                g.period.clone().unwrap(),
                                g.expert.clone(),
                                g.currency.clone(),
                            ),
                            (g.charges, g.refunds, g.commission),
                        )
                    })
                    .collect();
            assert!(expected.len() > 3);
            assert_eq!(got, expected, "{dims:?} {period:?} flagged {flagged_only}");
        }
    }

    // By expert over periods that cut months every way: within one month (read from the rows,
    // or as the month's rollup less its other days), across two partial months, whole months.
    // The same sums per expert as the rows.
    use chrono::Datelike;
    let m1 = (today - chrono::Duration::days(75)).with_day(1).unwrap();
    let m0 = (m1 - chrono::Duration::days(1)).with_day(1).unwrap();
    let m1_last =
        (m1 + chrono::Duration::days(40)).with_day(1).unwrap() - chrono::Duration::days(1);
    let on = |m: chrono::NaiveDate, d: u32| m.with_day(d).unwrap();
    for (from, to) in [
        (on(m1, 3), on(m1, 28)),
        (on(m1, 10), on(m1, 14)),
        (on(m0, 25), on(m1, 5)),
        (on(m0, 2), on(m1, 27)),
        (m0, m1_last),
        (on(m0, 16), m1_last),
        (m0, on(m1, 20)),
    ] {
        let window = |dims: Vec<Dim>, period: Period| {
            let mut w = q(dims, period);
            (w.from, w.to) = (from.to_string(), to.to_string());
            w.check().unwrap()
        };
        let rollups = ledger::commission_report(&store, &window(vec![Dim::Expert], Period::Month))
            .await
            .unwrap();
        assert_eq!(rollups.source, "monthly expert rollups");
        let rows =
            ledger::commission_report(&store, &window(vec![Dim::Period, Dim::Expert], Period::Day))
                .await
                .unwrap();
        assert_eq!(rows.source, "ledger rows");
        let per_expert = |r: &tollgate_core::ledger::report::CommissionReport| {
            let mut m = std::collections::BTreeMap::new();
            for g in &r.groups {
                let e = m
                    .entry((g.expert.clone(), g.currency.clone()))
                    .or_insert((0, 0, 0, 0));
                e.0 += g.commission;
                e.1 += g.charges;
                e.2 += g.refunds;
                e.3 += g.gross;
            }
            m.retain(|_, v| *v != (0, 0, 0, 0));
            m
        };
        let expected = per_expert(&rows);
        assert!(!expected.is_empty(), "{from}..{to} has rows");
        assert_eq!(per_expert(&rollups), expected, "{from}..{to}");
    }

    // Another time zone: days move, totals stay, rollups and rows still agree.
    let moved = ledger::set_time_zone(&store, "Pacific/Kiritimati".parse().unwrap())
        .await
        .unwrap();
    assert!(moved > 0);
    assert_eq!(
        ledger::time_zone(&store).await.unwrap(),
        "Pacific/Kiritimati"
    );
    let by_rollup =
        ledger::commission_report(&store, &q(vec![Dim::Period], Period::Day).check().unwrap())
            .await
            .unwrap();
    let by_rows = ledger::commission_report(
        &store,
        &q(vec![Dim::Period, Dim::Expert], Period::Day)
            .check()
            .unwrap(),
    )
    .await
    .unwrap();
    let per_day = |r: &tollgate_core::ledger::report::CommissionReport| {
        let mut m = std::collections::BTreeMap::new();
        for g in &r.groups {
            *m.entry((g.period.clone(), g.currency.clone())).or_insert(0) += g.commission;
        }
        m
    };
    assert_eq!(per_day(&by_rollup), per_day(&by_rows));
    let eur = by_rollup
        .totals
        .iter()
        .find(|t| t.currency == "eur")
        .unwrap();
    assert_eq!((eur.gross, eur.commission), (gross, fee));
    // Rates: the seeded open-ended rate blocks an overlapping one; ended, the next fits.
    let rates = ledger::rates(&store).await.unwrap();
    let top = rates
        .iter()
        .find(|r| r.plan_type == "monthly" && r.tier == "top")
        .unwrap()
        .clone();
    let input = RateInput {
        plan_type: "monthly".into(),
        tier: "top".into(),
        rate: "9.5".into(),
        from: "2027-01-01".into(),
        to: None,
        note: None,
    };
    let refused = ledger::add_rate(&store, &input.check().unwrap())
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().0.id, top.id);
    assert_eq!(
        ledger::rates(&store).await.unwrap(),
        rates,
        "nothing changed"
    );
    ledger::end_rate(
        &store,
        top.id,
        chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let added = ledger::add_rate(&store, &input.check().unwrap())
        .await
        .unwrap()
        .unwrap();
    let after = ledger::rates(&store).await.unwrap();
    assert_eq!(
        after.iter().find(|r| r.id == added.id).unwrap().rate_bps,
        950
    );
    assert_eq!(
        after.iter().find(|r| r.id == added.id),
        Some(&added),
        "the row as stored"
    );
}

async fn test_fire_fills_from_the_store_and_keeps_every_attempt(pg: bool) {
    use tollgate_core::testfire::{Delivery, Outcome, SigningMode};
    let (store, _backing) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    assert_eq!(
        store.testfire_subject(None).await.unwrap(),
        None,
        "an empty store has no subject"
    );
    seed_org_and_plan(&store).await;
    exec(&store, "INSERT INTO products (stripe_id, name, active, created, updated_at) VALUES ('prod_t', 'Expert Top', 1, 1, 1)").await.unwrap();
    exec(&store, "INSERT INTO prices (stripe_id, product_id, lookup_key, tier, plan_type, billing_interval, interval_count, unit_amount, currency, active, created, updated_at) VALUES ('price_tm', 'prod_t', 'top-expert-monthly', 'top', 'monthly', 'month', 1, 4900, 'eur', 1, 1, 1)").await.unwrap();
    exec(&store, "INSERT INTO customers (stripe_id, org_id, name, email, created, confirmed, watermark, updated_at) VALUES ('cus_1', 'org_1', 'Clinic One', 'one@example.com', 5, 1, 0, 1)").await.unwrap();
    exec(&store, "INSERT INTO org_subscriptions (stripe_subscription_id, stripe_customer_id, org_id, org_name, stripe_price_id, items, subscription_status, status_rank, current_period_start, current_period_end, start_date, created, search, confirmed, watermark, updated_at) \
        VALUES ('sub_old', 'cus_1', 'org_1', 'Clinic One', 'price_cm', '[]', 'canceled', 9, 1, 2, 1, 1, 'x', 1, 0, 1), \
               ('sub_1', 'cus_1', 'org_1', 'Clinic One', 'price_cm', '[{\"quantity\": 3}]', 'active', 1, 100, 200, 50, 50, 'x', 1, 0, 1)").await.unwrap();
    exec(&store, "INSERT INTO stripe_events (event_id, event_type, created, livemode, object_id, customer_id, subscription_id, source, outcome, payload, received_at) VALUES ('evt_i', 'invoice.paid', 7, 0, 'in_7', 'cus_1', 'sub_1', 'webhook', 'recorded', '{\"data\": {\"object\": {\"id\": \"in_7\"}}}', 7)").await.unwrap();
    for org in [None, Some("org_1"), Some("cus_1")] {
        let s = store.testfire_subject(org).await.unwrap().unwrap();
        assert!(!s.generated);
        assert_eq!(
            (
                s.org_id.as_str(),
                s.customer_id.as_str(),
                s.subscription_id.as_str()
            ),
            ("org_1", "cus_1", "sub_1"),
            "the active subscription, by {org:?}"
        );
        assert_eq!(
            (
                s.price.id.as_str(),
                s.price.unit_amount,
                s.price.product_name.as_str()
            ),
            ("price_cm", 2500, "Expert Community")
        );
        assert_eq!(s.quantity, 3);
        assert_eq!((s.period_start, s.period_end), (100, 200));
        assert_eq!(s.upgrade.as_ref().map(|p| p.id.as_str()), Some("price_tm"));
        assert_eq!(s.invoice_id.as_deref(), Some("in_7"));
        assert_eq!(s.email.as_deref(), Some("one@example.com"));
    }
    assert_eq!(
        store.testfire_subject(Some("org_nobody")).await.unwrap(),
        None
    );
    // A second, older customer of the same organization without a subscription: the subject
    // stays the subscription's customer; named, it is itself, with no subscription of its own.
    exec(&store, "INSERT INTO customers (stripe_id, org_id, name, email, created, confirmed, watermark, updated_at) VALUES ('cus_2', 'org_1', 'Clinic One (old)', 'old@example.com', 1, 1, 0, 1)").await.unwrap();
    let s = store.testfire_subject(None).await.unwrap().unwrap();
    assert_eq!(
        (s.customer_id.as_str(), s.subscription_id.as_str()),
        ("cus_1", "sub_1")
    );
    let s = store
        .testfire_subject(Some("cus_2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.customer_id, "cus_2");
    assert!(
        !s.subscription_known,
        "cus_2 holds no subscription: {}",
        s.subscription_id
    );
    let choices = store.testfire_choices("clinic", 10).await.unwrap();
    assert_eq!(
        choices.len(),
        1,
        "one row per organization, whatever its customers"
    );
    assert_eq!(choices[0].customer_id, "cus_1");
    assert_eq!(
        store.testfire_choices("cus_2", 10).await.unwrap().len(),
        1,
        "found by any customer"
    );
    assert_eq!(
        (
            choices[0].subscription_id.as_deref(),
            choices[0].status.as_deref()
        ),
        (Some("sub_1"), Some("active"))
    );
    assert!(store
        .testfire_choices("nobody", 10)
        .await
        .unwrap()
        .is_empty());

    let d = |step: u32, attempt: u32, outcome: Outcome, status: Option<u16>| Delivery {
        id: 0,
        run_id: "run_1".into(),
        scenario: Some("burst".into()),
        step,
        attempt,
        replay_of: None,
        url: "http://127.0.0.1:1/webhook".into(),
        event_id: format!("evt_{step}"),
        event_type: "invoice.paid".into(),
        org_id: Some("org_1".into()),
        mode: SigningMode::Tampered,
        request_headers: vec![
            ("stripe-signature".into(), "t=1,v1=ab".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: "{\"id\":\"evt_1\",\"note\":\"é — 𝄞\"}".into(),
        body_shared: false,
        outcome,
        http_status: status,
        response_headers: vec![("x-a".into(), "1".into())],
        response_body: status.map(|_| "bad".into()),
        response_truncated: status.is_some(),
        error: (status.is_none()).then(|| "timed out".into()),
        latency_us: Some(1234),
        sent_at_ms: 1_800_000_000_123,
        as_expected: status == Some(400),
    };
    let rows = vec![
        d(2, 1, Outcome::ServerError, Some(503)),
        d(2, 2, Outcome::Timeout, None),
        d(1, 1, Outcome::ClientError, Some(400)),
    ];
    store.record_deliveries(&rows).await.unwrap();
    // Written in order: ids rise with the rows.
    let mut ids: Vec<i64> = store
        .deliveries(10, None, None)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    ids.reverse();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let back = store.delivery(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        back,
        Delivery {
            id: ids[0],
            ..rows[0].clone()
        },
        "round trips field for field"
    );
    let newest = store.deliveries(2, None, None).await.unwrap();
    assert_eq!(
        newest.iter().map(|d| d.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    assert_eq!(
        store
            .deliveries(10, Some(ids[1]), None)
            .await
            .unwrap()
            .len(),
        1,
        "pages back"
    );
    let run = store.deliveries(10, None, Some("run_1")).await.unwrap();
    assert_eq!(
        run.iter().map(|d| (d.step, d.attempt)).collect::<Vec<_>>(),
        [(1, 1), (2, 1), (2, 2)],
        "a run in step order"
    );
    assert!(run[0].as_expected && !run[1].as_expected);
    assert_eq!(store.delivery(999_999).await.unwrap(), None);
    // A burst's copy stores no body: it reads back as the run's first with its own event id.
    let copy = Delivery {
        body: String::new(),
        body_shared: true,
        ..d(3, 1, Outcome::Ok, Some(200))
    };
    store
        .record_deliveries(std::slice::from_ref(&copy))
        .await
        .unwrap();
    let back = store.deliveries(10, None, Some("run_1")).await.unwrap();
    let back = back.iter().find(|x| x.step == 3).unwrap();
    assert_eq!(back.body, "{\"id\":\"evt_3\",\"note\":\"é — 𝄞\"}");
    assert_eq!(
        store.delivery(back.id).await.unwrap().unwrap().body,
        back.body
    );
    // A copy whose run's first row is missing (only a damaged file holds one) reads, and says
    // so; the rest of the history still reads.
    exec(&store, "INSERT INTO webhook_deliveries (run_id, step, attempt, url, event_id, event_type, mode, request_headers, outcome, as_expected, sent_at_ms) VALUES ('run_orphan', 5, 1, 'http://x', 'evt_5', 'invoice.paid', 'valid', '[]', 'ok', 1, 1)").await.unwrap();
    let all = store.deliveries(100, None, None).await.unwrap();
    let orphan = all.iter().find(|d| d.run_id == "run_orphan").unwrap();
    assert!(
        orphan.body.contains("not in the history"),
        "{}",
        orphan.body
    );
    // The mode is checked by the table too.
    assert!(exec(
        &store,
        "UPDATE webhook_deliveries SET mode = 'bad' WHERE id = 1"
    )
    .await
    .is_err());
}

/// Two processes' doors (two store handles on one database) take the same 1,200 events at
/// once, 16-way each, in opposite orders, every tenth twice: on Postgres their groups write
/// side by side without a store lock, so this is where a lock-order deadlock or a doubled
/// event would show. Each event is answered new exactly once, every answer is a success, and
/// each object carries one mark at its newest event.
async fn two_doors_on_one_store_record_each_event_once_and_mark_each_object_at_its_newest(
    pg: bool,
) {
    use futures_util::StreamExt;
    use tollgate_core::sync::{door::Door, Event, Processor};
    use tollgate_core::testing::{Backing, Offline};
    let (store, backing) = fresh_store(pg).await;
    store.migrate().await.unwrap();
    let target = match &backing {
        Backing::Sqlite(dir) => StoreTarget::SqliteFile(dir.path().join("test.sqlite3")),
        Backing::Postgres(schema) => StoreTarget::Url(DatabaseUrl::parse(&schema.url).unwrap()),
    };
    let other = Store::open(&target).await.unwrap();
    let door = |store: &Store| {
        Door::start(
            Processor::new(store.clone(), std::sync::Arc::new(Offline), vec![]),
            "webhook",
        )
    };
    let (a, b) = (door(&store), door(&other));
    let events: Vec<Event> = (0..1200)
        .map(|i| {
            let v = serde_json::json!({
                "id": format!("evt_twodoors{i:05}"), "object": "event",
                "type": "customer.subscription.updated", "created": 1_000 + (i * 7919) % 997,
                "data": {"object": {"id": format!("sub_{}", i % 90), "object": "subscription",
                    "customer": format!("cus_{}", i % 30), "status": "active"}}});
            Event::from_value(&v, v.to_string()).unwrap()
        })
        .collect();
    let deliveries = |door: Door, order: Vec<Event>| {
        futures_util::stream::iter(order.into_iter().flat_map(|e| {
            let times = if e.id.ends_with('0') { 2 } else { 1 };
            std::iter::repeat_n(e, times)
        }))
        .map(move |e| {
            let door = door.clone();
            async move { (e.id.clone(), door.record(e).await) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
    };
    let (from_a, from_b) = tokio::join!(
        deliveries(a, events.clone()),
        deliveries(b, events.iter().rev().cloned().collect()),
    );
    let mut new_per_event = std::collections::BTreeMap::<String, u32>::new();
    for (id, answer) in from_a.into_iter().chain(from_b) {
        let new = answer.unwrap_or_else(|e| panic!("{id}: {e}"));
        *new_per_event.entry(id).or_default() += new as u32;
    }
    assert_eq!(new_per_event.len(), 1200);
    assert!(
        new_per_event.values().all(|&n| n == 1),
        "each event new exactly once: {:?}",
        new_per_event
            .iter()
            .filter(|(_, &n)| n != 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(count, 1200);
    let marks: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT object_id, kind, last_event_created FROM dirty_objects ORDER BY kind, object_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut newest = std::collections::BTreeMap::<(String, String), i64>::new();
    for e in &events {
        for (kind, id) in &e.touches {
            let n = newest
                .entry((kind.as_str().to_owned(), id.clone()))
                .or_insert(0);
            *n = (*n).max(e.created);
        }
    }
    let marks: std::collections::BTreeMap<(String, String), i64> =
        marks.into_iter().map(|(o, k, c)| ((k, o), c)).collect();
    assert_eq!(marks, newest, "one mark per object, at its newest event");
    other.close().await;
}
