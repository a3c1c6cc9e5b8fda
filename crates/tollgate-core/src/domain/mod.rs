//! Inputs become these types at the edge; nothing past the edge re-checks them.

pub mod environment;
pub mod input;
pub mod money;
pub mod secret;

pub use environment::Environment;
pub use input::InputError;
pub use money::{format_minor, BasisPoints, Currency, Money};
pub use secret::{DatabaseUrl, MaskedSecret, SecretKind, StripeSecretKey, WebhookSecret};

/// UTC seconds as `2026-03-04T05:06:07Z` (CSV exports), without a formatter's parsing per
/// row; empty when out of range.
pub fn iso_utc(t: i64) -> String {
    use chrono::{Datelike, Timelike};
    let Some(d) = chrono::DateTime::from_timestamp(t, 0) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}
