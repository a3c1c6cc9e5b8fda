//! Reads the catalog from Stripe into the store: products, prices (with tiers), entitlement
//! features, product features, and subscriber counts per price. Stripe objects become store
//! rows here and nowhere else; admin writes mirror what Stripe answered through the same
//! conversions.

use std::collections::HashMap;

use stripe_product::price::ListPrice;

use crate::error::ErrorBody;
use crate::progress::Progress;
use crate::store::{CatalogSnapshot, FeatureRow, PriceRow, ProductFeatureRow, ProductRow, Store};
use crate::stripe::{GatewayError, StripeGateway};

fn metadata_json(m: &HashMap<String, String>) -> String {
    let sorted: std::collections::BTreeMap<_, _> = m.iter().collect();
    serde_json::to_string(&sorted).unwrap_or_else(|_| "{}".to_owned())
}

pub fn product_row(p: &stripe_shared::Product) -> ProductRow {
    ProductRow {
        stripe_id: p.id.to_string(),
        name: p.name.clone(),
        description: p.description.clone(),
        active: p.active,
        metadata: metadata_json(&p.metadata),
        livemode: p.livemode,
        created: p.created,
    }
}

pub fn price_row(p: &stripe_shared::Price) -> PriceRow {
    let meta = |k: &str| {
        p.metadata
            .get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let tiers = p.tiers.as_ref().map(|ts| {
        serde_json::Value::Array(
            ts.iter()
                .map(|t| {
                    serde_json::json!({
                        "up_to": t.up_to, "unit_amount": t.unit_amount, "unit_amount_decimal": t.unit_amount_decimal,
                        "flat_amount": t.flat_amount, "flat_amount_decimal": t.flat_amount_decimal,
                    })
                })
                .collect(),
        )
        .to_string()
    });
    PriceRow {
        stripe_id: p.id.to_string(),
        product_id: p.product.id().to_string(),
        lookup_key: p.lookup_key.clone().filter(|k| !k.is_empty()),
        nickname: p.nickname.clone(),
        tier: meta("tier"),
        audience: meta("audience"),
        plan_type: meta("planType"),
        price_type: p.type_.as_str().to_owned(),
        billing_interval: p.recurring.as_ref().map(|r| r.interval.as_str().to_owned()),
        interval_count: p.recurring.as_ref().map(|r| r.interval_count as i64),
        usage_type: p
            .recurring
            .as_ref()
            .map(|r| r.usage_type.as_str().to_owned()),
        billing_scheme: p.billing_scheme.as_str().to_owned(),
        unit_amount: p.unit_amount,
        unit_amount_decimal: p.unit_amount_decimal.clone(),
        tiers_mode: p.tiers_mode.as_ref().map(|m| m.as_str().to_owned()),
        tiers,
        transform_divide_by: p.transform_quantity.as_ref().map(|t| t.divide_by),
        transform_round: p
            .transform_quantity
            .as_ref()
            .map(|t| t.round.as_str().to_owned()),
        custom_unit_amount: p.custom_unit_amount.as_ref().map(|c| {
            serde_json::json!({"minimum": c.minimum, "maximum": c.maximum, "preset": c.preset})
                .to_string()
        }),
        currency: p.currency.to_string(),
        commission_rate_bps: meta("commissionRate")
            .and_then(|v: String| crate::domain::BasisPoints::from_metadata(&v))
            .map(|b| b.0 as i64),
        active: p.active,
        active_subscribers: 0,
        metadata: metadata_json(&p.metadata),
        livemode: p.livemode,
        created: p.created,
    }
}

pub fn feature_row(f: &stripe_shared::EntitlementsFeature) -> FeatureRow {
    FeatureRow {
        stripe_id: f.id.to_string(),
        lookup_key: f.lookup_key.clone(),
        name: f.name.clone(),
        active: f.active,
        metadata: metadata_json(&f.metadata),
        livemode: f.livemode,
    }
}

/// Every price, with tiers (Stripe returns them only when asked).
pub async fn list_prices(gw: &StripeGateway) -> Result<Vec<stripe_shared::Price>, GatewayError> {
    gw.list_all(
        ListPrice::new()
            .limit(100)
            .expand(vec!["data.tiers".to_owned()])
            .paginate(),
    )
    .await
}

/// An object of a list that could not be read as Stripe's type: what, which, where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `product`, `price`, `feature`, `product_feature`.
    pub kind: &'static str,
    pub id: String,
    /// `products page 1 (GET /v1/products), prod_X: missing field `marketing_features``.
    pub detail: String,
}

/// A product feature: all the store keeps of one.
#[derive(serde::Deserialize)]
struct ProductFeatureJson {
    id: String,
    entitlement_feature: IdOnly,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

/// One object of a list page, decoded alone: a field that does not fit names its path.
fn decode<T: serde::de::DeserializeOwned>(item: &serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(item).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    })
}

/// Every object of a Stripe list, read as JSON page by page and decoded one by one: one that
/// does not decode is skipped (said in `skipped`, with the page and the field) and the rest go
/// on. A page that is not a list at all fails the read, saying what came.
async fn read_list<T: serde::de::DeserializeOwned>(
    gw: &StripeGateway,
    kind: &'static str,
    plural: &str,
    path: &str,
    query: serde_json::Value,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<T>, ErrorBody> {
    let mut out = Vec::new();
    let mut pages = gw.pages(path, query, None);
    let mut page = 0;
    while let Some(items) = pages.next().await? {
        page += 1;
        for item in &items {
            match decode::<T>(item) {
                Ok(t) => out.push(t),
                Err(why) => {
                    let id = item["id"].as_str().unwrap_or("(no id)").to_owned();
                    skipped.push(Skipped {
                        kind,
                        detail: format!("{plural} page {page} (GET /v1{path}), {id}: {why}"),
                        id,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Reads the whole catalog from Stripe (no store writes). Objects that cannot be read are
/// left out and listed in the snapshot's `skipped`; a price whose product was skipped is
/// skipped with it. With `counts`, subscriptions are listed too, for the subscriber count of
/// each price.
pub async fn fetch(
    gw: &StripeGateway,
    progress: &Progress,
    counts: bool,
) -> Result<CatalogSnapshot, ErrorBody> {
    let cancelled = || {
        ErrorBody::new(
            crate::ErrorCode::Internal,
            "cancelled: the catalog was not refreshed",
        )
    };
    let mut skipped = Vec::new();
    progress.phase("products", 0);
    let products: Vec<stripe_shared::Product> = read_list(
        gw,
        "product",
        "products",
        "/products",
        serde_json::json!({}),
        &mut skipped,
    )
    .await?;
    if progress.is_cancelled() {
        return Err(cancelled());
    }
    progress.phase("prices", 0);
    let prices: Vec<stripe_shared::Price> = read_list(
        gw,
        "price",
        "prices",
        "/prices",
        serde_json::json!({"expand": ["data.tiers"]}),
        &mut skipped,
    )
    .await?;
    let known: std::collections::HashSet<String> =
        products.iter().map(|p| p.id.to_string()).collect();
    let (prices, orphans): (Vec<_>, Vec<_>) = prices
        .into_iter()
        .partition(|p| known.contains(p.product.id().as_str()));
    for p in orphans {
        let product = p.product.id().to_string();
        let reason = skipped
            .iter()
            .any(|s| s.id == product)
            .then_some("could not be read")
            .unwrap_or("is not in the product list");
        skipped.push(Skipped {
            kind: "price",
            id: p.id.to_string(),
            detail: format!("price {}: its product {product} {reason}", p.id),
        });
    }
    progress.phase("features", 0);
    let features: Vec<stripe_shared::EntitlementsFeature> = read_list(
        gw,
        "feature",
        "features",
        "/entitlements/features",
        serde_json::json!({}),
        &mut skipped,
    )
    .await?;
    progress.phase("product features", products.len() as u64);
    let mut product_features = Vec::new();
    for p in &products {
        if progress.is_cancelled() {
            return Err(cancelled());
        }
        let pfs: Vec<ProductFeatureJson> = read_list(
            gw,
            "product_feature",
            "product features",
            &format!("/products/{}/features", p.id),
            serde_json::json!({}),
            &mut skipped,
        )
        .await?;
        product_features.extend(pfs.into_iter().map(|pf| ProductFeatureRow {
            stripe_id: pf.id,
            product_id: p.id.to_string(),
            feature_id: pf.entitlement_feature.id,
        }));
        progress.step();
    }
    let subscriber_counts = if counts {
        progress.phase("subscriber counts", 0);
        // Read as the sync engine reads subscriptions: one that does not parse is the
        // backfill's to report, and counts for nothing here.
        let mut by_price: HashMap<String, i64> = HashMap::new();
        let mut pages = gw.pages("/subscriptions", serde_json::json!({}), None);
        while let Some(items) = pages.next().await? {
            for s in items
                .iter()
                .filter_map(|i| crate::sync::objects::Subscription::parse(i).ok())
            {
                if matches!(s.status.as_str(), "active" | "trialing" | "past_due") {
                    for item in &s.items {
                        *by_price.entry(item.price.clone()).or_default() += 1;
                    }
                }
            }
        }
        Some(by_price)
    } else {
        None
    };
    for s in &skipped {
        tracing::warn!(kind = s.kind, id = %s.id, detail = %s.detail, "catalog: object skipped");
    }
    Ok(CatalogSnapshot {
        products: products.iter().map(product_row).collect(),
        prices: prices.iter().map(price_row).collect(),
        features: features.iter().map(feature_row).collect(),
        product_features,
        subscriber_counts,
        skipped: skipped
            .into_iter()
            .map(|s| (s.id, s.kind.to_owned(), s.detail))
            .collect(),
    })
}

/// Reads the catalog from Stripe and writes it to the store in one transaction.
pub async fn refresh(
    gw: &StripeGateway,
    store: &Store,
    progress: &Progress,
    counts: bool,
) -> Result<(), ErrorBody> {
    let snap = fetch(gw, progress, counts).await?;
    progress.phase("saving", 1);
    store.replace_catalog(&snap).await?;
    progress.step();
    Ok(())
}
