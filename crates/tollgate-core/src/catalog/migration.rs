//! The lookup-key migration (seed 002): a map from price id to lookup key, planned against
//! Stripe as it is now (a dry run lists each row as unchanged, assign, transfer, conflict or
//! invalid) and applied with progress. Applying runs only a plan without conflicts, so a bad
//! map changes nothing; a second run finds every row unchanged and writes nothing.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use stripe_product::price::UpdatePrice;
use ts_rs::TS;

use super::{mirror, LookupKey};
use crate::domain::InputError;
use crate::error::ErrorBody;
use crate::progress::Progress;
use crate::store::PriceRow;
use crate::stripe::{IdempotencyIntent, StripeGateway};

/// Writes at once against Stripe (its test mode allows 25 a second; the sandbox more).
const CONCURRENCY: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum MapAction {
    /// The price already has this key.
    Unchanged,
    /// No price holds the key: it is set on this one.
    Assign,
    /// Another price holds the key: it moves here (`transfer_lookup_key`); the other price
    /// keeps its subscribers.
    Transfer,
    /// Two rows want one key, or the price is archived.
    Conflict,
    /// The key breaks the convention, or the price does not exist.
    Invalid,
}

/// One row of the map as the dry run sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct MapRow {
    pub price_id: String,
    pub lookup_key: String,
    pub action: MapAction,
    /// Why, for conflict and invalid; what else changes, for assign and transfer.
    pub reason: Option<String>,
    /// The key the price holds now.
    pub current_key: Option<String>,
    /// The price that holds the key now, for a transfer.
    pub holder: Option<String>,
    pub product_id: Option<String>,
    pub pricing: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct MapPlan {
    pub rows: Vec<MapRow>,
    pub counts: MapCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MapCounts {
    pub unchanged: u32,
    pub assign: u32,
    pub transfer: u32,
    pub conflict: u32,
    pub invalid: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ApplyReport {
    pub plan: MapPlan,
    /// Rows written to Stripe by this run.
    pub applied: u32,
    /// Rows not written because the run was cancelled.
    pub skipped: u32,
    pub cancelled: bool,
}

/// A map entry as given: price id and the raw key (parsed when planned, so every bad row shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MapEntry {
    pub price_id: String,
    pub lookup_key: String,
}

/// `{"price_1SQbV5...": "community-expert-monthly", ...}` → entries, sorted by price id.
pub fn parse_map(json: &str) -> Result<Vec<MapEntry>, InputError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        InputError::new(
            "map",
            format!("is not JSON: {e}; expected {{\"price_…\": \"tier-audience-interval\", …}}"),
        )
    })?;
    let obj = value.as_object().ok_or_else(|| {
        InputError::new("map", "must be a JSON object from price id to lookup key, e.g. {\"price_1SQbV5…\": \"community-expert-monthly\"}")
    })?;
    if obj.is_empty() {
        return Err(InputError::new("map", "is empty: nothing to apply"));
    }
    obj.iter()
        .map(|(price, key)| {
            let key = key.as_str().ok_or_else(|| {
                InputError::new(format!("map[{price}]"), "must be a string (the lookup key)")
            })?;
            Ok(MapEntry {
                price_id: price.clone(),
                lookup_key: key.to_owned(),
            })
        })
        .collect()
}

/// Classifies each row against the prices Stripe holds now.
pub fn plan(entries: &[MapEntry], prices: &[PriceRow]) -> MapPlan {
    let by_id: HashMap<&str, &PriceRow> =
        prices.iter().map(|p| (p.stripe_id.as_str(), p)).collect();
    let holder_of: HashMap<&str, &PriceRow> = prices
        .iter()
        .filter_map(|p| p.lookup_key.as_deref().map(|k| (k, p)))
        .collect();
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in entries {
        wanted
            .entry(e.lookup_key.as_str())
            .or_default()
            .push(e.price_id.as_str());
    }
    let mut counts = MapCounts::default();
    let rows = entries
        .iter()
        .map(|e| {
            let price = by_id.get(e.price_id.as_str()).copied();
            let current_key = price.and_then(|p| p.lookup_key.clone());
            let holder = holder_of.get(e.lookup_key.as_str()).map(|p| p.stripe_id.clone());
            let (action, reason) = if let Err(err) = LookupKey::parse("lookup_key", &e.lookup_key) {
                (MapAction::Invalid, Some(format!("lookup key {}", err.rule)))
            } else if price.is_none() {
                (MapAction::Invalid, Some(format!("no price {} in this Stripe account", e.price_id)))
            } else if wanted[e.lookup_key.as_str()].len() > 1 {
                let others: Vec<&str> = wanted[e.lookup_key.as_str()].iter().copied().filter(|p| *p != e.price_id).collect();
                (MapAction::Conflict, Some(format!("the map also gives {} to {}", e.lookup_key, others.join(", "))))
            } else if current_key.as_deref() == Some(e.lookup_key.as_str()) {
                (MapAction::Unchanged, None)
            } else if !price.is_some_and(|p| p.active) {
                (MapAction::Conflict, Some("the price is archived: a key on an inactive price resolves to a price nobody can buy".to_owned()))
            } else {
                let replaces = current_key.as_ref().map(|k| format!("; its key {k} is released"));
                match &holder {
                    Some(h) => (
                        MapAction::Transfer,
                        Some(format!("moves from {h} (which keeps its subscribers){}", replaces.unwrap_or_default())),
                    ),
                    None => (MapAction::Assign, replaces.map(|r| r.trim_start_matches("; ").to_owned())),
                }
            };
            match action {
                MapAction::Unchanged => counts.unchanged += 1,
                MapAction::Assign => counts.assign += 1,
                MapAction::Transfer => counts.transfer += 1,
                MapAction::Conflict => counts.conflict += 1,
                MapAction::Invalid => counts.invalid += 1,
            }
            MapRow {
                price_id: e.price_id.clone(),
                lookup_key: e.lookup_key.clone(),
                action,
                reason,
                current_key,
                holder: if action == MapAction::Transfer { holder } else { None },
                product_id: price.map(|p| p.product_id.clone()),
                pricing: price.map(|p| {
                    super::pricing::describe(p, &serde_json::from_str(&p.metadata).unwrap_or_default()).text
                }),
                active: price.map(|p| p.active),
            }
        })
        .collect();
    MapPlan { rows, counts }
}

/// The dry run: the plan against Stripe now.
pub async fn dry_run(
    gw: &StripeGateway,
    entries: &[MapEntry],
    progress: &Progress,
) -> Result<MapPlan, ErrorBody> {
    progress.phase("reading prices", 0);
    let prices = mirror::list_prices(gw).await?;
    let rows: Vec<PriceRow> = prices.iter().map(mirror::price_row).collect();
    Ok(plan(entries, &rows))
}

/// Writes the plan's assign and transfer rows; refuses a plan with conflicts or invalid rows.
/// `on_applied` sees each price Stripe returned (the caller mirrors and audits it).
pub async fn apply<'x, F>(
    gw: &StripeGateway,
    plan: MapPlan,
    progress: &Progress,
    on_applied: F,
) -> Result<ApplyReport, ErrorBody>
where
    F: Fn(&MapRow, PriceRow) -> futures_util::future::BoxFuture<'x, ()> + Sync,
{
    use futures_util::StreamExt;
    if plan.counts.conflict + plan.counts.invalid > 0 {
        let first: Vec<String> = plan
            .rows
            .iter()
            .filter(|r| matches!(r.action, MapAction::Conflict | MapAction::Invalid))
            .take(3)
            .map(|r| {
                format!(
                    "{} → {}: {}",
                    r.price_id,
                    r.lookup_key,
                    r.reason.clone().unwrap_or_default()
                )
            })
            .collect();
        return Err(InputError::new(
            "map",
            format!(
                "{} conflicting and {} invalid rows; nothing was applied. Fix the map first: {}",
                plan.counts.conflict,
                plan.counts.invalid,
                first.join("; ")
            ),
        )
        .into());
    }
    // Owned rows: a stream over borrowed ones trips rustc's higher-ranked Send check once
    // nested in a Tauri command (rust-lang/rust#102211).
    let todo: Vec<MapRow> = plan
        .rows
        .iter()
        .filter(|r| matches!(r.action, MapAction::Assign | MapAction::Transfer))
        .cloned()
        .collect();
    progress.phase("applying", todo.len() as u64);
    let results: Vec<Option<Result<(), ErrorBody>>> = futures_util::stream::iter(todo)
        .map(|row| {
            let on_applied = &on_applied;
            async move {
                if progress.is_cancelled() {
                    return None;
                }
                // The intent includes what the row found, so a re-run after someone else moved
                // the key is a new write, while a retried click is the same one.
                let intent = IdempotencyIntent::new("lookup_key.apply")
                    .with(&row.price_id)
                    .with(&row.lookup_key)
                    .with(row.current_key.as_deref().unwrap_or("-"))
                    .with(row.holder.as_deref().unwrap_or("-"));
                let req = UpdatePrice::new(row.price_id.as_str())
                    .lookup_key(row.lookup_key.as_str())
                    .transfer_lookup_key(true)
                    .expand(vec!["tiers".to_owned()]);
                let out = gw.post_idempotent(req, &intent).await;
                progress.step();
                Some(match out {
                    Ok(price) => {
                        on_applied(&row, mirror::price_row(&price)).await;
                        Ok(())
                    }
                    Err(e) => Err(ErrorBody::from(e)),
                })
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut applied = 0;
    let mut skipped = 0;
    let mut first_error = None;
    for r in results {
        match r {
            Some(Ok(())) => applied += 1,
            Some(Err(e)) => first_error = first_error.or(Some(e)),
            None => skipped += 1,
        }
    }
    if let Some(mut e) = first_error {
        e.message = format!("{} ({applied} rows were applied before this; run again to finish: applied rows show as unchanged)", e.message);
        return Err(e);
    }
    Ok(ApplyReport {
        plan,
        applied,
        skipped,
        cancelled: progress.is_cancelled(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(id: &str, key: Option<&str>, active: bool) -> PriceRow {
        PriceRow {
            stripe_id: id.into(),
            product_id: "prod_1".into(),
            lookup_key: key.map(Into::into),
            price_type: "recurring".into(),
            billing_interval: Some("month".into()),
            billing_scheme: "per_unit".into(),
            unit_amount: Some(100),
            currency: "eur".into(),
            active,
            metadata: "{}".into(),
            ..Default::default()
        }
    }

    #[test]
    fn every_action() {
        let prices = vec![
            price("price_a", Some("community-expert-monthly"), true),
            price("price_b", None, true),
            price("price_c", Some("top-expert-monthly"), true),
            price("price_d", None, true),
            price("price_old", None, false),
            price("price_e", None, true),
            price("price_f", None, true),
        ];
        let entries = parse_map(
            r#"{"price_a": "community-expert-monthly", "price_b": "community-expert-annual",
                "price_d": "top-expert-monthly", "price_old": "lecturer-module-annual",
                "price_e": "partner-x-monthly", "price_f": "partner-x-monthly",
                "price_zz": "top-expert-annual", "price_b2": "Bad-Key"}"#,
        )
        .unwrap();
        let p = plan(&entries, &prices);
        let action = |id: &str| p.rows.iter().find(|r| r.price_id == id).unwrap().action;
        assert_eq!(action("price_a"), MapAction::Unchanged);
        assert_eq!(action("price_b"), MapAction::Assign);
        assert_eq!(action("price_d"), MapAction::Transfer);
        assert_eq!(
            p.rows
                .iter()
                .find(|r| r.price_id == "price_d")
                .unwrap()
                .holder
                .as_deref(),
            Some("price_c")
        );
        assert_eq!(action("price_old"), MapAction::Conflict);
        assert_eq!(action("price_e"), MapAction::Conflict);
        assert_eq!(action("price_f"), MapAction::Conflict);
        assert_eq!(action("price_zz"), MapAction::Invalid);
        assert_eq!(action("price_b2"), MapAction::Invalid);
        assert_eq!(
            p.counts,
            MapCounts {
                unchanged: 1,
                assign: 1,
                transfer: 1,
                conflict: 3,
                invalid: 2
            }
        );
    }

    #[test]
    fn bad_maps_name_the_field() {
        assert_eq!(parse_map("[]").unwrap_err().field, "map");
        assert_eq!(parse_map("{}").unwrap_err().field, "map");
        assert_eq!(
            parse_map(r#"{"price_1": 5}"#).unwrap_err().field,
            "map[price_1]"
        );
        assert!(parse_map("{").unwrap_err().rule.contains("not JSON"));
    }
}
