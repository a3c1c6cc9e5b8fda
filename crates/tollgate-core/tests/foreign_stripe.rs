//! Real accounts are messy: a Stripe that is not Tollgate's own (the sandbox's `foreign`
//! dialect: products without fields newer API versions carry, fields no version has, a
//! subscription status no client knows), subscriptions of more than ten items, and answers
//! that are not Stripe's at all (HTML, plain text, an empty or cut-off body).

use axum::http::StatusCode;
use serde_json::{json, Value};
use tollgate_core::store::sync_views::SyncIssue;
use tollgate_core::testing::SandboxFixture;
use tollgate_core::Console;

async fn call(
    f: &SandboxFixture,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> Value {
    let res = reqwest::Client::new()
        .request(method, format!("{}{path}", f.sandbox.base_url()))
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

async fn post(f: &SandboxFixture, path: &str, form: &[(&str, &str)]) -> Value {
    call(f, reqwest::Method::POST, path, form).await
}

async fn issues(c: &Console) -> Vec<SyncIssue> {
    c.sync_state().await.unwrap().issues
}

async fn access_of(c: &Console, org: &str) -> Vec<(String, String)> {
    let d = c.org_detail(org).await.unwrap();
    let mut a: Vec<(String, String)> = d
        .access
        .iter()
        .map(|a| (a.plan_id.clone(), a.status.clone()))
        .collect();
    a.sort();
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_that_is_not_ours_never_stops_a_sync_and_names_each_object_it_skips() {
    let f = SandboxFixture::start(tollgate_sandbox::Seed::Demo).await;
    let c = f.console();

    // An organization whose subscription bills twelve prices: Stripe embeds ten.
    let product = post(&f, "/v1/products", &[("name", "Add-ons")]).await;
    let product = product["id"].as_str().unwrap().to_owned();
    let mut prices = Vec::new();
    for n in 0..12 {
        let amount = (100 + n).to_string();
        let p = post(
            &f,
            "/v1/prices",
            &[
                ("product", &product),
                ("currency", "eur"),
                ("unit_amount", &amount),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
        prices.push(p["id"].as_str().unwrap().to_owned());
    }
    let customer = post(
        &f,
        "/v1/customers",
        &[
            ("name", "Many Items Clinic"),
            ("metadata[organization_id]", "org_many_items"),
        ],
    )
    .await;
    let customer = customer["id"].as_str().unwrap().to_owned();
    let keys: Vec<String> = (0..12).map(|i| format!("items[{i}][price]")).collect();
    let mut form: Vec<(&str, &str)> = vec![("customer", customer.as_str())];
    form.extend(
        keys.iter()
            .map(String::as_str)
            .zip(prices.iter().map(String::as_str)),
    );
    let many = post(&f, "/v1/subscriptions", &form).await;
    let many = many["id"].as_str().unwrap().to_owned();
    let embedded = call(
        &f,
        reqwest::Method::GET,
        &format!("/v1/subscriptions/{many}"),
        &[],
    )
    .await;
    assert_eq!(embedded["items"]["data"].as_array().unwrap().len(), 10);
    assert_eq!(embedded["items"]["has_more"], true);

    // A paying organization whose subscription will come back with a status no client knows.
    let list = call(&f, reqwest::Method::GET, "/v1/subscriptions?limit=100", &[]).await;
    let frozen = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "active" && s["items"]["data"].as_array().unwrap().len() == 1)
        .unwrap()
        .clone();
    let frozen_id = frozen["id"].as_str().unwrap().to_owned();
    post(
        &f,
        &format!("/v1/subscriptions/{frozen_id}"),
        &[("metadata[foreign_status]", "frozen")],
    )
    .await;

    let first = c
        .sync(true, None)
        .await
        .expect("a sync of Stripe's own dialect");
    assert_eq!(first.skipped, 0, "{:?}", issues(&c).await);
    assert_eq!(
        access_of(&c, "org_many_items").await.len(),
        12,
        "every item's price gives its plan, the eleventh and twelfth too"
    );
    let frozen_org = c
        .subscriptions(&tollgate_core::store::sync_views::SubscriptionQuery {
            search: Some(frozen_id.clone()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows[0]
        .org_id
        .clone()
        .unwrap();
    let access_before = access_of(&c, &frozen_org).await;
    assert!(
        access_before.iter().any(|(_, s)| s == "ACTIVE"),
        "{access_before:?}"
    );

    // The same account as a Stripe that is not ours.
    post(&f, "/_sandbox/dialect", &[("mode", "foreign")]).await;
    let r = c
        .sync(true, None)
        .await
        .expect("the sync goes on past what it cannot read");
    let found = issues(&c).await;
    let product_issue = found
        .iter()
        .find(|i| i.object_id.starts_with("prod_"))
        .unwrap_or_else(|| panic!("a product is reported: {found:?}"));
    assert_eq!(product_issue.kind, "unreadable");
    assert!(
        product_issue
            .detail
            .starts_with("products page 1 (GET /v1/products), prod_")
            && product_issue.detail.contains(": missing field `"),
        "names the list, page, object and field: {}",
        product_issue.detail
    );
    let price_issue = found
        .iter()
        .find(|i| i.object_id.starts_with("price_"))
        .unwrap_or_else(|| panic!("a price of a skipped product is reported: {found:?}"));
    assert!(
        price_issue.detail.contains("could not be read"),
        "{}",
        price_issue.detail
    );
    let status_issue = found
        .iter()
        .find(|i| i.object_id == frozen_id)
        .unwrap_or_else(|| panic!("the unknown status is reported: {found:?}"));
    assert_eq!(
        status_issue.kind, "unknown_value",
        "{}",
        status_issue.detail
    );
    assert!(
        status_issue.detail.contains("\"frozen\""),
        "{}",
        status_issue.detail
    );
    assert_eq!(
        r.skipped as usize,
        found
            .iter()
            .filter(|i| i.kind == "unreadable" || i.kind == "unknown_value")
            .count()
    );
    // Kept as it came, shown as such; its access left as it was.
    let row = c
        .subscriptions(&tollgate_core::store::sync_views::SubscriptionQuery {
            search: Some(frozen_id.clone()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .rows
        .remove(0);
    assert_eq!(row.status, "frozen");
    assert_eq!(access_of(&c, &frozen_org).await, access_before);
    // What was read before is still there: the catalog kept its rows, fields Stripe added
    // were ignored, the many-item subscription kept its twelve plans.
    assert!(!c.catalog(false, None).await.unwrap().plans.is_empty());
    assert_eq!(access_of(&c, "org_many_items").await.len(), 12);

    // Fixed: the next sync reads everything, and every issue clears itself.
    post(&f, "/_sandbox/dialect", &[("mode", "stripe")]).await;
    let again = c.sync(true, None).await.unwrap();
    assert_eq!(again.skipped, 0, "{:?}", issues(&c).await);
    assert!(
        issues(&c)
            .await
            .iter()
            .all(|i| i.kind != "unreadable" && i.kind != "unknown_value"),
        "{:?}",
        issues(&c).await
    );
}

/// Answers that are not Stripe's: the message says the request, status, content type and
/// first bytes, and nothing is half written.
#[tokio::test]
async fn answers_that_are_not_stripes_say_what_came() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/v1/account",
            get(|| async { (StatusCode::NOT_FOUND, "Not Found") }),
        )
        .route(
            "/v1/events",
            get(|| async {
                (
                    [("content-type", "text/html; charset=utf-8")],
                    "<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>",
                )
            }),
        )
        .route(
            "/v1/customers",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"object":"list","data":[{"id":"cus_1","#,
                )
            }),
        )
        .route(
            "/v1/products",
            get(|| async { ([("content-type", "application/json")], "") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let key =
        tollgate_core::domain::StripeSecretKey::parse("sk_test_4eC39HqLyjWDarjtT1zdp7dc").unwrap();
    let gw = tollgate_core::stripe::StripeGateway::new(&base, &key).unwrap();

    let e = gw.account().await.unwrap_err().to_string();
    assert!(
        e.contains("answered GET /v1/account with 404 (text/plain") && e.contains("\"Not Found\""),
        "{e}"
    );
    let e = gw
        .get_json("/events", &json!({"limit": 1}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("200 (text/html; charset=utf-8), not JSON")
            && e.contains("<!DOCTYPE html> <html><body><h1>Welcome to nginx!"),
        "{e}"
    );
    let e = gw
        .get_json("/customers", &json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("truncated JSON") && e.contains("{\\\"object\\\":\\\"list\\\""),
        "{e}"
    );
    let e = gw
        .get_json("/products", &json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("an empty body"), "{e}");

    // A sync against it stops at its first read, having written no object.
    let f = SandboxFixture::start(tollgate_sandbox::Seed::Empty).await;
    let c = f.console_with("sk_test_4eC39HqLyjWDarjtT1zdp7dc", &base, None);
    let e = c.sync(true, None).await.unwrap_err();
    assert!(e.message.contains("text/html"), "{}", e.message);
    let state = c.sync_state().await.unwrap();
    assert_eq!(
        (state.organizations, state.subscriptions, state.events),
        (0, 0, 0)
    );
}
