//! `make bench` rows for Plans and lookup keys (release build). Prints figures and ratios to
//! target; asserts nothing.
//!   - a cached resolve (median over batches), target under 1 µs;
//!   - a cold resolve of 50 keys against the sandbox over HTTP: API calls (target at most 5);
//!   - applying a 500-row lookup-key map against the sandbox, with progress, target 10 s;
//!   - with `--plans-db PATH`: writes a store with 2,000 prices for the Plans-screen probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_core::catalog::resolver::{PriceResolver, StripeSource, DEFAULT_TTL};
use tollgate_core::console::{Overrides, SecretSource};
use tollgate_core::domain::{Environment, StripeSecretKey};
use tollgate_core::store::{
    CatalogSnapshot, FeatureRow, PriceRow, ProductFeatureRow, ProductRow, Store, StoreTarget,
};
use tollgate_core::stripe::StripeGateway;
use tollgate_core::Console;
use tollgate_sandbox::{start, SandboxConfig, Seed, DEFAULT_SECRET_KEY};

fn row(name: &str, measured: String, target: String, ratio: f64) {
    println!("{name:<44} {measured:>12} {target:>12} {ratio:>8.2}");
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    form: &[(String, String)],
) -> serde_json::Value {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(DEFAULT_SECRET_KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(status.is_success(), "{path}: {v}");
    v
}

/// `n` monthly EUR prices on one product; with `keyed`, each gets `bench{i}-expert-monthly`.
async fn make_prices(base: &str, n: usize, keyed: bool) -> Vec<String> {
    let http = reqwest::Client::new();
    let product = post(
        &http,
        base,
        "/v1/products",
        &[("name".into(), "Bench product".into())],
    )
    .await;
    let product = product["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut form = vec![
            ("product".to_owned(), product.clone()),
            ("currency".to_owned(), "eur".to_owned()),
            ("unit_amount".to_owned(), (1000 + i).to_string()),
            ("recurring[interval]".to_owned(), "month".to_owned()),
        ];
        if keyed {
            form.push(("lookup_key".to_owned(), format!("bench{i}-expert-monthly")));
        }
        ids.push(
            post(&http, base, "/v1/prices", &form).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids
}

fn synthetic_catalog(n: usize) -> CatalogSnapshot {
    let tiers = ["community", "top", "partner", "lecturer"];
    let audiences = ["expert", "clinic", "partner", "module"];
    let currencies = ["eur", "usd", "gbp", "chf", "jpy"];
    let products: Vec<ProductRow> = (0..40)
        .map(|p| ProductRow {
            stripe_id: format!("prod_bench{p:03}"),
            name: format!("{} {} plan {p}", tiers[p % 4], audiences[(p / 4) % 4]),
            description: None,
            active: true,
            metadata: "{}".into(),
            livemode: false,
            created: 1_700_000_000,
        })
        .collect();
    let features: Vec<FeatureRow> = [
        "appointments_manage",
        "events_create",
        "analytics_access",
        "custom_branding",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| FeatureRow {
        stripe_id: format!("feat_bench{i}"),
        lookup_key: (*k).into(),
        name: k.replace('_', " "),
        active: true,
        metadata: "{}".into(),
        livemode: false,
    })
    .collect();
    let product_features = products
        .iter()
        .enumerate()
        .flat_map(|(p, prod)| {
            (0..(p % 4 + 1)).map(move |f| ProductFeatureRow {
                stripe_id: format!("prodft_bench{p}_{f}"),
                product_id: prod.stripe_id.clone(),
                feature_id: format!("feat_bench{f}"),
            })
        })
        .collect();
    let prices = (0..n)
        .map(|i| {
            let (tier, audience) = (tiers[i % 4], audiences[(i / 4) % 4]);
            let interval = if i % 3 == 0 { "year" } else { "month" };
            let currency = currencies[i % 5];
            let key = (i % 7 != 0).then(|| {
                format!(
                    "{tier}-{audience}-{}-{currency}-v{}",
                    if interval == "year" {
                        "annual"
                    } else {
                        "monthly"
                    },
                    i + 1
                )
            });
            PriceRow {
                stripe_id: format!("price_bench{i:05}"),
                product_id: format!("prod_bench{:03}", i % 40),
                lookup_key: key,
                nickname: Some(format!("{tier} {audience} #{i}")),
                tier: Some(tier.into()),
                audience: Some(audience.into()),
                price_type: "recurring".into(),
                billing_interval: Some(interval.into()),
                interval_count: Some(1),
                billing_scheme: "per_unit".into(),
                unit_amount: Some(500 + (i as i64 * 37) % 90_000),
                currency: currency.into(),
                commission_rate_bps: Some((i as i64 * 50) % 2000),
                active: i % 11 != 0,
                metadata: "{}".into(),
                created: 1_700_000_000 + i as i64,
                ..Default::default()
            }
        })
        .collect();
    CatalogSnapshot {
        products,
        prices,
        features,
        product_features,
        subscriber_counts: Default::default(),
        skipped: Vec::new(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--plans-db") {
        let path = std::path::PathBuf::from(&args[i + 1]);
        let store = Store::open(&StoreTarget::SqliteFile(path.clone()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
            .replace_catalog(&synthetic_catalog(2000))
            .await
            .unwrap();
        eprintln!("wrote 2,000 prices to {}", path.display());
        return;
    }

    let sb = start(SandboxConfig {
        seed: Seed::Empty,
        ..Default::default()
    })
    .await
    .unwrap();
    let base = sb.base_url();
    let key = StripeSecretKey::parse(DEFAULT_SECRET_KEY).unwrap();

    // ---- cold: 50 keys, batched by ten ----
    make_prices(&base, 50, true).await;
    let keys: Vec<String> = (0..50)
        .map(|i| format!("bench{i}-expert-monthly"))
        .collect();
    let resolver = PriceResolver::new(
        Arc::new(StripeSource(StripeGateway::new(&base, &key).unwrap())),
        None,
        DEFAULT_TTL,
    );
    let t = Instant::now();
    let out = resolver.resolve_many(&keys).await.unwrap();
    let cold = t.elapsed();
    assert!(out.iter().all(|r| r.price.is_some()));
    let calls = resolver.stats().api_calls;
    row(
        "cold resolve of 50 keys: API calls",
        calls.to_string(),
        "5".into(),
        calls as f64 / 5.0,
    );
    row(
        "cold resolve of 50 keys (ms)",
        format!("{:.1}", cold.as_secs_f64() * 1e3),
        "-".into(),
        0.0,
    );

    // ---- cached: median ns per lookup over 101 batches of 10,000 ----
    let mut per_call = Vec::new();
    for b in 0..101 {
        let t = Instant::now();
        for i in 0..10_000 {
            std::hint::black_box(resolver.cached(&keys[(i + b) % 50]));
        }
        per_call.push(t.elapsed().as_nanos() as f64 / 10_000.0);
    }
    per_call.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = per_call[50];
    row(
        "cached resolve, median (ns)",
        format!("{median:.0}"),
        "1000".into(),
        median / 1000.0,
    );
    // The same through the async API the app calls (cache hit: no await point is taken).
    let mut per_call = Vec::new();
    for b in 0..101 {
        let t = Instant::now();
        for i in 0..2_000 {
            std::hint::black_box(resolver.resolve(&keys[(i + b) % 50]).await.unwrap());
        }
        per_call.push(t.elapsed().as_nanos() as f64 / 2_000.0);
    }
    per_call.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = per_call[50];
    row(
        "cached resolve via resolve().await (ns)",
        format!("{median:.0}"),
        "1000".into(),
        median / 1000.0,
    );

    // ---- a 500-row map applied against the sandbox, with progress ----
    let ids = make_prices(&base, 500, false).await;
    let map: serde_json::Map<String, serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                id.clone(),
                serde_json::Value::String(format!("map{i}-partner-monthly")),
            )
        })
        .collect();
    let map = serde_json::Value::Object(map).to_string();
    let dir = tempfile::tempdir().unwrap();
    let console = Arc::new(Console::new(
        Environment::Test,
        "cli",
        "dev.tollgate.bench",
        Overrides {
            stripe_secret_key: Some(DEFAULT_SECRET_KEY.into()),
            webhook_secrets: None,
            database_url: Some((
                format!("sqlite://{}", dir.path().join("b.db").display()),
                SecretSource::Flag,
            )),
            stripe_api_base: Some(base.clone()),
        },
    ));
    console.db_migrate().await.unwrap();
    let watcher = {
        let console = console.clone();
        tokio::spawn(async move {
            let mut updates = 0;
            let mut last = None;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(v) = console.op_progress("bench-apply") {
                    if last.as_ref() != Some(&(v.phase.clone(), v.done)) {
                        updates += 1;
                        last = Some((v.phase.clone(), v.done));
                    }
                    if v.finished {
                        return updates;
                    }
                }
            }
        })
    };
    let t = Instant::now();
    let report = console
        .lookup_keys_apply(&map, Some("bench-apply"), None)
        .await
        .unwrap();
    let took = t.elapsed();
    let updates = watcher.await.unwrap();
    assert_eq!(report.applied, 500);
    row(
        "apply a 500-row lookup-key map (ms)",
        format!("{:.0}", took.as_secs_f64() * 1e3),
        "10000".into(),
        took.as_secs_f64() / 10.0,
    );
    row(
        "  progress updates seen while applying",
        updates.to_string(),
        "-".into(),
        0.0,
    );
    let t = Instant::now();
    let again = console.lookup_keys_apply(&map, None, None).await.unwrap();
    row(
        "  the same map again: rows written",
        again.applied.to_string(),
        "0".into(),
        0.0,
    );
    row(
        "  the same map again (ms)",
        format!("{:.0}", t.elapsed().as_secs_f64() * 1e3),
        "-".into(),
        0.0,
    );
    sb.stop().await;
}
