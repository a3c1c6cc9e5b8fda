//! Customers (an organization each, `metadata[organization_id]`).

use serde_json::{json, Value};

use super::{merge_metadata, previous_attributes, s, Call};
use crate::error::StripeError;
use crate::listing;
use crate::params::{check, check_list, opt, Kind, P};
use crate::world::{template, World};

const CUSTOMER: &[P] = &[
    opt("email", Kind::Str),
    opt("name", Kind::Str),
    opt("description", Kind::Str),
    opt("phone", Kind::Str),
    opt("metadata", Kind::Metadata),
    opt("preferred_locales", Kind::Arr(&Kind::Str, 10)),
    opt("payment_method", Kind::Str),
];
const FIELDS: &[&str] = &[
    "email",
    "name",
    "description",
    "phone",
    "metadata",
    "preferred_locales",
];

fn apply(obj: &mut Value, p: &serde_json::Map<String, Value>) {
    for f in FIELDS {
        if *f != "metadata" {
            if let Some(v) = p.get(*f) {
                obj[*f] = if v == "" { Value::Null } else { v.clone() };
            }
        }
    }
    merge_metadata(obj, p.get("metadata"));
}

/// Builds a customer (used by the API and by checkout, which creates one).
pub fn new_customer(w: &mut World, p: &serde_json::Map<String, Value>) -> Value {
    let id = w.new_id("cus");
    let mut obj = template("customer");
    obj["id"] = json!(id);
    obj["created"] = json!(w.now());
    obj["livemode"] = json!(false);
    obj["balance"] = json!(0);
    obj["next_invoice_sequence"] = json!(1);
    obj["delinquent"] = json!(false);
    obj["metadata"] = json!({});
    obj["email"] = Value::Null;
    obj["name"] = Value::Null;
    obj["description"] = Value::Null;
    obj["phone"] = Value::Null;
    obj["currency"] = Value::Null;
    obj["preferred_locales"] = json!([]);
    obj["invoice_prefix"] = json!(id[4..12].to_ascii_uppercase());
    apply(&mut obj, p);
    obj
}

pub fn create(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(CUSTOMER, c.params.clone(), "")?;
    let obj = new_customer(w, &p);
    let obj = w.insert(obj);
    w.emit("customer.created", &obj, None, c.origin());
    Ok(obj)
}

pub fn update(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let p = check(CUSTOMER, c.params.clone(), "")?;
    let obj = w.find_mut(id, "customer", "customer", Some("id"))?;
    let before = obj.clone();
    apply(obj, &p);
    let after = obj.clone();
    let prev = previous_attributes(&before, &after, FIELDS);
    if prev.as_object().is_some_and(|m| !m.is_empty()) {
        w.emit("customer.updated", &after, Some(prev), c.origin());
    }
    Ok(after)
}

pub fn delete(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(&[], c.params.clone(), "")?;
    w.find(id, "customer", "customer", Some("id"))?;
    // Deleting a customer cancels its subscriptions at once, as Stripe does.
    let subs: Vec<String> = w
        .subscriptions_of(id)
        .iter()
        .filter(|sid| {
            w.objects.get(*sid).is_some_and(|s| {
                !["canceled", "incomplete_expired"]
                    .contains(&s["status"].as_str().unwrap_or_default())
            })
        })
        .cloned()
        .collect();
    for sid in subs {
        let now = w.now();
        super::billing::cancel_now(w, Some(c), &sid, "cancellation_requested", now)?;
    }
    let obj = w.objects.get_mut(id).expect("found above");
    obj["deleted"] = json!(true);
    let snapshot = obj.clone();
    w.emit("customer.deleted", &snapshot, None, c.origin());
    Ok(json!({ "id": id, "object": "customer", "deleted": true }))
}

pub fn list<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(&[opt("email", Kind::Str)], c.params.clone())?;
    listing::page(w, "customer", &c.path, &common, |o| {
        f.get("email")
            .is_none_or(|e| s(&f, "email").is_some() && &o["email"] == e)
    })
}
