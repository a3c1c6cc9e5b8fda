//! The lookup-key convention: `{tier}-{audience}-{interval}[-{currency}][-v{N}]`, e.g.
//! `community-expert-monthly`, `partner-starter-monthly`, `community-expert-monthly-eur`,
//! `community-expert-monthly-v2`. Lowercase, at most Stripe's 200 characters.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{Currency, InputError};

/// Stripe's limit on a lookup key's length.
pub const MAX_LEN: usize = 200;

/// How often a plan bills, as the convention and the Plans screen name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum PlanInterval {
    Month,
    Year,
    /// A one-time price (`type: one_time`).
    Once,
}

impl PlanInterval {
    /// The word in a lookup key.
    pub fn key_word(self) -> &'static str {
        match self {
            PlanInterval::Month => "monthly",
            PlanInterval::Year => "annual",
            PlanInterval::Once => "once",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PlanInterval::Month => "month",
            PlanInterval::Year => "year",
            PlanInterval::Once => "once",
        }
    }

    /// `month`, `year` or `once` (as the CLI and expected-keys files write it).
    pub fn parse(field: &'static str, raw: &str) -> Result<PlanInterval, InputError> {
        match raw.trim() {
            "month" | "monthly" => Ok(PlanInterval::Month),
            "year" | "annual" | "yearly" => Ok(PlanInterval::Year),
            "once" | "one_time" | "one-time" => Ok(PlanInterval::Once),
            other => Err(InputError::new(
                field,
                format!("{other:?} is not an interval: use month, year or once"),
            )),
        }
    }
}

/// A lookup key that follows the convention.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(try_from = "String", into = "String")]
#[ts(type = "string")]
pub struct LookupKey {
    raw: String,
    #[serde(skip)]
    parts: KeyParts,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
struct KeyParts {
    tier_end: usize,
    audience_end: usize,
    interval: Option<PlanInterval>,
    currency: Option<Currency>,
    version: Option<u32>,
}

const GRAMMAR: &str = "{tier}-{audience}-{interval}[-{currency}][-v{N}]";

fn word_ok(w: &str) -> bool {
    let mut b = w.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase())
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

impl LookupKey {
    /// Parses `raw`; the error says which part is wrong. `field` names the input.
    pub fn parse(field: &'static str, raw: &str) -> Result<LookupKey, InputError> {
        let err = |rule: String| Err(InputError::new(field, rule));
        if raw.is_empty() {
            return err(format!(
                "is empty; expected {GRAMMAR}, e.g. community-expert-monthly"
            ));
        }
        if raw.len() > MAX_LEN {
            return err(format!(
                "is {} characters; Stripe allows at most {MAX_LEN}",
                raw.len()
            ));
        }
        if raw != raw.trim() {
            return err(format!("{raw:?} has spaces around it"));
        }
        if raw.chars().any(|c| c.is_uppercase()) {
            return err(format!(
                "{raw:?} must be lowercase (try {:?})",
                raw.to_lowercase()
            ));
        }
        let parts: Vec<&str> = raw.split('-').collect();
        if parts.len() < 3 {
            return err(format!(
                "{raw:?} has {} part{}; expected {GRAMMAR}",
                parts.len(),
                if parts.len() == 1 { "" } else { "s" }
            ));
        }
        if parts.len() > 5 {
            return err(format!(
                "{raw:?} has {} parts; expected at most 5: {GRAMMAR}",
                parts.len()
            ));
        }
        for (name, w) in [("tier", parts[0]), ("audience", parts[1])] {
            if !word_ok(w) {
                return err(format!("the {name} {w:?} in {raw:?} must be a lowercase word (letters, digits, _; starting with a letter)"));
            }
        }
        let interval = match parts[2] {
            "monthly" => PlanInterval::Month,
            "annual" => PlanInterval::Year,
            "once" => PlanInterval::Once,
            other => {
                return err(format!(
                    "the interval {other:?} in {raw:?} must be monthly, annual or once"
                ));
            }
        };
        let mut currency = None;
        let mut version = None;
        for (i, p) in parts[3..].iter().enumerate() {
            if let Some(n) = p
                .strip_prefix('v')
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                if i + 4 != parts.len() {
                    return err(format!("the version {p:?} in {raw:?} must come last"));
                }
                match n.parse::<u32>() {
                    Ok(v) if v >= 1 && !n.starts_with('0') => version = Some(v),
                    _ => {
                        return err(format!(
                            "the version {p:?} in {raw:?} must be v1, v2, … (no leading zero)"
                        ))
                    }
                }
            } else if i == 0 && p.len() == 3 {
                currency = Some(Currency::parse(field, p).map_err(|_| {
                    InputError::new(field, format!("the currency {p:?} in {raw:?} is not an ISO 4217 code Stripe charges in"))
                })?);
            } else {
                return err(format!("{p:?} in {raw:?} is neither a currency (eur, usd, …) nor a version (v2); expected {GRAMMAR}"));
            }
        }
        Ok(LookupKey {
            raw: raw.to_owned(),
            parts: KeyParts {
                tier_end: parts[0].len(),
                audience_end: parts[0].len() + 1 + parts[1].len(),
                interval: Some(interval),
                currency,
                version,
            },
        })
    }

    /// The key for these parts, as the Create-price form previews it.
    pub fn compose(
        tier: &str,
        audience: &str,
        interval: PlanInterval,
        currency: Option<&Currency>,
        version: Option<u32>,
    ) -> Result<LookupKey, InputError> {
        let mut s = format!(
            "{}-{}-{}",
            tier.trim(),
            audience.trim(),
            interval.key_word()
        );
        if let Some(c) = currency {
            s.push('-');
            s.push_str(c.as_str());
        }
        if let Some(v) = version {
            s.push_str(&format!("-v{v}"));
        }
        LookupKey::parse("lookup_key", &s)
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn tier(&self) -> &str {
        &self.raw[..self.parts.tier_end]
    }
    pub fn audience(&self) -> &str {
        &self.raw[self.parts.tier_end + 1..self.parts.audience_end]
    }
    pub fn interval(&self) -> PlanInterval {
        self.parts.interval.expect("set by parse")
    }
    pub fn currency(&self) -> Option<&Currency> {
        self.parts.currency.as_ref()
    }
    pub fn version(&self) -> Option<u32> {
        self.parts.version
    }
}

impl std::fmt::Display for LookupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl TryFrom<String> for LookupKey {
    type Error = InputError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        LookupKey::parse("lookup_key", &s)
    }
}

impl From<LookupKey> for String {
    fn from(k: LookupKey) -> String {
        k.raw
    }
}

/// A key Stripe may hold that does not follow the convention: why not, for the Plans screen.
pub fn convention_problem(raw: &str) -> Option<String> {
    LookupKey::parse("lookup_key", raw).err().map(|e| e.rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_seed_keys_parse() {
        for (k, tier, aud, iv) in [
            (
                "community-expert-monthly",
                "community",
                "expert",
                PlanInterval::Month,
            ),
            (
                "partner-starter-monthly",
                "partner",
                "starter",
                PlanInterval::Month,
            ),
            ("top-expert-annual", "top", "expert", PlanInterval::Year),
            (
                "lecturer-module-annual",
                "lecturer",
                "module",
                PlanInterval::Year,
            ),
        ] {
            let key = LookupKey::parse("lookup_key", k).unwrap();
            assert_eq!(
                (key.tier(), key.audience(), key.interval()),
                (tier, aud, iv)
            );
            assert_eq!(key.currency(), None);
            assert_eq!(key.version(), None);
        }
        let k = LookupKey::parse("lookup_key", "community-expert-monthly-eur-v2").unwrap();
        assert_eq!(k.currency().map(Currency::as_str), Some("eur"));
        assert_eq!(k.version(), Some(2));
        let k = LookupKey::parse("lookup_key", "community-expert-monthly-v2").unwrap();
        assert_eq!((k.currency(), k.version()), (None, Some(2)));
    }

    #[test]
    fn errors_say_which_part_is_wrong() {
        let rule = |k: &str| LookupKey::parse("lookup_key", k).unwrap_err().rule;
        assert!(rule("Community-expert-monthly").contains("lowercase"));
        assert!(rule("community-expert").contains("2 parts"));
        assert!(rule("community-expert-weekly").contains("interval \"weekly\""));
        assert!(rule("community-expert-monthly-xyz").contains("currency \"xyz\""));
        assert!(rule("community-expert-monthly-v0").contains("version"));
        assert!(rule("community-expert-monthly-v2-eur").contains("must come last"));
        assert!(rule("community-expert-monthly-euro").contains("neither a currency"));
        assert!(rule("1community-expert-monthly").contains("tier"));
        assert!(rule("community--monthly").contains("audience"));
        assert!(rule(&format!("{}-expert-monthly", "a".repeat(200))).contains("at most 200"));
    }

    #[test]
    fn compose_round_trips() {
        let eur = Currency::parse("currency", "eur").unwrap();
        let k = LookupKey::compose("partner", "clinic", PlanInterval::Year, Some(&eur), Some(3))
            .unwrap();
        assert_eq!(k.as_str(), "partner-clinic-annual-eur-v3");
        assert!(LookupKey::compose("Partner", "clinic", PlanInterval::Year, None, None).is_err());
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,15}"
    }

    proptest! {
        /// Every key built from valid parts parses back to those parts.
        #[test]
        fn valid_parts_round_trip(
            tier in word(), audience in word(),
            iv in prop_oneof![Just(PlanInterval::Month), Just(PlanInterval::Year), Just(PlanInterval::Once)],
            cur in proptest::option::of(prop_oneof![Just("eur"), Just("usd"), Just("jpy"), Just("gbp")]),
            ver in proptest::option::of(1u32..1000),
        ) {
            let c = cur.map(|c| Currency::parse("currency", c).unwrap());
            let k = LookupKey::compose(&tier, &audience, iv, c.as_ref(), ver).unwrap();
            let p = LookupKey::parse("lookup_key", k.as_str()).unwrap();
            prop_assert_eq!(p.tier(), tier.as_str());
            prop_assert_eq!(p.audience(), audience.as_str());
            prop_assert_eq!(p.interval(), iv);
            prop_assert_eq!(p.currency(), c.as_ref());
            prop_assert_eq!(p.version(), ver);
        }

        /// Parsing never panics, and whatever parses is lowercase, short enough and re-parses.
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,80}") {
            if let Ok(k) = LookupKey::parse("lookup_key", &s) {
                prop_assert!(k.as_str().len() <= MAX_LEN);
                prop_assert!(!k.as_str().chars().any(char::is_uppercase));
                prop_assert_eq!(LookupKey::parse("lookup_key", k.as_str()).unwrap(), k);
            }
        }
    }
}
