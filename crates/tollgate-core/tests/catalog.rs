//! Plans and lookup keys end to end through the Console, against the sandbox over real HTTP
//! and a real SQLite file: refresh, create (idempotent, transfer, bad input), the seed 002
//! migration map, verify, the resolver's stale fallback, features, the audit log.

use tollgate_core::catalog::create::NewPrice;
use tollgate_core::catalog::migration::MapAction;
use tollgate_core::catalog::resolver::Source;
use tollgate_core::console::{Overrides, SecretSource};
use tollgate_core::domain::Environment;
use tollgate_core::{Console, ErrorCode};
use tollgate_sandbox::{SandboxConfig, Seed};

const SEED_MAP: &str = r#"{
  "price_1SQbV5K5Ap4Um3SpD65qOwZB": "community-expert-monthly",
  "price_1SQXF5K5Ap4Um3SpekZpC9fQ": "community-expert-annual",
  "price_1SQbV6K5Ap4Um3SpwFKRCoJo": "top-expert-monthly",
  "price_1SQXF5K5Ap4Um3SpzT4S3agl": "top-expert-annual",
  "price_1SQXF5K5Ap4Um3SpQCBwSFml": "lecturer-module-annual"
}"#;

use tollgate_core::testing::SandboxFixture as Fixture;

async fn fixture(seed: Seed) -> Fixture {
    Fixture::start(seed).await
}

async fn stripe_price_count(f: &Fixture) -> usize {
    f.sandbox
        .counts()
        .await
        .into_iter()
        .find(|(k, _)| k == "price")
        .map(|(_, n)| n)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_mirrors_every_price_shape_with_features_and_subscribers() {
    let f = fixture(Seed::Demo).await;
    let c = f.console();
    let cat = c.catalog(true, None).await.unwrap();
    assert!(cat.stale_reason.is_none(), "{:?}", cat.stale_reason);
    assert!(cat.refreshed_at.is_some());
    assert_eq!(cat.plans.len(), 11, "7 plans, 1 archived, 3 other shapes");
    let by_nick = |n: &str| {
        cat.plans
            .iter()
            .find(|p| p.nickname.as_deref() == Some(n))
            .unwrap_or_else(|| panic!("no {n}"))
    };

    let community = by_nick("Community monthly");
    assert_eq!(community.price_id, "price_1SQbV5K5Ap4Um3SpD65qOwZB");
    assert_eq!(
        community.lookup_key.as_deref(),
        Some("community-expert-monthly")
    );
    assert_eq!(community.pricing, "EUR 25.00 / month");
    assert_eq!(community.commission_bps.map(|b| b.0), Some(1200));
    assert_eq!(community.features.len(), 3);
    assert!(
        community.active_subscribers > 0,
        "demo orgs subscribe to it"
    );

    let annual = by_nick("Community annual");
    assert_eq!(
        annual.lookup_key, None,
        "the migration's work, flagged on screen"
    );
    assert_eq!(annual.tier.as_deref(), Some("community"));

    assert_eq!(
        by_nick("Partner clinic, per seat").pricing,
        "EUR 12.00 per seat / month"
    );
    assert_eq!(by_nick("Partner clinic, per seat").model, "per_seat");
    assert_eq!(
        by_nick("Partner clinic, volume seats").pricing,
        "graduated tiers per seats / month: 1–10: EUR 15.00 each + EUR 20.00 flat; 11–50: EUR 12.00 each; 51+: EUR 9.00 each"
    );
    assert_eq!(
        by_nick("SMS reminders").pricing,
        "EUR 0.005 per SMS used / month"
    );
    assert!(!by_nick("Community monthly (2024)").active);
    let top = cat
        .products
        .iter()
        .find(|p| p.name == "Expert Top")
        .unwrap();
    assert_eq!(top.features.len(), 5);
    assert_eq!(cat.features.len(), 5);
    f.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_map_applies_once_then_changes_nothing() {
    let f = fixture(Seed::Demo).await;
    let c = f.console();
    let plan = c.lookup_keys_plan(SEED_MAP, None).await.unwrap();
    assert_eq!(
        (
            plan.counts.unchanged,
            plan.counts.assign,
            plan.counts.transfer
        ),
        (2, 3, 0),
        "{plan:?}"
    );

    // A map with conflicts is refused whole: nothing written.
    let bad = r#"{"price_1SQXF5K5Ap4Um3SpekZpC9fQ": "community-expert-annual", "price_1SQXF5K5Ap4Um3SpzT4S3agl": "community-expert-annual"}"#;
    let e = c.lookup_keys_apply(bad, None, None).await.unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::InvalidInput, Some("map"))
    );
    assert_eq!(
        c.lookup_keys_plan(SEED_MAP, None)
            .await
            .unwrap()
            .counts
            .assign,
        3,
        "nothing moved"
    );

    let report = c
        .lookup_keys_apply(SEED_MAP, Some("op-1"), None)
        .await
        .unwrap();
    assert_eq!(report.applied, 3);
    let progress = c.op_progress("op-1").unwrap();
    assert!(
        progress.finished && progress.done == 3 && progress.total == 3,
        "{progress:?}"
    );

    let again = c.lookup_keys_apply(SEED_MAP, None, None).await.unwrap();
    assert_eq!(again.applied, 0);
    assert_eq!(again.plan.counts.unchanged, 5);
    assert!(again
        .plan
        .rows
        .iter()
        .all(|r| r.action == MapAction::Unchanged));

    // The store learned it without a refresh, and the audit log says who did what.
    let cat = c.catalog(false, None).await.unwrap();
    let lecturer = cat
        .plans
        .iter()
        .find(|p| p.price_id == "price_1SQXF5K5Ap4Um3SpQCBwSFml")
        .unwrap();
    assert_eq!(
        lecturer.lookup_key.as_deref(),
        Some("lecturer-module-annual")
    );
    let log = c.activity(50, None).await.unwrap();
    let assigns: Vec<_> = log
        .iter()
        .filter(|e| e.action == "lookup_key.assign")
        .collect();
    assert_eq!(assigns.len(), 3);
    assert_eq!(assigns[0].surface.as_deref(), Some("cli"));
    assert!(!assigns[0].actor.is_empty());
    assert!(assigns
        .iter()
        .any(|e| e.stripe_ids == vec!["price_1SQXF5K5Ap4Um3SpQCBwSFml".to_owned()]));

    // Verify before deploy: one green, one wrong amount, one missing.
    let expected = r#"[
      {"lookup_key": "community-expert-monthly", "amount": 2500, "currency": "eur", "interval": "month"},
      {"lookup_key": "top-expert-annual", "amount": 59000, "currency": "eur", "interval": "year"},
      {"lookup_key": "partner-professional-monthly", "amount": 19900, "currency": "eur", "interval": "month"}
    ]"#;
    let v = c.lookup_keys_verify(expected).await.unwrap();
    assert_eq!((v.passed, v.failed), (1, 2));
    assert!(
        v.checks[1].problems[0].contains("amount is EUR 566.00, expected EUR 590.00"),
        "{:?}",
        v.checks[1].problems
    );
    assert!(v.checks[2].problems[0].contains("no price has the lookup key"));
    f.sandbox.stop().await;
}

fn partner_price(request_id: &str) -> NewPrice {
    NewPrice {
        product_name: Some("Partner Enterprise".into()),
        lookup_key: "partner-enterprise-monthly".into(),
        interval: "month".into(),
        amount: 49900,
        currency: "eur".into(),
        commission_bps: Some(600),
        per_seat: true,
        features: vec!["analytics_access".into(), "custom_branding".into()],
        request_id: Some(request_id.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_creates_one_price_and_a_transfer_keeps_subscribers() {
    let f = fixture(Seed::Demo).await;
    let c = f.console();
    c.catalog(true, None).await.unwrap();
    let before = stripe_price_count(&f).await;
    let input = partner_price("form-1");
    let (a, b) = tokio::join!(c.create_price(&input, None), c.create_price(&input, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.plan.price_id, b.plan.price_id, "one price for two clicks");
    assert_eq!(stripe_price_count(&f).await, before + 1);
    assert_eq!(a.plan.pricing, "EUR 499.00 per seat / month");
    assert_eq!(a.plan.features.len(), 2);
    assert_eq!(a.plan.commission_bps.map(|b| b.0), Some(600));

    // A new Community monthly price takes the key; the old one keeps its subscribers.
    let old = "price_1SQbV5K5Ap4Um3SpD65qOwZB";
    let cat = c.catalog(true, None).await.unwrap();
    let subs = cat
        .plans
        .iter()
        .find(|p| p.price_id == old)
        .unwrap()
        .active_subscribers;
    let community = cat
        .plans
        .iter()
        .find(|p| p.price_id == old)
        .unwrap()
        .product_id
        .clone();
    let mut v2 = NewPrice {
        product_id: Some(community),
        lookup_key: "community-expert-monthly".into(),
        interval: "month".into(),
        amount: 2900,
        currency: "eur".into(),
        request_id: Some("form-2".into()),
        ..Default::default()
    };
    let e = c.create_price(&v2, None).await.unwrap_err();
    assert_eq!(e.field.as_deref(), Some("lookup_key"));
    assert!(
        e.message.contains("held by price_1SQbV5K5Ap4Um3SpD65qOwZB"),
        "{}",
        e.message
    );
    v2.transfer_lookup_key = true;
    let created = c.create_price(&v2, None).await.unwrap();
    assert_eq!(created.transferred_from.as_deref(), Some(old));
    let cat = c.catalog(true, None).await.unwrap();
    let old_row = cat.plans.iter().find(|p| p.price_id == old).unwrap();
    assert_eq!(old_row.lookup_key, None);
    assert_eq!(old_row.active_subscribers, subs);
    let (res, _) = c
        .resolve(&["community-expert-monthly".into()])
        .await
        .unwrap();
    assert_eq!(
        res[0].price.as_ref().unwrap().price_id,
        created.plan.price_id,
        "the resolver forgot the moved key"
    );

    let log = c.activity(10, None).await.unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == "price.create" && e.stripe_ids.contains(&old.to_owned()))
        .unwrap();
    assert!(entry.stripe_ids.contains(&created.plan.price_id));
    f.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_creates_nothing_in_stripe_or_the_store() {
    let f = fixture(Seed::Demo).await;
    let c = f.console();
    c.catalog(true, None).await.unwrap();
    let stripe_before = stripe_price_count(&f).await;
    let store_before = c.catalog(false, None).await.unwrap().plans.len();
    let cases: Vec<(fn(&mut NewPrice), &str)> = vec![
        (
            |i| i.lookup_key = "Partner-enterprise-monthly".into(),
            "lookup_key",
        ),
        (|i| i.amount = -100, "amount"),
        (|i| i.amount = 100_000_000_000, "amount"),
        (|i| i.currency = "eur0".into(), "currency"),
        (
            |i| i.lookup_key = "community-expert-monthly".into(),
            "lookup_key",
        ),
        (|i| i.features = vec!["teleportation".into()], "features"),
        (
            |i| i.product_name = Some("Expert Top".into()),
            "product_name",
        ),
        (
            |i| {
                i.product_name = None;
                i.product_id = Some("prod_doesnotexist".into())
            },
            "product",
        ),
    ];
    for (bad, field) in cases {
        let mut input = partner_price("form-bad");
        bad(&mut input);
        let e = c.create_price(&input, None).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some(field), "{e:?}");
    }
    // A restricted key may read but not write: Stripe's 403, nothing created.
    let rk = f.console_with(
        &tollgate_sandbox::DEFAULT_SECRET_KEY.replacen("sk_", "rk_", 1),
        &f.sandbox.base_url(),
        None,
    );
    let e = rk
        .create_price(&partner_price("form-rk"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::StripePermission, "{e:?}");
    assert_eq!(stripe_price_count(&f).await, stripe_before);
    assert_eq!(
        c.catalog(false, None).await.unwrap().plans.len(),
        store_before
    );
    assert!(c
        .activity(100, None)
        .await
        .unwrap()
        .iter()
        .all(|e| e.action != "price.create"));
    f.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_stripe_serves_the_stores_copy_marked_stale() {
    let f = fixture(Seed::Demo).await;
    f.console().catalog(true, None).await.unwrap();
    let offline = f.console_with(
        tollgate_sandbox::DEFAULT_SECRET_KEY,
        "http://127.0.0.1:1",
        None,
    );
    let (res, stats) = offline
        .resolve(&[
            "top-expert-monthly".into(),
            "nobody-has-this-monthly".into(),
        ])
        .await
        .unwrap();
    assert_eq!(res[0].source, Source::Store);
    assert!(res[0].stale);
    assert_eq!(res[0].price.as_ref().unwrap().unit_amount, Some(5900));
    assert!(res[1].price.is_none());
    assert_eq!(stats.stale_served, 2);
    let cat = offline.catalog(true, None).await.unwrap();
    assert!(cat.stale_reason.unwrap().contains("could not reach Stripe"));
    assert_eq!(cat.plans.len(), 11, "the store's copy");
    f.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_attach_and_detach() {
    let f = fixture(Seed::Demo).await;
    let c = f.console();
    let cat = c.catalog(true, None).await.unwrap();
    let lecturer = cat
        .products
        .iter()
        .find(|p| p.name == "Lecturer Module")
        .unwrap()
        .id
        .clone();
    let cat = c
        .product_feature(&lecturer, "analytics_access", true, None)
        .await
        .unwrap();
    let p = cat.products.iter().find(|p| p.id == lecturer).unwrap();
    assert!(p
        .features
        .iter()
        .any(|f| f.lookup_key == "analytics_access"));
    // Attaching twice is a no-op, not a second attachment.
    let cat = c
        .product_feature(&lecturer, "analytics_access", true, None)
        .await
        .unwrap();
    assert_eq!(
        cat.products
            .iter()
            .find(|p| p.id == lecturer)
            .unwrap()
            .features
            .len(),
        2
    );
    let cat = c
        .product_feature(&lecturer, "analytics_access", false, None)
        .await
        .unwrap();
    assert!(!cat
        .products
        .iter()
        .find(|p| p.id == lecturer)
        .unwrap()
        .features
        .iter()
        .any(|f| f.lookup_key == "analytics_access"));
    let e = c
        .product_feature(&lecturer, "analytics_access", false, None)
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("features"));
    // A refresh agrees with what the writes mirrored.
    let fresh = c.catalog(true, None).await.unwrap();
    assert_eq!(
        fresh
            .products
            .iter()
            .find(|p| p.id == lecturer)
            .unwrap()
            .features
            .len(),
        1
    );
    f.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_writes_need_the_account_name_typed() {
    let live_key = "sk_live_sandboxLiveModeKey0000";
    let sandbox = tollgate_sandbox::start(SandboxConfig {
        seed: Seed::Empty,
        secret_key: live_key.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = Console::new(
        Environment::Live,
        "cli",
        &tollgate_core::testing::unique("dev.tollgate.test"),
        Overrides {
            stripe_secret_key: Some(live_key.into()),
            webhook_secrets: None,
            database_url: Some((
                format!("sqlite://{}", dir.path().join("live.db").display()),
                SecretSource::Flag,
            )),
            stripe_api_base: Some(sandbox.base_url()),
        },
    );
    let input = NewPrice {
        product_name: Some("Partner Live".into()),
        lookup_key: "partner-live-monthly".into(),
        interval: "month".into(),
        amount: 1000,
        currency: "eur".into(),
        ..Default::default()
    };
    for confirm in [None, Some("Tollgate"), Some("tollgate sandbox")] {
        let e = c.create_price(&input, confirm).await.unwrap_err();
        assert_eq!(e.field.as_deref(), Some("confirm"), "{e:?}");
        assert!(e.message.contains("Tollgate Sandbox"), "{}", e.message);
    }
    let prices = sandbox
        .counts()
        .await
        .into_iter()
        .find(|(k, _)| k == "price")
        .map(|(_, n)| n)
        .unwrap_or(0);
    assert_eq!(prices, 0, "nothing written unconfirmed");
    let created = c
        .create_price(&input, Some("Tollgate Sandbox"))
        .await
        .unwrap();
    assert_eq!(
        created.plan.lookup_key.as_deref(),
        Some("partner-live-monthly")
    );
    let e = c
        .lookup_keys_apply(r#"{"price_x": "a-b-monthly"}"#, None, None)
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("confirm"));
    sandbox.stop().await;
}
