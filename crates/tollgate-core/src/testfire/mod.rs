//! Test-fire: Stripe webhook events built locally from the store's own objects (or realistic
//! generated ones), signed as Stripe signs them (or deliberately not), delivered to any URL
//! and kept in a history that can replay any delivery byte for byte.
//!
//! - [`events`]: the catalog of event types and the builders of complete event objects, each
//!   starting from Stripe's own example of its resource;
//! - [`subject`]: the organization an event is about, read from the store;
//! - [`overrides`]: `--set PATH=VALUE`, checked against the event's own shape;
//! - [`sign`]: the `Stripe-Signature` header for each signing mode;
//! - [`deliver`]: one POST, its answer or why there was none;
//! - [`scenario`]: duplicate, out of order, burst, and the stories Stripe tells.

pub mod deliver;
pub mod events;
pub mod overrides;
pub mod scenario;
pub mod sign;
pub mod subject;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use deliver::{Attempt, Deliverer, Outcome};
pub use events::{EventKind, CATALOG};
pub use sign::SigningMode;
pub use subject::Subject;

/// Where a delivery goes when none is named: `tollgate webhooks serve`'s default address.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:4242/webhook";

/// One delivery as the history keeps it: the exact request and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Delivery {
    #[ts(type = "number")]
    pub id: i64,
    /// Groups the deliveries of one send, scenario or burst.
    pub run_id: String,
    pub scenario: Option<String>,
    /// The step within the scenario (0 for a single send).
    pub step: u32,
    /// 1 for the first try, then each retry asked for.
    pub attempt: u32,
    /// The delivery this one replayed.
    #[ts(type = "number | null")]
    pub replay_of: Option<i64>,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    pub org_id: Option<String>,
    pub mode: SigningMode,
    /// The headers sent, in order.
    pub request_headers: Vec<(String, String)>,
    /// The exact body sent.
    pub body: String,
    /// While a burst is recorded: the body is the run's first one with this event id (the
    /// history stores it once and gives it back whole).
    #[serde(skip)]
    #[ts(skip)]
    pub body_shared: bool,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// The first [`deliver::MAX_RESPONSE_BODY`] bytes of the answer.
    pub response_body: Option<String>,
    pub response_truncated: bool,
    /// Why there was no answer (timeout, refused, DNS), or what the answer means.
    pub error: Option<String>,
    #[ts(type = "number | null")]
    pub latency_us: Option<i64>,
    /// Local milliseconds when the request left.
    #[ts(type = "number")]
    pub sent_at_ms: i64,
    /// Whether the endpoint answered as a correct one would: 2xx for a validly signed event,
    /// 4xx for any other mode.
    pub as_expected: bool,
}

/// The body as sent: JSON text, shared so that a retry or a duplicate does not copy it.
pub type Body = std::sync::Arc<str>;

/// Whether an answer is what a correct endpoint gives: 2xx to a valid signature, 4xx (a
/// refusal, not a crash) to any other mode.
pub fn as_expected(mode: SigningMode, status: Option<u16>) -> bool {
    match status {
        Some(s) if mode.expects_acceptance() => (200..300).contains(&s),
        Some(s) => (400..500).contains(&s),
        None => false,
    }
}

/// `body` with its event id `from` written as `to` (the first `"id":"<from>"`): how a burst's
/// copies are made from its first event, and how the history gives a copy's body back, so
/// the two cannot disagree. `None` when the body does not hold that id.
pub fn with_event_id(body: &str, from: &str, to: &str) -> Option<String> {
    let quoted = |id: &str| format!("\"id\":{}", serde_json::Value::String(id.to_owned()));
    let needle = quoted(from);
    body.contains(&needle)
        .then(|| body.replacen(&needle, &quoted(to), 1))
}

/// A random Stripe-looking id: `prefix_` and 24 base62 characters.
pub fn random_id(prefix: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let bytes = a.as_bytes().iter().chain(b.as_bytes().iter());
    let tail: String = bytes
        .take(24)
        .map(|x| BASE62[(*x as usize) % 62] as char)
        .collect();
    format!("{prefix}_{tail}")
}
