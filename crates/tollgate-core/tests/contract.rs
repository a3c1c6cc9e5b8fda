//! The contract suite: the Stripe calls Tollgate makes, through the gateway and async-stripe's
//! typed requests, against the sandbox always, and against real Stripe test mode when
//! TOLLGATE_CONTRACT_STRIPE_KEY is set (it says that it skipped otherwise). A behaviour on
//! which the two disagree is a sandbox bug.

use std::collections::HashMap;

use stripe_billing::subscription::{
    CancelSubscription, CreateSubscription, CreateSubscriptionItems, ListSubscription,
    ListSubscriptionStatus,
};
use stripe_core::customer::CreateCustomer;
use stripe_core::event::ListEvent;
use stripe_misc::webhook_endpoint::{
    CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, DeleteWebhookEndpoint,
};
use stripe_product::price::{
    CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval, ListPrice, RetrievePrice,
};
use stripe_product::product::CreateProduct;
use stripe_types::{Currency, RangeQueryTs};
use tollgate_core::domain::StripeSecretKey;
use tollgate_core::stripe::{GatewayError, IdempotencyIntent, StripeGateway};

/// Runs `body` against the sandbox, then against real Stripe if a key is given.
macro_rules! contract {
    ($name:ident, |$gw:ident, $tag:ident| $body:block) => {
        #[tokio::test]
        async fn $name() {
            let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
            {
                let $gw = StripeGateway::new(&sandbox.base_url(), &StripeSecretKey::parse(tollgate_sandbox::DEFAULT_SECRET_KEY).unwrap()).unwrap();
                let $tag = tollgate_core::testing::unique("contract");
                $body
            }
            match std::env::var("TOLLGATE_CONTRACT_STRIPE_KEY").ok().filter(|k| !k.is_empty()) {
                Some(key) => {
                    let key = StripeSecretKey::parse_for(&key, tollgate_core::Environment::Test).expect("TOLLGATE_CONTRACT_STRIPE_KEY must be a test-mode key");
                    let $gw = StripeGateway::new(tollgate_core::stripe::DEFAULT_API_BASE, &key).unwrap();
                    let $tag = tollgate_core::testing::unique("contract");
                    $body
                }
                None => eprintln!("{}: real Stripe skipped (set TOLLGATE_CONTRACT_STRIPE_KEY to a test-mode key to run it)", stringify!($name)),
            }
        }
    };
}

contract!(account_is_readable, |gw, _tag| {
    let a = gw.account().await.unwrap();
    assert!(a.id.starts_with("acct_"));
    assert!(!a.name.is_empty());
});

contract!(
    price_with_lookup_key_is_created_once_and_found_by_key,
    |gw, tag| {
        let product = gw
            .post_idempotent(
                CreateProduct::new(format!("Contract {tag}")),
                &IdempotencyIntent::new("product.create").with(&tag),
            )
            .await
            .unwrap();
        let key = format!("{tag}-monthly");
        let create = || {
            CreatePrice::new(Currency::EUR)
                .product(product.id.as_str())
                .unit_amount(2500)
                .recurring(CreatePriceRecurring::new(
                    CreatePriceRecurringInterval::Month,
                ))
                .lookup_key(key.clone())
        };
        let intent = IdempotencyIntent::new("price.create").with(&tag).with(2500);
        let first = gw.post_idempotent(create(), &intent).await.unwrap();
        let again = gw.post_idempotent(create(), &intent).await.unwrap();
        assert_eq!(first.id, again.id, "a retried click is one price, not two");

        let found = gw
            .list_all(ListPrice::new().lookup_keys(vec![key.clone()]).paginate())
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, first.id);
        assert_eq!(found[0].unit_amount, Some(2500));

        // Another price takes the key only with transfer_lookup_key.
        let clash = gw
            .post_idempotent(
                create().unit_amount(2900),
                &IdempotencyIntent::new("price.create").with(&tag).with(2900),
            )
            .await;
        match clash {
            Err(GatewayError::Api {
                status: 400, param, ..
            }) => assert_eq!(param.as_deref(), Some("lookup_key")),
            other => panic!("expected a 400 on lookup_key, got {other:?}"),
        }
        let moved = gw
            .post_idempotent(
                create().unit_amount(2900).transfer_lookup_key(true),
                &IdempotencyIntent::new("price.create")
                    .with(&tag)
                    .with("2900-transfer"),
            )
            .await
            .unwrap();
        let found = gw
            .list_all(ListPrice::new().lookup_keys(vec![key.clone()]).paginate())
            .await
            .unwrap();
        assert_eq!(
            found.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
            vec![moved.id.clone()]
        );
        let old = gw.send(RetrievePrice::new(first.id.clone())).await.unwrap();
        assert_eq!(old.lookup_key, None);

        // The events that tell the mirror about it.
        let since = first.created - 1;
        let events = gw
            .list_all(
                ListEvent::new()
                    .created(RangeQueryTs::gt(since))
                    .types(vec!["price.created".into(), "price.updated".into()])
                    .paginate(),
            )
            .await
            .unwrap();
        let about_ours = events
            .iter()
            .filter(|e| format!("{:?}", e.data.object).contains(moved.id.as_str()))
            .count();
        assert!(
            about_ours >= 1,
            "price.created for {} among {} events",
            moved.id,
            events.len()
        );
    }
);

contract!(subscriptions_of_all_statuses_page_through, |gw, tag| {
    let product = gw
        .post_idempotent(
            CreateProduct::new(format!("Sub {tag}")),
            &IdempotencyIntent::new("product.create").with(&tag),
        )
        .await
        .unwrap();
    let price = gw
        .post_idempotent(
            CreatePrice::new(Currency::EUR)
                .product(product.id.as_str())
                .unit_amount(5900)
                .recurring(CreatePriceRecurring::new(
                    CreatePriceRecurringInterval::Month,
                )),
            &IdempotencyIntent::new("price.create").with(&tag),
        )
        .await
        .unwrap();
    let customer = gw
        .post_idempotent(
            CreateCustomer::new()
                .email(format!("{tag}@example.com"))
                .metadata(HashMap::from([("organization_id".to_owned(), tag.clone())])),
            &IdempotencyIntent::new("customer.create").with(&tag),
        )
        .await
        .unwrap();
    // A trial needs no card, so this runs on real Stripe too.
    let item = CreateSubscriptionItems {
        price: Some(price.id.to_string()),
        ..CreateSubscriptionItems::new()
    };
    let sub = gw
        .post_idempotent(
            CreateSubscription::new()
                .customer(customer.id.as_str())
                .items(vec![item])
                .trial_period_days(7u32),
            &IdempotencyIntent::new("subscription.create").with(&tag),
        )
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "trialing");
    let canceled = gw
        .post_idempotent(
            CancelSubscription::new(sub.id.clone()),
            &IdempotencyIntent::new("subscription.cancel").with(&sub.id),
        )
        .await
        .unwrap();
    assert_eq!(canceled.status.as_str(), "canceled");
    // Canceled subscriptions are left out unless asked for: the backfill must ask.
    let default = gw
        .list_all(
            ListSubscription::new()
                .customer(customer.id.as_str())
                .paginate(),
        )
        .await
        .unwrap();
    assert!(default.is_empty());
    let all = gw
        .list_all(
            ListSubscription::new()
                .customer(customer.id.as_str())
                .status(ListSubscriptionStatus::All)
                .paginate(),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
});

contract!(webhook_endpoints_return_their_secret_once, |gw, tag| {
    let ev: CreateWebhookEndpointEnabledEvents = "invoice.paid".parse().unwrap();
    let we = gw
        .post_idempotent(
            CreateWebhookEndpoint::new(vec![ev], format!("https://example.com/hooks/{tag}")),
            &IdempotencyIntent::new("webhook_endpoint.create").with(&tag),
        )
        .await
        .unwrap();
    assert!(we
        .secret
        .as_deref()
        .is_some_and(|s| s.starts_with("whsec_")));
    gw.post_idempotent(
        DeleteWebhookEndpoint::new(we.id.clone()),
        &IdempotencyIntent::new("webhook_endpoint.delete").with(&we.id),
    )
    .await
    .unwrap();
});

contract!(unknown_ids_are_404_resource_missing, |gw, _tag| {
    match gw.send(RetrievePrice::new("price_doesnotexist000")).await {
        Err(GatewayError::Api { status, code, .. }) => {
            assert_eq!(status, 404);
            assert_eq!(code.as_deref(), Some("resource_missing"));
        }
        other => panic!("expected 404, got {other:?}"),
    }
});

contract!(
    partner_price_transfer_migration_features_and_resolver,
    |gw, tag| {
        use tollgate_core::catalog::{create, migration, mirror, resolver};
        let key = format!("{tag}-partner-monthly");
        let first = create::parse(&create::NewPrice {
            product_name: Some(format!("Contract {tag}")),
            lookup_key: key.clone(),
            interval: "month".into(),
            amount: 2900,
            currency: "eur".into(),
            commission_bps: Some(900),
            per_seat: true,
            request_id: Some(format!("{tag}-1")),
            ..Default::default()
        })
        .unwrap();
        let a = create::create(&gw, &first).await.unwrap();
        assert_eq!(a.price.lookup_key.as_deref(), Some(key.as_str()));
        assert_eq!(a.price.commission_rate_bps, Some(900));

        // A second price on the same product takes the key; the first keeps its row.
        let second = create::parse(&create::NewPrice {
            product_id: Some(a.product.stripe_id.clone()),
            lookup_key: key.clone(),
            interval: "month".into(),
            amount: 3400,
            currency: "eur".into(),
            transfer_lookup_key: true,
            request_id: Some(format!("{tag}-2")),
            ..Default::default()
        })
        .unwrap();
        let b = create::create(&gw, &second).await.unwrap();
        assert_eq!(
            b.transferred_from.as_deref(),
            Some(a.price.stripe_id.as_str())
        );
        let prices: Vec<_> = mirror::list_prices(&gw)
            .await
            .unwrap()
            .iter()
            .map(mirror::price_row)
            .collect();
        let old = prices
            .iter()
            .find(|p| p.stripe_id == a.price.stripe_id)
            .unwrap();
        assert_eq!(old.lookup_key, None);

        // The old price gets a versioned key through the migration; a second plan finds nothing to do.
        let v2 = format!("{tag}-partner-monthly-v2");
        let entries =
            migration::parse_map(&format!(r#"{{"{}": "{v2}"}}"#, a.price.stripe_id)).unwrap();
        let plan = migration::plan(&entries, &prices);
        assert_eq!(plan.counts.assign, 1);
        let progress = tollgate_core::progress::Progress::new();
        let report = migration::apply(&gw, plan, &progress, |_, _| Box::pin(async {}))
            .await
            .unwrap();
        assert_eq!(report.applied, 1);
        let prices: Vec<_> = mirror::list_prices(&gw)
            .await
            .unwrap()
            .iter()
            .map(mirror::price_row)
            .collect();
        assert_eq!(migration::plan(&entries, &prices).counts.unchanged, 1);

        // Both keys resolve, ten per call at most, in one call here.
        let r = resolver::PriceResolver::new(
            std::sync::Arc::new(resolver::StripeSource(gw)),
            None,
            resolver::DEFAULT_TTL,
        );
        let out = r.resolve_many(&[key.clone(), v2.clone()]).await.unwrap();
        assert_eq!(out[0].price.as_ref().unwrap().price_id, b.price.stripe_id);
        assert_eq!(out[1].price.as_ref().unwrap().price_id, a.price.stripe_id);
        assert_eq!(r.stats().api_calls, 1);
    }
);

contract!(features_attach_once_and_detach, |gw, tag| {
    use stripe_misc::entitlements_feature::CreateEntitlementsFeature;
    use tollgate_core::catalog::features;
    let feature = gw
        .post_idempotent(
            CreateEntitlementsFeature::new(format!("{tag}_feature"), format!("Feature {tag}")),
            &IdempotencyIntent::new("contract.feature").with(&tag),
        )
        .await
        .unwrap();
    let product = gw
        .post_idempotent(
            CreateProduct::new(format!("Contract features {tag}")),
            &IdempotencyIntent::new("contract.product").with(&tag),
        )
        .await
        .unwrap();
    let one = features::attach(&gw, product.id.as_str(), &format!("{tag}_feature"))
        .await
        .unwrap();
    let again = features::attach(&gw, product.id.as_str(), feature.id.as_str())
        .await
        .unwrap();
    assert_eq!(
        one.stripe_id, again.stripe_id,
        "attaching twice is one attachment"
    );
    let gone = features::detach(&gw, product.id.as_str(), &format!("{tag}_feature"))
        .await
        .unwrap();
    assert_eq!(gone.stripe_id, one.stripe_id);
    let e = features::detach(&gw, product.id.as_str(), &format!("{tag}_feature"))
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("features"));
});
