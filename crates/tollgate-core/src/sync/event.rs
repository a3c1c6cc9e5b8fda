//! A Stripe event as the ledger records it, and what it touches: which mirrored objects must be
//! read again from Stripe. Parsed from the raw JSON so any type and API version is recorded.

use serde_json::Value;

use super::objects::{customer_of, invoice_subscription};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Subscription,
    Customer,
    CheckoutSession,
    Entitlements,
    Catalog,
    /// An appointment's destination charge, for the commission ledger.
    Charge,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Subscription => "subscription",
            Kind::Customer => "customer",
            Kind::CheckoutSession => "checkout_session",
            Kind::Entitlements => "entitlements",
            Kind::Catalog => "catalog",
            Kind::Charge => "charge",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "subscription" => Kind::Subscription,
            "customer" => Kind::Customer,
            "checkout_session" => Kind::CheckoutSession,
            "entitlements" => Kind::Entitlements,
            "catalog" => Kind::Catalog,
            "charge" => Kind::Charge,
            _ => return None,
        })
    }
}

/// The one dirty mark the whole catalog shares: a catalog event re-reads the catalog once.
pub const CATALOG: &str = "catalog";

/// An event, parsed enough to record and route it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    pub api_version: Option<String>,
    pub object_id: Option<String>,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    /// The objects to read again, with their kind.
    pub touches: Vec<(Kind, String)>,
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    Json(String),
    #[error("the body is not a Stripe event: {0}")]
    NotAnEvent(&'static str),
}

impl Event {
    /// Parses a raw event body (as delivered or listed).
    pub fn parse(raw: &str) -> Result<Event, EventError> {
        let v: Value = serde_json::from_str(raw).map_err(|e| EventError::Json(e.to_string()))?;
        Event::from_value(&v, raw.to_owned())
    }

    pub fn from_value(v: &Value, raw: String) -> Result<Event, EventError> {
        if v["object"] != "event" {
            return Err(EventError::NotAnEvent("`object` is not \"event\""));
        }
        let id = v["id"]
            .as_str()
            .filter(|s| s.starts_with("evt_"))
            .ok_or(EventError::NotAnEvent("`id` is not an evt_ id"))?
            .to_owned();
        let event_type = v["type"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or(EventError::NotAnEvent("`type` is missing"))?
            .to_owned();
        let created = super::objects::time(&v["created"], "created")
            .ok()
            .flatten()
            .ok_or(EventError::NotAnEvent(
                "`created` is not a timestamp (UTC seconds, 0 to 253402300799)",
            ))?;
        let object = &v["data"]["object"];
        if !object.is_object() {
            return Err(EventError::NotAnEvent("`data.object` is missing"));
        }
        let object_id = object["id"].as_str().map(str::to_owned);
        let customer = customer_of(object);
        let (subscription, touches) = route(
            &event_type,
            object,
            object_id.as_deref(),
            customer.as_deref(),
        );
        Ok(Event {
            id,
            event_type,
            created,
            livemode: v["livemode"].as_bool().unwrap_or(false),
            api_version: v["api_version"].as_str().map(str::to_owned),
            object_id,
            customer,
            subscription,
            touches,
            raw,
        })
    }

    pub fn is_recorded_only(&self) -> bool {
        self.touches.is_empty()
    }
}

/// A recorded event's `data.object`, for applying its payload when Stripe cannot be read.
pub(crate) fn payload_object(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw)
        .map(|mut v| v["data"]["object"].take())
        .unwrap_or(Value::Null)
}

/// An id Stripe gives as a string, or inside an expanded object.
/// A whole charge or payment intent with no destination: `transfer_data` is there (Stripe
/// always sends it, null when there is none) and names no account, and no `destination`.
fn without_destination(object: &Value) -> bool {
    let names = |v: &Value| match v {
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => o.get("id").is_some_and(Value::is_string),
        _ => false,
    };
    object.get("transfer_data").is_some()
        && !names(&object["transfer_data"]["destination"])
        && !names(&object["destination"])
}

fn id_at(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.starts_with("ch_") || s.starts_with("py_") => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn route(
    event_type: &str,
    object: &Value,
    object_id: Option<&str>,
    customer: Option<&str>,
) -> (Option<String>, Vec<(Kind, String)>) {
    let mut touches = Vec::new();
    let own = |k: Kind| object_id.map(|id| (k, id.to_owned()));
    let prefix = event_type.rsplit_once('.').map_or(event_type, |(p, _)| p);
    let mut subscription = None;
    match prefix {
        "customer.subscription" => {
            subscription = object_id.map(str::to_owned);
            touches.extend(own(Kind::Subscription));
        }
        "customer" => touches.extend(own(Kind::Customer)),
        "invoice" => {
            subscription = invoice_subscription(object);
            if let Some(s) = &subscription {
                touches.push((Kind::Subscription, s.clone()));
            }
        }
        "checkout.session" if event_type == "checkout.session.completed" => {
            touches.extend(own(Kind::CheckoutSession));
            if let Some(s) = object["subscription"].as_str() {
                subscription = Some(s.to_owned());
                touches.push((Kind::Subscription, s.to_owned()));
            }
        }
        "entitlements.active_entitlement_summary" => {
            if let Some(c) = customer {
                touches.push((Kind::Entitlements, c.to_owned()));
            }
        }
        "product" | "price" | "entitlements.feature" | "product.feature" => {
            touches.push((Kind::Catalog, CATALOG.to_owned()))
        }
        // The commission ledger reads the charge: it carries the fee, the transfer and its
        // refunds, whichever of its events arrives first or alone. A charge (or payment
        // intent) that shows it has no destination is never a commission (the destination is
        // fixed when a charge is made): the renewal of ten thousand subscriptions costs no
        // reads of their charges.
        "charge" if !without_destination(object) => touches.extend(own(Kind::Charge)),
        "charge.refund" | "refund" => {
            touches.extend(id_at(&object["charge"]).map(|c| (Kind::Charge, c)))
        }
        "application_fee" => touches.extend(
            id_at(&object["originating_transaction"])
                .or_else(|| id_at(&object["charge"]))
                .map(|c| (Kind::Charge, c)),
        ),
        "transfer" => {
            touches.extend(id_at(&object["source_transaction"]).map(|c| (Kind::Charge, c)))
        }
        "payment_intent"
            if event_type == "payment_intent.succeeded" && !without_destination(object) =>
        {
            touches.extend(id_at(&object["latest_charge"]).map(|c| (Kind::Charge, c)))
        }
        _ => {}
    }
    // A subscription's or purchase's customer is not marked here: customer.* events mark it
    // when it changes, and writing a subscription or purchase whose customer the store does not
    // know marks that customer then. Marking it on every event doubled the door's writes.
    (subscription, touches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(t: &str, object: Value) -> Event {
        let v = json!({"id": "evt_1", "object": "event", "type": t, "created": 100, "livemode": false,
            "api_version": "2025-03-31.basil", "data": {"object": object}});
        Event::from_value(&v, v.to_string()).unwrap()
    }

    #[test]
    fn events_route_to_the_objects_they_touch() {
        let e = ev(
            "customer.subscription.updated",
            json!({"id": "sub_1", "object": "subscription", "customer": "cus_1"}),
        );
        assert_eq!(e.touches, vec![(Kind::Subscription, "sub_1".into())]);
        let e = ev(
            "invoice.paid",
            json!({"id": "in_1", "object": "invoice", "customer": "cus_1",
            "parent": {"subscription_details": {"subscription": "sub_2"}}}),
        );
        assert_eq!(e.subscription.as_deref(), Some("sub_2"));
        assert_eq!(e.touches[0], (Kind::Subscription, "sub_2".into()));
        let e = ev("price.updated", json!({"id": "price_1", "object": "price"}));
        assert_eq!(e.touches, vec![(Kind::Catalog, CATALOG.into())]);
        let e = ev(
            "entitlements.active_entitlement_summary.updated",
            json!({"object": "entitlements.active_entitlement_summary", "customer": "cus_9"}),
        );
        assert_eq!(e.touches, vec![(Kind::Entitlements, "cus_9".into())]);
        let e = ev(
            "charge.succeeded",
            json!({"id": "ch_1", "object": "charge"}),
        );
        assert_eq!(e.touches, vec![(Kind::Charge, "ch_1".into())]);
        for (t, object) in [
            (
                "charge.refund.updated",
                json!({"id": "re_1", "object": "refund", "charge": "ch_1"}),
            ),
            (
                "application_fee.created",
                json!({"id": "fee_1", "object": "application_fee", "charge": "ch_1", "originating_transaction": "ch_1"}),
            ),
            (
                "transfer.created",
                json!({"id": "tr_1", "object": "transfer", "source_transaction": "ch_1"}),
            ),
            (
                "payment_intent.succeeded",
                json!({"id": "pi_1", "object": "payment_intent", "latest_charge": "ch_1"}),
            ),
        ] {
            assert_eq!(
                ev(t, object).touches,
                vec![(Kind::Charge, "ch_1".into())],
                "{t}"
            );
        }
        // A charge or payment intent that shows no destination is not a commission: no read.
        for (t, object) in [
            (
                "charge.succeeded",
                json!({"id": "ch_2", "object": "charge", "transfer_data": null}),
            ),
            (
                "payment_intent.succeeded",
                json!({"id": "pi_2", "object": "payment_intent", "latest_charge": "ch_2", "transfer_data": null}),
            ),
        ] {
            assert!(ev(t, object).touches.is_empty(), "{t}");
        }
        let e = ev(
            "charge.succeeded",
            json!({"id": "ch_3", "object": "charge", "transfer_data": {"destination": "acct_1"}}),
        );
        assert_eq!(e.touches, vec![(Kind::Charge, "ch_3".into())]);
        let e = ev("payout.paid", json!({"id": "po_1", "object": "payout"}));
        assert!(
            e.is_recorded_only(),
            "unknown types are recorded and acknowledged"
        );
    }

    #[test]
    fn what_is_not_an_event_is_refused_with_the_reason() {
        assert!(matches!(Event::parse("{"), Err(EventError::Json(_))));
        assert_eq!(
            Event::parse(r#"{"object":"event","id":"x"}"#),
            Err(EventError::NotAnEvent("`id` is not an evt_ id"))
        );
        assert_eq!(
            Event::parse(r#"{"object":"event","id":"evt_1","type":"a.b","created":1}"#),
            Err(EventError::NotAnEvent("`data.object` is missing"))
        );
    }
}
