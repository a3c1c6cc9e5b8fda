//! What an event is about: one organization with its customer, subscription, price and the
//! latest invoice and commission the store knows of; or, with an empty store, a realistic
//! generated one (fresh random ids, a Community monthly price in EUR).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::random_id;

/// A price as events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PriceFacts {
    pub id: String,
    pub product_id: String,
    pub product_name: String,
    pub lookup_key: Option<String>,
    pub nickname: Option<String>,
    #[ts(type = "number")]
    pub unit_amount: i64,
    pub currency: String,
    /// `month`, `year`, …; `None` for a one-time price.
    pub interval: Option<String>,
    #[ts(type = "number")]
    pub interval_count: i64,
    pub tier: Option<String>,
    /// JSON object.
    pub metadata: String,
    #[ts(type = "number")]
    pub created: i64,
}

/// The organization a test-fired event is filled from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Subject {
    /// True when nothing came from the store: every id is generated.
    pub generated: bool,
    pub org_id: String,
    pub org_name: String,
    /// The customer metadata key that names the organization.
    pub org_key: String,
    pub customer_id: String,
    pub email: Option<String>,
    pub customer_name: Option<String>,
    #[ts(type = "number")]
    pub customer_created: i64,
    /// The organization's subscription (its best one: active first), or a generated id.
    pub subscription_id: String,
    /// False when the organization has no subscription in the store.
    pub subscription_known: bool,
    pub status: String,
    #[ts(type = "number")]
    pub subscription_created: i64,
    #[ts(type = "number")]
    pub period_start: i64,
    #[ts(type = "number")]
    pub period_end: i64,
    #[ts(type = "number | null")]
    pub trial_end: Option<i64>,
    pub cancel_at_period_end: bool,
    #[ts(type = "number")]
    pub quantity: i64,
    pub price: PriceFacts,
    /// The Top price of the same interval and currency (the upgrade story's target).
    pub upgrade: Option<PriceFacts>,
    /// The latest invoice the store saw in an event for this subscription.
    pub invoice_id: Option<String>,
    /// The expert (connected account) the organization last paid, with that charge.
    pub expert_account: Option<String>,
    pub last_charge: Option<String>,
    /// Entitlement features (id, lookup key) the customer holds.
    pub features: Vec<(String, String)>,
}

impl Subject {
    /// A realistic organization with fresh ids, for an empty store.
    pub fn generated(now: i64) -> Subject {
        let product = random_id("prod");
        let customer = random_id("cus");
        let month = 30 * 86400;
        Subject {
            generated: true,
            org_id: format!("org_{}", &random_id("x")[2..14]),
            org_name: "Praxis Beispiel GmbH".into(),
            org_key: "organization_id".into(),
            email: Some("billing@praxis-beispiel.example".into()),
            customer_name: Some("Praxis Beispiel GmbH".into()),
            customer_id: customer,
            customer_created: now - 200 * 86400,
            subscription_id: random_id("sub"),
            subscription_known: false,
            status: "active".into(),
            subscription_created: now - 200 * 86400,
            period_start: now - 10 * 86400,
            period_end: now - 10 * 86400 + month,
            trial_end: None,
            cancel_at_period_end: false,
            quantity: 1,
            price: PriceFacts {
                id: random_id("price"),
                product_id: product.clone(),
                product_name: "Expert Community".into(),
                lookup_key: Some("community-expert-monthly".into()),
                nickname: Some("Community monthly".into()),
                unit_amount: 2500,
                currency: "eur".into(),
                interval: Some("month".into()),
                interval_count: 1,
                tier: Some("community".into()),
                metadata: r#"{"tier":"community","audience":"expert","planType":"monthly","commissionRate":"1200"}"#.into(),
                created: now - 400 * 86400,
            },
            upgrade: Some(PriceFacts {
                id: random_id("price"),
                product_id: random_id("prod"),
                product_name: "Expert Top".into(),
                lookup_key: Some("top-expert-monthly".into()),
                nickname: Some("Top monthly".into()),
                unit_amount: 4900,
                currency: "eur".into(),
                interval: Some("month".into()),
                interval_count: 1,
                tier: Some("top".into()),
                metadata: r#"{"tier":"top","audience":"expert","planType":"monthly","commissionRate":"800"}"#.into(),
                created: now - 400 * 86400,
            }),
            invoice_id: None,
            expert_account: None,
            last_charge: None,
            features: vec![(random_id("feat"), "community-listing".into())],
        }
    }

    /// The price the upgrade story moves to: the store's Top price, or one made up beside the
    /// current price.
    pub fn upgrade_target(&self) -> PriceFacts {
        self.upgrade.clone().unwrap_or_else(|| PriceFacts {
            id: random_id("price"),
            product_id: random_id("prod"),
            product_name: "Expert Top".into(),
            lookup_key: None,
            nickname: Some("Top".into()),
            unit_amount: self.price.unit_amount.saturating_mul(2),
            tier: Some("top".into()),
            metadata: r#"{"tier":"top"}"#.into(),
            ..self.price.clone()
        })
    }
}
