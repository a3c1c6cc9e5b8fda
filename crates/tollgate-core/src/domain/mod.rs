//! Inputs become these types at the edge; nothing past the edge re-checks them.

pub mod environment;
pub mod input;
pub mod secret;

pub use environment::Environment;
pub use input::InputError;
pub use secret::{DatabaseUrl, MaskedSecret, SecretKind, StripeSecretKey, WebhookSecret};
