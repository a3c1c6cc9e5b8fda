//! Stripe's resources, one module per area. Each handler takes the world and the call, checks
//! the parameters against its schema, changes the world, records the events Stripe would send,
//! and returns Stripe's JSON.

pub mod billing;
pub mod catalog;
pub mod customers;
pub mod events;
pub mod payments;

use serde_json::{Map, Value};

/// One API request, as the handlers see it.
pub struct Call {
    /// Decoded parameters (query and body), not yet checked.
    pub params: Map<String, Value>,
    pub request_id: String,
    pub idempotency_key: Option<String>,
    /// The request path, for a list's `url`.
    pub path: String,
}

impl Call {
    /// `request` for the events this call causes.
    pub fn origin(&self) -> Option<(&str, Option<&str>)> {
        Some((self.request_id.as_str(), self.idempotency_key.as_deref()))
    }
}

/// Merges Stripe metadata: a key set to "" is removed; `metadata=""` clears all.
pub fn merge_metadata(target: &mut Value, update: Option<&Value>) {
    match update {
        None => {}
        Some(Value::String(s)) if s.is_empty() => target["metadata"] = Value::Object(Map::new()),
        Some(Value::Object(m)) => {
            if !target["metadata"].is_object() {
                target["metadata"] = Value::Object(Map::new());
            }
            let meta = target["metadata"].as_object_mut().expect("object");
            for (k, v) in m {
                if v.as_str() == Some("") {
                    meta.remove(k);
                } else {
                    meta.insert(k.clone(), v.clone());
                }
            }
        }
        Some(_) => {}
    }
}

/// The fields of `after` that differ from `before`, as `previous_attributes` holds them.
pub fn previous_attributes(before: &Value, after: &Value, fields: &[&str]) -> Value {
    let mut prev = Map::new();
    for f in fields {
        if before.get(*f) != after.get(*f) {
            prev.insert(
                (*f).to_owned(),
                before.get(*f).cloned().unwrap_or(Value::Null),
            );
        }
    }
    Value::Object(prev)
}

pub fn s<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}
