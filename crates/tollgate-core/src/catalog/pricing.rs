//! Any price Stripe can hold, in words: flat, per seat, per unit (with a package size),
//! tiered (graduated or volume), metered, customer-chosen, and sub-cent decimal amounts.

use std::collections::HashMap;

use crate::domain::{format_minor, Currency};
use crate::store::PriceRow;

pub struct Described {
    pub text: String,
    /// flat, per_seat, per_unit, package, tiered, metered or custom.
    pub model: &'static str,
}

/// month, year or once; None for other cadences (every 3 months, weekly …).
pub fn plan_interval(p: &PriceRow) -> Option<super::PlanInterval> {
    use super::PlanInterval;
    match (
        p.price_type.as_str(),
        p.billing_interval.as_deref(),
        p.interval_count,
    ) {
        ("one_time", _, _) => Some(PlanInterval::Once),
        (_, Some("month"), Some(1) | None) => Some(PlanInterval::Month),
        (_, Some("year"), Some(1) | None) => Some(PlanInterval::Year),
        _ => None,
    }
}

/// "month", "3 months", "week", "one-time".
pub fn cadence(p: &PriceRow) -> String {
    match (p.price_type.as_str(), p.billing_interval.as_deref()) {
        ("one_time", _) | (_, None) => "one-time".to_owned(),
        (_, Some(iv)) => match p.interval_count.unwrap_or(1) {
            1 => iv.to_owned(),
            n => format!("{n} {iv}s"),
        },
    }
}

/// A decimal amount of minor units (Stripe's `unit_amount_decimal`, e.g. "0.125" cents) in
/// major units, exactly: "0.125" cents of EUR is "EUR 0.00125".
fn format_decimal_minor(decimal: &str, currency: &Currency) -> String {
    let code = currency.as_str().to_uppercase();
    let (int, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
    let exp = currency.exponent() as usize;
    let int = int.trim_start_matches('0');
    let padded = format!("{:0>width$}", int, width = exp + 1);
    let (major, minor_int) = padded.split_at(padded.len() - exp);
    let mut frac_all = format!("{minor_int}{frac}");
    while frac_all.len() > exp.max(2) && frac_all.ends_with('0') {
        frac_all.pop();
    }
    if frac_all.is_empty() {
        format!("{code} {major}")
    } else {
        format!("{code} {major}.{frac_all}")
    }
}

fn unit_amount_text(p: &PriceRow, currency: &Currency) -> String {
    match (&p.unit_amount_decimal, p.unit_amount) {
        (Some(d), a) if a.is_none_or(|a| d.contains('.') && d != &a.to_string()) => {
            format_decimal_minor(d, currency)
        }
        (_, Some(a)) => format_minor(a, currency),
        (Some(d), None) => format_decimal_minor(d, currency),
        (None, None) => "no amount".to_owned(),
    }
}

pub fn describe(p: &PriceRow, metadata: &HashMap<String, String>) -> Described {
    let currency = Currency::from_stripe(&p.currency);
    let per = match cadence(p).as_str() {
        "one-time" => " once".to_owned(),
        c => format!(" / {c}"),
    };
    let unit = metadata.get("unit").map(String::as_str).unwrap_or("unit");
    let metered = p.usage_type.as_deref() == Some("metered");
    if let Some(custom) = p
        .custom_unit_amount
        .as_deref()
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
    {
        let bound = |k: &str| custom[k].as_i64().map(|a| format_minor(a, &currency));
        let mut text = "customer chooses the amount".to_owned();
        match (bound("minimum"), bound("maximum")) {
            (Some(lo), Some(hi)) => text.push_str(&format!(" ({lo} to {hi})")),
            (Some(lo), None) => text.push_str(&format!(" (at least {lo})")),
            (None, Some(hi)) => text.push_str(&format!(" (at most {hi})")),
            (None, None) => {}
        }
        return Described {
            text: text + &per,
            model: "custom",
        };
    }
    if p.billing_scheme == "tiered" {
        let tiers: Vec<serde_json::Value> = p
            .tiers
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let mode = p.tiers_mode.as_deref().unwrap_or("graduated");
        let mut from = 1_i64;
        let mut parts = Vec::new();
        for t in &tiers {
            let up_to = t["up_to"].as_i64();
            let range = match up_to {
                Some(u) if u == from => format!("{from}"),
                Some(u) => format!("{from}–{u}"),
                None => format!("{from}+"),
            };
            let mut price = Vec::new();
            let unit_amt = match (t["unit_amount_decimal"].as_str(), t["unit_amount"].as_i64()) {
                (Some(d), _) if d.contains('.') => Some(format_decimal_minor(d, &currency)),
                (_, Some(a)) => Some(format_minor(a, &currency)),
                _ => None,
            };
            if let Some(u) = unit_amt {
                price.push(format!("{u} each"));
            }
            if let Some(f) = t["flat_amount"].as_i64().filter(|f| *f > 0) {
                price.push(format!("{} flat", format_minor(f, &currency)));
            }
            parts.push(format!("{range}: {}", price.join(" + ")));
            if let Some(u) = up_to {
                from = u + 1;
            }
        }
        let what = if metered {
            format!("{unit}s used")
        } else {
            format!("{unit}s")
        };
        let tiers = if parts.is_empty() {
            "tiers not loaded".to_owned()
        } else {
            parts.join("; ")
        };
        return Described {
            text: format!("{mode} tiers per {what}{per}: {tiers}"),
            model: "tiered",
        };
    }
    let amount = unit_amount_text(p, &currency);
    if let Some(divide) = p.transform_divide_by.filter(|d| *d > 1) {
        let round = if p.transform_round.as_deref() == Some("down") {
            "rounded down"
        } else {
            "rounded up"
        };
        return Described {
            text: format!("{amount} per {divide} {unit}s ({round}){per}"),
            model: "package",
        };
    }
    if metered {
        return Described {
            text: format!("{amount} per {unit} used{per}"),
            model: "metered",
        };
    }
    match metadata.get("pricing").map(String::as_str) {
        Some("per_seat") => Described {
            text: format!("{amount} per seat{per}"),
            model: "per_seat",
        },
        Some("per_unit") => Described {
            text: format!("{amount} per {unit}{per}"),
            model: "per_unit",
        },
        _ => Described {
            text: format!("{amount}{per}"),
            model: "flat",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(f: impl FnOnce(&mut PriceRow)) -> PriceRow {
        let mut p = PriceRow {
            stripe_id: "price_1".into(),
            product_id: "prod_1".into(),
            price_type: "recurring".into(),
            billing_interval: Some("month".into()),
            interval_count: Some(1),
            billing_scheme: "per_unit".into(),
            unit_amount: Some(4900),
            unit_amount_decimal: Some("4900".into()),
            currency: "eur".into(),
            metadata: "{}".into(),
            ..Default::default()
        };
        f(&mut p);
        p
    }

    fn text(p: &PriceRow, meta: &[(&str, &str)]) -> (String, &'static str) {
        let m = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let d = describe(p, &m);
        (d.text, d.model)
    }

    #[test]
    fn every_shape_reads_right() {
        assert_eq!(
            text(&price(|_| {}), &[]),
            ("EUR 49.00 / month".into(), "flat")
        );
        assert_eq!(
            text(&price(|_| {}), &[("pricing", "per_seat")]),
            ("EUR 49.00 per seat / month".into(), "per_seat")
        );
        let jpy = price(|p| {
            p.currency = "jpy".into();
            p.unit_amount = Some(5000);
            p.unit_amount_decimal = Some("5000".into());
            p.billing_interval = Some("year".into());
        });
        assert_eq!(text(&jpy, &[]).0, "JPY 5000 / year");
        let once = price(|p| {
            p.price_type = "one_time".into();
            p.billing_interval = None;
        });
        assert_eq!(text(&once, &[]).0, "EUR 49.00 once");
        let quarterly = price(|p| p.interval_count = Some(3));
        assert_eq!(text(&quarterly, &[]).0, "EUR 49.00 / 3 months");
        let metered = price(|p| {
            p.usage_type = Some("metered".into());
            p.unit_amount = None;
            p.unit_amount_decimal = Some("0.5".into());
        });
        assert_eq!(
            text(&metered, &[("unit", "SMS")]),
            ("EUR 0.005 per SMS used / month".into(), "metered")
        );
        let tiered = price(|p| {
            p.billing_scheme = "tiered".into();
            p.unit_amount = None;
            p.unit_amount_decimal = None;
            p.tiers_mode = Some("graduated".into());
            p.tiers = Some(r#"[{"up_to":10,"unit_amount":500,"flat_amount":1000},{"up_to":null,"unit_amount":400}]"#.into());
        });
        assert_eq!(
            text(&tiered, &[("unit", "seat")]),
            ("graduated tiers per seats / month: 1–10: EUR 5.00 each + EUR 10.00 flat; 11+: EUR 4.00 each".into(), "tiered")
        );
        let package = price(|p| {
            p.transform_divide_by = Some(100);
            p.transform_round = Some("up".into());
        });
        assert_eq!(
            text(&package, &[("unit", "message")]).0,
            "EUR 49.00 per 100 messages (rounded up) / month"
        );
        let custom = price(|p| {
            p.unit_amount = None;
            p.custom_unit_amount = Some(r#"{"minimum":500,"maximum":null,"preset":null}"#.into());
        });
        assert_eq!(
            text(&custom, &[]).0,
            "customer chooses the amount (at least EUR 5.00) / month"
        );
    }

    #[test]
    fn decimal_minor_units() {
        let eur = Currency::from_stripe("eur");
        assert_eq!(format_decimal_minor("0.125", &eur), "EUR 0.00125");
        assert_eq!(format_decimal_minor("1234.5", &eur), "EUR 12.345");
        assert_eq!(format_decimal_minor("1200", &eur), "EUR 12.00");
        assert_eq!(
            format_decimal_minor("0.5", &Currency::from_stripe("jpy")),
            "JPY 0.5"
        );
    }
}
