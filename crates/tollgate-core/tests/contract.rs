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
