//! How answers are shaped on the way out.
//!
//! - As Stripe does always: a subscription embeds its first 10 items, with `has_more` and the
//!   `/v1/subscription_items` URL for the rest (the state keeps them all).
//! - `foreign` (`--dialect foreign`, or `POST /_sandbox/dialect mode=foreign`): the sandbox
//!   plays a Stripe that is not Tollgate's own, as a third-party emulator or an account of
//!   another API version would: products lack fields newer versions carry (`images`,
//!   `marketing_features`, `package_dimensions`, `tax_code`, `unit_label`, `updated`), every
//!   object carries a field no version has, and a subscription whose metadata has
//!   `foreign_status` shows that as its status (an enum value no client knows yet).

use serde_json::{json, Value};

/// Stripe embeds this many of a subscription's items.
pub const EMBEDDED_ITEMS: usize = 10;

const PRODUCT_FIELDS_DROPPED: [&str; 6] = [
    "images",
    "marketing_features",
    "package_dimensions",
    "tax_code",
    "unit_label",
    "updated",
];

pub(crate) fn shape(v: &mut Value, foreign: bool) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| shape(x, foreign)),
        Value::Object(o) => {
            for x in o.values_mut() {
                shape(x, foreign);
            }
            let object = o.get("object").and_then(Value::as_str).map(str::to_owned);
            if object.as_deref() == Some("subscription") {
                if let Some(items) = o.get_mut("items").and_then(Value::as_object_mut) {
                    if let Some(Value::Array(data)) = items.get_mut("data") {
                        if data.len() > EMBEDDED_ITEMS {
                            data.truncate(EMBEDDED_ITEMS);
                            items.insert("has_more".into(), json!(true));
                        }
                    }
                }
            }
            if !foreign || object.is_none() || object.as_deref() == Some("list") {
                return;
            }
            if object.as_deref() == Some("product") {
                for k in PRODUCT_FIELDS_DROPPED {
                    o.remove(k);
                }
            }
            if object.as_deref() == Some("subscription") {
                if let Some(s) = o["metadata"]["foreign_status"].as_str().map(str::to_owned) {
                    o.insert("status".into(), json!(s));
                }
            }
            o.insert(
                "x_unreleased_field".into(),
                json!({"added_in": "an API version this client has not seen", "values": [1, 2, 3]}),
            );
        }
        _ => {}
    }
}

/// Whether [`shape`] would change `v` (so that most values need no copy to be shaped).
pub(crate) fn changes(v: &Value, foreign: bool) -> bool {
    if foreign {
        return true;
    }
    match v {
        Value::Array(a) => a.iter().any(|x| changes(x, foreign)),
        Value::Object(o) => {
            (o.get("object").and_then(Value::as_str) == Some("subscription")
                && o.get("items")
                    .and_then(|i| i.get("data"))
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.len() > EMBEDDED_ITEMS))
                || o.values().any(|x| changes(x, foreign))
        }
        _ => false,
    }
}

/// Whether an answer to `path` needs shaping at all (most lists are served as they are, for
/// speed).
pub(crate) fn wanted(path: &str, foreign: bool) -> bool {
    foreign || path.contains("subscription") || path.starts_with("/v1/events")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub_with(items: usize) -> Value {
        let data: Vec<Value> = (0..items)
            .map(|i| json!({ "id": format!("si_{i}") }))
            .collect();
        json!({ "object": "subscription", "items": { "object": "list", "data": data, "has_more": false } })
    }

    #[test]
    fn changes_says_whether_shape_would_change_a_value() {
        let cases = [
            (sub_with(3), false),
            (sub_with(EMBEDDED_ITEMS), false),
            (sub_with(EMBEDDED_ITEMS + 1), true),
            (
                json!({ "object": "event", "data": { "object": sub_with(12) } }),
                true,
            ),
            (
                json!({ "object": "event", "data": { "object": sub_with(2) } }),
                false,
            ),
            (
                json!({ "object": "list", "data": [sub_with(1), sub_with(11)] }),
                true,
            ),
            (
                json!({ "object": "invoice", "lines": { "data": [] } }),
                false,
            ),
        ];
        for (v, expected) in cases {
            let mut shaped = v.clone();
            shape(&mut shaped, false);
            assert_eq!(changes(&v, false), expected, "{v}");
            assert_eq!(shaped != v, expected, "{v}");
            assert!(
                changes(&v, true),
                "the foreign dialect changes every object"
            );
        }
    }
}
