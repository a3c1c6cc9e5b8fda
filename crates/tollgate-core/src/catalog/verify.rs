//! Verify before deploy: each expected key must resolve, at Stripe and now, to exactly one
//! active price with the expected amount, currency and interval.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::resolver::{PriceResolver, Resolution};
use super::PlanInterval;
use crate::domain::{format_minor, Currency, InputError, Money};
use crate::error::ErrorBody;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExpectedKey {
    pub lookup_key: String,
    #[ts(type = "number")]
    pub amount: i64,
    pub currency: String,
    pub interval: PlanInterval,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct KeyCheck {
    pub expected: ExpectedKey,
    pub ok: bool,
    /// What differs, one line each; empty when ok.
    pub problems: Vec<String>,
    pub found: Option<Resolution>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct VerifyReport {
    pub checks: Vec<KeyCheck>,
    pub passed: u32,
    pub failed: u32,
}

#[derive(Deserialize)]
struct RawExpected {
    lookup_key: Option<serde_json::Value>,
    amount: Option<serde_json::Value>,
    currency: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
}

/// `[{"lookup_key": "community-expert-monthly", "amount": 4900, "currency": "eur",
/// "interval": "month"}, ...]`; an error names the entry and field, e.g. `expected[2].amount`.
pub fn parse_expected(json: &str) -> Result<Vec<ExpectedKey>, InputError> {
    let raw: Vec<RawExpected> = serde_json::from_str(json).map_err(|e| {
        InputError::new(
            "expected",
            format!("is not a JSON array of {{lookup_key, amount, currency, interval}}: {e}"),
        )
    })?;
    if raw.is_empty() {
        return Err(InputError::new("expected", "is empty: nothing to verify"));
    }
    let mut seen = std::collections::HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let f = |name: &str| format!("expected[{i}].{name}");
            let str_of =
                |v: &Option<serde_json::Value>, name: &str| -> Result<String, InputError> {
                    v.as_ref()
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                        .ok_or_else(|| InputError::new(f(name), "is required and must be a string"))
                };
            let key = str_of(&r.lookup_key, "lookup_key")?;
            super::LookupKey::parse("lookup_key", &key)
                .map_err(|e| InputError::new(f("lookup_key"), e.rule))?;
            if !seen.insert(key.clone()) {
                return Err(InputError::new(
                    f("lookup_key"),
                    format!("{key} is listed twice"),
                ));
            }
            let amount = r.amount.as_ref().and_then(|v| v.as_i64()).ok_or_else(|| {
                InputError::new(
                    f("amount"),
                    "is required and must be an integer of minor units (4900 for 49.00)",
                )
            })?;
            let currency = Currency::parse("currency", &str_of(&r.currency, "currency")?)
                .map_err(|e| InputError::new(f("currency"), e.rule))?;
            Money::parse("amount", amount, currency.clone())
                .map_err(|e| InputError::new(f("amount"), e.rule))?;
            let interval = PlanInterval::parse("interval", &str_of(&r.interval, "interval")?)
                .map_err(|e| InputError::new(f("interval"), e.rule))?;
            Ok(ExpectedKey {
                lookup_key: key,
                amount,
                currency: currency.as_str().to_owned(),
                interval,
            })
        })
        .collect()
}

pub fn check(expected: &ExpectedKey, found: &Resolution) -> KeyCheck {
    let mut problems = Vec::new();
    let cur = Currency::from_stripe(&expected.currency);
    match &found.price {
        None => problems.push(format!(
            "no price has the lookup key {}",
            expected.lookup_key
        )),
        Some(p) => {
            if !p.active {
                problems.push(format!("{} is archived (inactive)", p.price_id));
            }
            if p.currency != expected.currency {
                problems.push(format!(
                    "currency is {}, expected {}",
                    p.currency.to_uppercase(),
                    expected.currency.to_uppercase()
                ));
            }
            match p.unit_amount {
                Some(a) if a == expected.amount => {}
                Some(a) => problems.push(format!(
                    "amount is {}, expected {}",
                    format_minor(a, &Currency::from_stripe(&p.currency)),
                    format_minor(expected.amount, &cur)
                )),
                None => problems.push(format!(
                    "has no single amount ({}), expected {}",
                    p.pricing,
                    format_minor(expected.amount, &cur)
                )),
            }
            if p.interval != Some(expected.interval) {
                problems.push(format!(
                    "interval is {}, expected {}",
                    p.interval
                        .map(|i| i.as_str().to_owned())
                        .unwrap_or_else(|| p.pricing.clone()),
                    expected.interval.as_str()
                ));
            }
        }
    }
    if found.stale {
        problems
            .push("Stripe could not be reached: this is the store's copy, not proof".to_owned());
    }
    KeyCheck {
        expected: expected.clone(),
        ok: problems.is_empty(),
        problems,
        found: Some(found.clone()),
    }
}

/// Asks Stripe (not the cache) for every key, ten per call.
pub async fn verify(
    resolver: &PriceResolver,
    expected: &[ExpectedKey],
) -> Result<VerifyReport, ErrorBody> {
    let keys: Vec<String> = expected.iter().map(|e| e.lookup_key.clone()).collect();
    let found = resolver.resolve_fresh(&keys).await?;
    let checks: Vec<KeyCheck> = expected
        .iter()
        .zip(&found)
        .map(|(e, f)| check(e, f))
        .collect();
    let passed = checks.iter().filter(|c| c.ok).count() as u32;
    Ok(VerifyReport {
        failed: checks.len() as u32 - passed,
        passed,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_entry_and_field() {
        let e = parse_expected(r#"[{"lookup_key":"community-expert-monthly","amount":4900,"currency":"eur","interval":"month"},
                                  {"lookup_key":"top-expert-monthly","amount":-5,"currency":"eur","interval":"month"}]"#)
            .unwrap_err();
        assert_eq!(e.field, "expected[1].amount");
        let e = parse_expected(r#"[{"lookup_key":"top-expert-monthly","amount":5,"currency":"eur","interval":"weekly"}]"#).unwrap_err();
        assert_eq!(e.field, "expected[0].interval");
        let e = parse_expected(r#"[{"lookup_key":"top-expert-monthly","amount":5,"currency":"zzz","interval":"month"}]"#).unwrap_err();
        assert_eq!(e.field, "expected[0].currency");
        let e = parse_expected(
            r#"[{"lookup_key":"Top","amount":5,"currency":"eur","interval":"month"}]"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "expected[0].lookup_key");
        assert!(parse_expected("{}").is_err());
        let ok = parse_expected(r#"[{"lookup_key":"lecturer-module-annual","amount":49000,"currency":"EUR","interval":"year"}]"#).unwrap();
        assert_eq!(ok[0].interval, PlanInterval::Year);
        assert_eq!(ok[0].currency, "eur");
    }
}
