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
    // Two failures, then success: the third attempt answers.
    queue_faults(&sandbox.base_url(), "429", "2").await;
    let t = std::time::Instant::now();
    assert_eq!(gw.account().await.unwrap().name, "Tollgate Sandbox");
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(2900),
        "backed off 1 s then 2 s"
    );
    // Three in a row exhaust the attempts: the caller sees Stripe's 429.
    queue_faults(&sandbox.base_url(), "429", "3").await;
    let err = gw.account().await.unwrap_err();
    assert_eq!(ErrorBody::from(err).code, ErrorCode::StripeRateLimited);
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
