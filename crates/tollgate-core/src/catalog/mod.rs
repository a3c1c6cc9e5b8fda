//! The catalog: plans (Stripe prices and what the platform reads off them), lookup keys, the
//! price resolver, entitlement features, and the admin writes that change them.

pub mod create;
pub mod features;
pub mod lookup_key;
pub mod migration;
pub mod mirror;
pub mod pricing;
pub mod resolver;
pub mod verify;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use lookup_key::{LookupKey, PlanInterval};

use crate::domain::{BasisPoints, Currency};
use crate::store::{CatalogView, PriceRow, ProductRow};

/// A feature as a plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FeatureRef {
    pub id: String,
    pub lookup_key: String,
    pub name: String,
}

/// One row of the Plans screen and of `tollgate plans list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Plan {
    pub price_id: String,
    pub product_id: String,
    pub product_name: String,
    pub lookup_key: Option<String>,
    /// Why the lookup key breaks the convention, if it does.
    pub key_problem: Option<String>,
    pub nickname: Option<String>,
    /// From price metadata `tier`, else from the lookup key.
    pub tier: Option<String>,
    /// From price metadata `audience`, else from the lookup key.
    pub audience: Option<String>,
    /// month, year or once; absent for other cadences (every 3 months, weekly …).
    pub interval: Option<PlanInterval>,
    /// How often it bills, in words: "month", "3 months", "one-time".
    pub cadence: String,
    /// How the amount is computed, in words: "EUR 49.00 / month", tiers, per seat, metered.
    pub pricing: String,
    /// flat, per_seat, per_unit, tiered, metered or custom.
    pub model: String,
    /// The per-unit amount in minor units, when the price has one (sorting and filters).
    #[ts(type = "number | null")]
    pub unit_amount: Option<i64>,
    pub currency: Currency,
    /// Price metadata `commissionRate`, basis points.
    pub commission_bps: Option<BasisPoints>,
    pub active: bool,
    pub features: Vec<FeatureRef>,
    #[ts(type = "number")]
    pub active_subscribers: i64,
    #[ts(type = "number")]
    pub created: i64,
    pub livemode: bool,
}

/// The Plans screen's data: every plan, every feature, and how fresh the mirror is.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct Catalog {
    pub plans: Vec<Plan>,
    pub features: Vec<FeatureRef>,
    pub products: Vec<ProductSummary>,
    /// When the catalog was last read whole from Stripe (UTC seconds).
    #[ts(type = "number | null")]
    pub refreshed_at: Option<i64>,
    /// Set when this is the store's copy because Stripe could not be reached.
    pub stale_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ProductSummary {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub features: Vec<FeatureRef>,
}

fn metadata_map(json: &str) -> HashMap<String, String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Plan {
    pub fn from_rows(
        price: &PriceRow,
        product: Option<&ProductRow>,
        features: Vec<FeatureRef>,
    ) -> Plan {
        let key = price
            .lookup_key
            .as_deref()
            .map(|k| (k, LookupKey::parse("lookup_key", k)));
        let parsed = key.as_ref().and_then(|(_, r)| r.as_ref().ok());
        let key_problem = key
            .as_ref()
            .and_then(|(_, r)| r.as_ref().err().map(|e| e.rule.clone()));
        let tier = price
            .tier
            .clone()
            .or_else(|| parsed.map(|k| k.tier().to_owned()));
        let audience = price
            .audience
            .clone()
            .or_else(|| parsed.map(|k| k.audience().to_owned()));
        let interval = pricing::plan_interval(price).or_else(|| {
            if price.billing_interval.is_none() {
                parsed.map(LookupKey::interval)
            } else {
                None
            }
        });
        let metadata = metadata_map(&price.metadata);
        let described = pricing::describe(price, &metadata);
        Plan {
            price_id: price.stripe_id.clone(),
            product_id: price.product_id.clone(),
            product_name: product
                .map(|p| p.name.clone())
                .unwrap_or_else(|| price.product_id.clone()),
            lookup_key: price.lookup_key.clone(),
            key_problem,
            nickname: price.nickname.clone(),
            tier,
            audience,
            interval,
            cadence: pricing::cadence(price),
            pricing: described.text,
            model: described.model.to_owned(),
            unit_amount: price.unit_amount,
            currency: Currency::from_stripe(&price.currency),
            commission_bps: price
                .commission_rate_bps
                .and_then(|b| BasisPoints::parse("commissionRate", b).ok()),
            active: price.active,
            features,
            active_subscribers: price.active_subscribers,
            created: price.created,
            livemode: price.livemode,
        }
    }
}

impl Catalog {
    pub fn from_view(view: CatalogView, stale_reason: Option<String>) -> Catalog {
        let feature_by_id: HashMap<&str, FeatureRef> = view
            .features
            .iter()
            .map(|f| {
                (
                    f.stripe_id.as_str(),
                    FeatureRef {
                        id: f.stripe_id.clone(),
                        lookup_key: f.lookup_key.clone(),
                        name: f.name.clone(),
                    },
                )
            })
            .collect();
        let mut by_product: HashMap<&str, Vec<FeatureRef>> = HashMap::new();
        for pf in &view.product_features {
            if let Some(f) = feature_by_id.get(pf.feature_id.as_str()) {
                by_product
                    .entry(pf.product_id.as_str())
                    .or_default()
                    .push(f.clone());
            }
        }
        for fs in by_product.values_mut() {
            fs.sort_by(|a, b| a.lookup_key.cmp(&b.lookup_key));
        }
        let plans = view
            .prices
            .iter()
            .map(|p| {
                Plan::from_rows(
                    p,
                    view.products.get(&p.product_id),
                    by_product
                        .get(p.product_id.as_str())
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect();
        let mut products: Vec<ProductSummary> = view
            .products
            .values()
            .map(|p| ProductSummary {
                id: p.stripe_id.clone(),
                name: p.name.clone(),
                active: p.active,
                features: by_product
                    .get(p.stripe_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        products.sort_by(|a, b| (!a.active, &a.name).cmp(&(!b.active, &b.name)));
        let mut features: Vec<FeatureRef> = feature_by_id.into_values().collect();
        features.sort_by(|a, b| a.lookup_key.cmp(&b.lookup_key));
        Catalog {
            plans,
            features,
            products,
            refreshed_at: view.refreshed_at,
            stale_reason,
        }
    }
}
