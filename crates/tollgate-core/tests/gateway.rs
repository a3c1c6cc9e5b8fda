//! The Stripe gateway over real HTTP, against the sandbox.

use tollgate_core::domain::StripeSecretKey;
use tollgate_core::stripe::{GatewayError, StripeGateway};
use tollgate_core::ErrorBody;
use tollgate_core::ErrorCode;

#[tokio::test]
async fn account_check_returns_the_account_name() {
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let key = StripeSecretKey::parse(tollgate_sandbox::DEFAULT_SECRET_KEY).unwrap();
    let gw = StripeGateway::new(&sandbox.base_url(), &key).unwrap();
    let account = gw.account().await.unwrap();
    assert_eq!(account.name, "Tollgate Sandbox");
    assert!(account.id.starts_with("acct_"));
    sandbox.stop().await;
}

#[tokio::test]
async fn a_wrong_key_gets_stripes_401_with_its_message() {
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let key = StripeSecretKey::parse("sk_test_revokedrevokedrevoked9999").unwrap();
    let err = StripeGateway::new(&sandbox.base_url(), &key)
        .unwrap()
        .account()
        .await
        .unwrap_err();
    match &err {
        GatewayError::Api {
            status,
            kind,
            message,
            ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(kind, "invalid_request_error");
            assert!(
                message.starts_with("Invalid API Key provided: sk_test_"),
                "{message}"
            );
            assert!(
                message.ends_with("9999") && !message.contains("revoked"),
                "Stripe masks the key: {message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(ErrorBody::from(err).code, ErrorCode::StripeAuthentication);
}

#[tokio::test]
async fn an_unreachable_stripe_is_reported_as_such() {
    let key = StripeSecretKey::parse("sk_test_sandbox").unwrap();
    // Port 1 on loopback: nothing listens there.
    let err = StripeGateway::new("http://127.0.0.1:1", &key)
        .unwrap()
        .account()
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Unreachable { .. }), "{err:?}");
    let body = ErrorBody::from(err);
    assert_eq!(body.code, ErrorCode::StripeUnreachable);
    assert!(body.message.contains("127.0.0.1:1"));
}

#[tokio::test]
async fn unknown_routes_get_stripes_404_shape() {
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let key = StripeSecretKey::parse(tollgate_sandbox::DEFAULT_SECRET_KEY).unwrap();
    let gw = StripeGateway::new(&format!("{}/nope", sandbox.base_url()), &key).unwrap();
    let err = gw.account().await.unwrap_err();
    assert!(
        matches!(err, GatewayError::Api { status: 404, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("Unrecognized request URL"),
        "{err}"
    );
}

/// Makes the sandbox's next `count` requests fail with `status` (control route).
async fn queue_faults(base: &str, status: &str, count: &str) {
    let res = reqwest::Client::new()
        .post(format!("{base}/_sandbox/faults"))
        .bearer_auth(tollgate_sandbox::DEFAULT_SECRET_KEY)
        .form(&[("status", status), ("count", count)])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn rate_limits_and_conflicts_are_retried_with_backoff() {
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let key = StripeSecretKey::parse(tollgate_sandbox::DEFAULT_SECRET_KEY).unwrap();
    let gw = StripeGateway::new(&sandbox.base_url(), &key).unwrap();
    // Two 429s, then success: the third attempt answers, after jittered backoff
    // (0.25-0.5 s, then 0.5-1 s) during which every request of the process waits.
    queue_faults(&sandbox.base_url(), "429", "2").await;
    let before = gw.rate_status();
    let t = std::time::Instant::now();
    assert_eq!(gw.account().await.unwrap().name, "Tollgate Sandbox");
    let took = t.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(750) && took < std::time::Duration::from_secs(3),
        "backed off twice: {took:?}"
    );
    let after = gw.rate_status();
    assert_eq!(after.rate_limited - before.rate_limited, 2, "{after:?}");
    assert_eq!(after.requests - before.requests, 3, "{after:?}");
    // A caller that waits 429s out only so long sees Stripe's 429 when they last longer.
    let impatient = gw.with_patience(tollgate_core::stripe::Patience {
        rate_limited_for: Some(std::time::Duration::from_millis(200)),
        ..tollgate_core::stripe::Patience::interactive()
    });
    queue_faults(&sandbox.base_url(), "429", "3").await;
    let err = impatient.account().await.unwrap_err();
    assert_eq!(ErrorBody::from(err).code, ErrorCode::StripeRateLimited);
    // 409 and 5xx: three attempts in all, then the error.
    queue_faults(&sandbox.base_url(), "500", "3").await;
    let err = gw.account().await.unwrap_err();
    assert_eq!(ErrorBody::from(err).code, ErrorCode::StripeApi);
}

/// A sync's patience: 429s never end it; a Cancel during the wait does, at once.
#[tokio::test]
async fn a_sync_waits_out_429s_until_cancelled() {
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let key = StripeSecretKey::parse(tollgate_sandbox::DEFAULT_SECRET_KEY).unwrap();
    let progress = tollgate_core::progress::Progress::new();
    let gw = StripeGateway::new(&sandbox.base_url(), &key)
        .unwrap()
        .with_patience(tollgate_core::stripe::Patience::sync(std::sync::Arc::new(
            progress.clone(),
        )));
    // More than the interactive three: a sync keeps going.
    queue_faults(&sandbox.base_url(), "429", "4").await;
    assert_eq!(gw.account().await.unwrap().name, "Tollgate Sandbox");
    // Twenty 429s: the backoff grows past a second, the progress says why, Cancel ends it.
    queue_faults(&sandbox.base_url(), "429", "20").await;
    let watcher = progress.clone();
    let cancel = tokio::spawn(async move {
        loop {
            if let Some(note) = watcher.view().note {
                assert!(note.contains("Stripe's rate limit"), "{note}");
                watcher.cancel();
                return note;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    let t = std::time::Instant::now();
    let err = gw.account().await.unwrap_err();
    assert!(
        matches!(err, tollgate_core::stripe::GatewayError::Cancelled),
        "{err:?}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    let note = cancel.await.unwrap();
    assert!(note.contains("429"), "{note}");
}

#[tokio::test]
async fn idempotent_writes_retry_with_the_same_key() {
    use tollgate_core::stripe::IdempotencyIntent;
    let sandbox = tollgate_sandbox::start(Default::default()).await.unwrap();
    let key = StripeSecretKey::parse(tollgate_sandbox::DEFAULT_SECRET_KEY).unwrap();
    let gw = StripeGateway::new(&sandbox.base_url(), &key).unwrap();
    queue_faults(&sandbox.base_url(), "409", "1").await;
    let intent = IdempotencyIntent::new("product.create").with("retry-test");
    let a = gw
        .post_idempotent(
            stripe_product::product::CreateProduct::new("Retried"),
            &intent,
        )
        .await
        .unwrap();
    queue_faults(&sandbox.base_url(), "500", "1").await;
    let b = gw
        .post_idempotent(
            stripe_product::product::CreateProduct::new("Retried"),
            &intent,
        )
        .await
        .unwrap();
    assert_eq!(a.id, b.id, "one product however many attempts");
}
