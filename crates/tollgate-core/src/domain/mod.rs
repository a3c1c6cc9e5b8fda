//! Inputs become these types at the edge; nothing past the edge re-checks them.

pub mod environment;
pub mod input;
pub mod money;
pub mod secret;

pub use environment::Environment;
pub use input::InputError;
pub use money::{format_minor, BasisPoints, Currency, Money};
pub use secret::{DatabaseUrl, MaskedSecret, SecretKind, StripeSecretKey, WebhookSecret};
