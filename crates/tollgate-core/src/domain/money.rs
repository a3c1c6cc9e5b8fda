//! Money: integer minor units plus a currency; rates in basis points. No floats anywhere.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::InputError;

/// ISO 4217 codes Stripe can charge in (lowercase, as Stripe writes them).
const CURRENCIES: &[&str] = &[
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt",
    "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf",
    "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb",
    "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "htg",
    "huf", "idr", "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr", "kmf", "krw",
    "kwd", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk",
    "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr",
    "nzd", "omr", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub",
    "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb",
    "tjs", "tnd", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs", "vnd",
    "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
];

/// Charged in whole units: 500 JPY is `500`, not `50000`.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Three decimals; Stripe requires amounts in them to be multiples of 10.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// Stripe's largest `unit_amount` (eight digits of minor units).
pub const MAX_UNIT_AMOUNT: i64 = 99_999_999;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(field: &'static str, raw: &str) -> Result<Currency, InputError> {
        let c = raw.trim().to_ascii_lowercase();
        if CURRENCIES.binary_search(&c.as_str()).is_ok() {
            Ok(Currency(c))
        } else {
            Err(InputError::new(
                field,
                format!("{raw:?} is not a currency Stripe charges in (a three-letter ISO 4217 code such as eur, usd, gbp, jpy)"),
            ))
        }
    }

    /// A currency Stripe reported; kept as is even if this build does not list it.
    pub fn from_stripe(code: &str) -> Currency {
        Currency(code.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point.
    pub fn exponent(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.0.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&self.0.as_str()) {
            3
        } else {
            2
        }
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount a price may charge: integer minor units in a currency, within Stripe's limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Money {
    #[ts(type = "number")]
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    /// `amount` in minor units (cents; yen for JPY). Zero is allowed (a free price), negative
    /// and over Stripe's eight digits are not.
    pub fn parse(
        field: &'static str,
        amount: i64,
        currency: Currency,
    ) -> Result<Money, InputError> {
        if amount < 0 {
            return Err(InputError::new(
                field,
                format!("must not be negative (got {amount}); amounts are minor units, e.g. 2900 for 29.00"),
            ));
        }
        if amount > MAX_UNIT_AMOUNT {
            return Err(InputError::new(
                field,
                format!(
                    "{amount} is more than Stripe's limit of {MAX_UNIT_AMOUNT} minor units ({})",
                    format_minor(MAX_UNIT_AMOUNT, &currency)
                ),
            ));
        }
        if currency.exponent() == 3 && amount % 10 != 0 {
            return Err(InputError::new(
                field,
                format!("must be a multiple of 10 in {} (Stripe charges three-decimal currencies to two decimals)", currency.as_str().to_uppercase()),
            ));
        }
        Ok(Money { amount, currency })
    }

    pub fn display(&self) -> String {
        format_minor(self.amount, &self.currency)
    }
}

/// `4900 eur` → `EUR 49.00`; `500 jpy` → `JPY 500`. Thousands are not grouped (the UI does).
pub fn format_minor(amount: i64, currency: &Currency) -> String {
    format!(
        "{} {}",
        currency.as_str().to_uppercase(),
        decimal_minor(amount, currency)
    )
}

/// `4900 eur` → `49.00`; `500 jpy` → `500`: the amount in major units, exactly, for exports.
pub fn decimal_minor(amount: i64, currency: &Currency) -> String {
    let exp = currency.exponent();
    if exp == 0 {
        return amount.to_string();
    }
    let div = 10_u64.pow(exp);
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        a / div,
        a % div,
        width = exp as usize
    )
}

/// A rate in basis points: 1200 is 12.00 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(transparent)]
pub struct BasisPoints(pub u16);

impl BasisPoints {
    pub fn parse(field: &'static str, raw: i64) -> Result<BasisPoints, InputError> {
        if (0..=10_000).contains(&raw) {
            Ok(BasisPoints(raw as u16))
        } else {
            Err(InputError::new(
                field,
                format!("must be between 0 and 10000 basis points (0.00 % to 100.00 %), got {raw}"),
            ))
        }
    }

    /// Price metadata `commissionRate` as Stripe holds it (a string of basis points).
    pub fn from_metadata(raw: &str) -> Option<BasisPoints> {
        raw.trim()
            .parse::<i64>()
            .ok()
            .and_then(|v| BasisPoints::parse("commissionRate", v).ok())
    }

    pub fn display(self) -> String {
        format!("{}.{:02} %", self.0 / 100, self.0 % 100)
    }

    /// This rate of `amount` minor units, half-up to the minor unit (half away from zero for a
    /// negative amount, so a full refund reverses exactly what the charge implied).
    pub fn of(self, amount: i64) -> i64 {
        ratio_half_up(amount, self.0 as i64, 10_000)
    }
}

/// `amount × num / den`, rounded half-up to the minor unit (half away from zero below zero):
/// the one rounding of computed amounts. i128 inside, so no product overflows.
pub fn ratio_half_up(amount: i64, num: i64, den: i64) -> i64 {
    assert!(den > 0, "a ratio needs a positive denominator");
    let p = amount as i128 * num as i128;
    let den = den as i128;
    // A remainder of at least half the denominator rounds up.
    let q = (p.abs() + den / 2) / den;
    (if p < 0 { -q } else { q }) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_list_is_sorted_for_binary_search() {
        let mut sorted = CURRENCIES.to_vec();
        sorted.sort();
        assert_eq!(sorted, CURRENCIES);
    }

    #[test]
    fn formats_by_exponent() {
        let c = |s| Currency::parse("currency", s).unwrap();
        assert_eq!(format_minor(4900, &c("eur")), "EUR 49.00");
        assert_eq!(format_minor(5, &c("usd")), "USD 0.05");
        assert_eq!(format_minor(500, &c("JPY")), "JPY 500");
        assert_eq!(format_minor(1230, &c("kwd")), "KWD 1.230");
    }

    #[test]
    fn bad_amounts_and_currencies_name_the_field() {
        let eur = Currency::parse("currency", "eur").unwrap();
        let e = Money::parse("amount", -1, eur.clone()).unwrap_err();
        assert_eq!(e.field, "amount");
        assert!(e.rule.contains("negative"));
        assert!(Money::parse("amount", 100_000_000, eur)
            .unwrap_err()
            .rule
            .contains("limit"));
        let e = Currency::parse("currency", "eu").unwrap_err();
        assert!(e.rule.contains("ISO 4217"));
        assert!(Currency::parse("currency", "xyz").is_err());
        let kwd = Currency::parse("currency", "kwd").unwrap();
        assert!(Money::parse("amount", 1235, kwd).is_err());
    }

    #[test]
    fn basis_points() {
        assert_eq!(
            BasisPoints::parse("bps", 1200).unwrap().display(),
            "12.00 %"
        );
        assert!(BasisPoints::parse("bps", 10_001).is_err());
        assert!(BasisPoints::parse("bps", -1).is_err());
        assert_eq!(BasisPoints::from_metadata("800"), Some(BasisPoints(800)));
        assert_eq!(BasisPoints::from_metadata("12%"), None);
    }

    #[test]
    fn rates_round_half_up_to_the_minor_unit() {
        let bp = |b| BasisPoints(b);
        assert_eq!(bp(1200).of(6000), 720);
        assert_eq!(bp(1250).of(1), 0); // 0.125
        assert_eq!(bp(5000).of(1), 1); // 0.5 rounds up
        assert_eq!(bp(5000).of(-1), -1); // and away from zero below it
        assert_eq!(bp(800).of(12_345), 988); // 987.6
        assert_eq!(bp(1000).of(-12_345), -1235); // -1234.5
        assert_eq!(ratio_half_up(720, 3000, 6000), 360);
        assert_eq!(ratio_half_up(7, 1, 2), 4); // 3.5
        assert_eq!(ratio_half_up(5, 1, 3), 2); // 1.67
        assert_eq!(ratio_half_up(4, 1, 3), 1); // 1.33
        assert_eq!(ratio_half_up(i64::MAX, 10_000, 10_000), i64::MAX);
    }
}
