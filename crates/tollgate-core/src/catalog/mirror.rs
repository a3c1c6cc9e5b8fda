//! Reads the catalog from Stripe into the store: products, prices (with tiers), entitlement
//! features, product features, and subscriber counts per price. Stripe objects become store
//! rows here and nowhere else; admin writes mirror what Stripe answered through the same
//! conversions.

use std::collections::HashMap;

use stripe_billing::subscription::ListSubscription;
use stripe_misc::entitlements_feature::ListEntitlementsFeature;
use stripe_product::price::ListPrice;
use stripe_product::product::ListProduct;
use stripe_product::product_feature::ListProductProductFeature;

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

/// Reads the whole catalog from Stripe (no store writes).
/// With `counts`, subscriptions are listed too, for the subscriber count of each price.
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
    progress.phase("products", 0);
    let products = gw
        .list_all(ListProduct::new().limit(100).paginate())
        .await?;
    if progress.is_cancelled() {
        return Err(cancelled());
    }
    progress.phase("prices", 0);
    let prices = list_prices(gw).await?;
    progress.phase("features", 0);
    let features = gw
        .list_all(ListEntitlementsFeature::new().limit(100).paginate())
        .await?;
    progress.phase("product features", products.len() as u64);
    let mut product_features = Vec::new();
    for p in &products {
        if progress.is_cancelled() {
            return Err(cancelled());
        }
        let pfs = gw
            .list_all(
                ListProductProductFeature::new(p.id.clone())
                    .limit(100)
                    .paginate(),
            )
            .await?;
        product_features.extend(pfs.into_iter().map(|pf| ProductFeatureRow {
            stripe_id: pf.id.to_string(),
            product_id: p.id.to_string(),
            feature_id: pf.entitlement_feature.id.to_string(),
        }));
        progress.step();
    }
    let subscriber_counts = if counts {
        progress.phase("subscriber counts", 0);
        let subs = gw
            .list_all(ListSubscription::new().limit(100).paginate())
            .await?;
        let mut by_price: HashMap<String, i64> = HashMap::new();
        for s in &subs {
            use stripe_shared::SubscriptionStatus as S;
            if matches!(s.status, S::Active | S::Trialing | S::PastDue) {
                for item in &s.items.data {
                    *by_price.entry(item.price.id.to_string()).or_default() += 1;
                }
            }
        }
        Some(by_price)
    } else {
        None
    };
    Ok(CatalogSnapshot {
        products: products.iter().map(product_row).collect(),
        prices: prices.iter().map(price_row).collect(),
        features: features.iter().map(feature_row).collect(),
        product_features,
        subscriber_counts,
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
