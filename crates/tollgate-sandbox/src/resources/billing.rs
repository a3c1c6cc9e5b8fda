//! Subscriptions, invoices, checkout sessions, and what time does to them (renewals, trial
//! ends, cancellations at period end, incomplete subscriptions expiring).

use chrono::{DateTime, Months};
use serde_json::{json, Map, Value};

use super::catalog::{customer_feature_ids, emit_entitlements_if_changed};
use super::{merge_metadata, previous_attributes, s, Call};
use crate::error::StripeError;
use crate::listing;
use crate::params::{check, check_list, opt, req, Kind, P};
use crate::world::{template, PaymentOutcome, World};

const PAYMENT_BEHAVIORS: Kind = Kind::Enum(&[
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
]);
const PRORATION_BEHAVIORS: Kind = Kind::Enum(&["create_prorations", "none", "always_invoice"]);
const CANCELLATION_DETAILS: Kind =
    Kind::Obj(&[opt("comment", Kind::Str), opt("feedback", Kind::Str)]);

const LIVE_STATUSES: &[&str] = &[
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "paused",
    "incomplete",
];
const SUB_FIELDS: &[&str] = &[
    "status",
    "items",
    "cancel_at_period_end",
    "cancel_at",
    "canceled_at",
    "ended_at",
    "metadata",
    "pause_collection",
    "trial_end",
    "latest_invoice",
    "description",
    "default_payment_method",
];

fn origin(c: Option<&Call>) -> Option<(&str, Option<&str>)> {
    c.and_then(Call::origin)
}

/// `start` plus `count` intervals, by the calendar (month ends clamp, as Stripe's do).
pub fn add_interval(start: i64, interval: &str, count: i64) -> i64 {
    let count = count.max(1);
    let t = DateTime::from_timestamp(start, 0).unwrap_or_default();
    let next = match interval {
        "day" => Some(t + chrono::Duration::days(count)),
        "week" => Some(t + chrono::Duration::weeks(count)),
        "year" => t.checked_add_months(Months::new(12 * count as u32)),
        _ => t.checked_add_months(Months::new(count as u32)),
    };
    next.map(|d| d.timestamp()).unwrap_or(start)
}

/// When a period that starts at `from` ends, for this recurring price.
fn period_end(price: &Value, from: i64) -> i64 {
    let interval = price["recurring"]["interval"].as_str().unwrap_or("month");
    let count = price["recurring"]["interval_count"].as_i64().unwrap_or(1);
    add_interval(from, interval, count)
}

/// The customer's next payment: what `/_sandbox/` set for it (once), else success.
pub fn take_outcome(w: &mut World, customer: &str) -> PaymentOutcome {
    w.next_payment
        .remove(customer)
        .unwrap_or(PaymentOutcome::Succeed)
}

/// The legacy `plan` object Stripe still nests beside an item's price.
pub fn plan_from_price(price: &Value) -> Value {
    json!({
        "id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit", "created": price["created"],
        "currency": price["currency"], "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"], "livemode": false, "metadata": price["metadata"],
        "meter": null, "nickname": price["nickname"], "product": price["product"], "tiers_mode": null,
        "transform_usage": null, "trial_period_days": null, "usage_type": "licensed",
    })
}

fn new_item(
    w: &mut World,
    sub_id: &str,
    price: &Value,
    quantity: i64,
    start: i64,
    end: i64,
) -> Value {
    let mut it = template("subscription_item");
    it["id"] = json!(w.new_id("si"));
    it["object"] = json!("subscription_item");
    it["created"] = json!(start);
    it["subscription"] = json!(sub_id);
    it["price"] = price.clone();
    it["plan"] = plan_from_price(price);
    it["quantity"] = json!(quantity);
    it["metadata"] = json!({});
    it["current_period_start"] = json!(start);
    it["current_period_end"] = json!(end);
    it["discounts"] = json!([]);
    it["tax_rates"] = json!([]);
    it["billing_thresholds"] = Value::Null;
    it
}

fn period(sub: &Value) -> (i64, i64) {
    let item = &sub["items"]["data"][0];
    (
        item["current_period_start"].as_i64().unwrap_or(0),
        item["current_period_end"].as_i64().unwrap_or(0),
    )
}

fn set_period(sub: &mut Value, start: i64, end: i64) {
    for item in sub["items"]["data"].as_array_mut().into_iter().flatten() {
        item["current_period_start"] = json!(start);
        item["current_period_end"] = json!(end);
    }
}

fn sub_amount(sub: &Value) -> i64 {
    sub["items"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            i["price"]["unit_amount"].as_i64().unwrap_or(0) * i["quantity"].as_i64().unwrap_or(1)
        })
        .sum()
}

/// Creates a finalized invoice for the subscription's current period and tries to collect it.
/// Returns its id and whether it was paid.
fn invoice_period(
    w: &mut World,
    c: Option<&Call>,
    sub: &Value,
    reason: &str,
    amount: i64,
    outcome: PaymentOutcome,
) -> (String, bool) {
    let now = w.now();
    let (start, end) = period(sub);
    let customer = sub["customer"].as_str().unwrap_or_default().to_owned();
    // What the invoice copies of its customer (not the whole customer).
    let cust = w
        .objects
        .get(&customer)
        .map(|c| {
            json!({
                "email": c["email"], "name": c["name"], "invoice_prefix": c["invoice_prefix"],
                "next_invoice_sequence": c["next_invoice_sequence"],
            })
        })
        .unwrap_or(Value::Null);
    let id = w.new_id("in");
    let paid = amount == 0 || outcome == PaymentOutcome::Succeed;
    let mut inv = template("invoice");
    let lines: Vec<Value> = sub["items"]["data"].as_array().into_iter().flatten().map(|item| {
        let mut line = template("line_item");
        line["id"] = json!(format!("il_{}", &item["id"].as_str().unwrap_or("si_x")[3..]));
        line["object"] = json!("line_item");
        line["amount"] = json!(item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1));
        line["currency"] = item["price"]["currency"].clone();
        line["description"] = json!(format!("{} × {}", item["quantity"], item["price"]["nickname"].as_str().unwrap_or("subscription")));
        line["invoice"] = json!(id);
        line["livemode"] = json!(false);
        line["metadata"] = json!({});
        line["period"] = json!({ "start": start, "end": end });
        line["quantity"] = item["quantity"].clone();
        line["pricing"] = json!({ "type": "price_details", "price_details": { "price": item["price"]["id"], "product": item["price"]["product"] }, "unit_amount_decimal": item["price"]["unit_amount_decimal"] });
        line["parent"] = json!({ "type": "subscription_item_details", "subscription_item_details": { "subscription": sub["id"], "subscription_item": item["id"], "proration": false, "invoice_item": null, "proration_details": { "credited_items": null } }, "invoice_item_details": null });
        line
    }).collect();
    let count = cust["next_invoice_sequence"].as_i64().unwrap_or(1) - 1;
    if let Some(c) = w.objects.get_mut(&customer) {
        c["next_invoice_sequence"] = json!(count + 2);
    }
    inv["id"] = json!(id);
    inv["object"] = json!("invoice");
    inv["created"] = json!(now);
    inv["customer"] = json!(customer);
    inv["customer_email"] = cust["email"].clone();
    inv["customer_name"] = cust["name"].clone();
    inv["currency"] = sub["currency"].clone();
    inv["livemode"] = json!(false);
    inv["billing_reason"] = json!(reason);
    inv["collection_method"] = json!("charge_automatically");
    inv["parent"] = json!({ "type": "subscription_details", "quote_details": null, "subscription_details": { "subscription": sub["id"], "metadata": sub["metadata"] } });
    inv["lines"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines") });
    inv["lines"]["data"] = Value::Array(lines);
    inv["period_start"] = json!(start);
    inv["period_end"] = json!(end);
    inv["subtotal"] = json!(amount);
    inv["total"] = json!(amount);
    inv["amount_due"] = json!(amount);
    inv["amount_paid"] = json!(if paid { amount } else { 0 });
    inv["amount_remaining"] = json!(if paid { 0 } else { amount });
    inv["attempt_count"] = json!(if amount == 0 { 0 } else { 1 });
    inv["attempted"] = json!(amount > 0);
    inv["status"] = json!(if paid { "paid" } else { "open" });
    inv["number"] = json!(format!(
        "{}-{:04}",
        cust["invoice_prefix"].as_str().unwrap_or("SBX"),
        count + 1
    ));
    inv["metadata"] = json!({});
    inv["effective_at"] = json!(now);
    inv["status_transitions"] = json!({ "finalized_at": now, "marked_uncollectible_at": null, "paid_at": if paid { json!(now) } else { Value::Null }, "voided_at": null });
    inv["next_payment_attempt"] = if paid {
        Value::Null
    } else {
        json!(now + 3 * 86400)
    };
    inv["hosted_invoice_url"] = json!(format!("https://invoice.stripe.com/i/{id}"));
    inv["invoice_pdf"] = json!(format!("https://pay.stripe.com/invoice/{id}/pdf"));
    w.store(inv);
    w.emit_stored("invoice.created", &id, None, origin(c));
    w.emit_stored("invoice.finalized", &id, None, origin(c));
    if paid {
        w.emit_stored("invoice.paid", &id, None, origin(c));
        w.emit_stored("invoice.payment_succeeded", &id, None, origin(c));
    } else {
        w.emit_stored("invoice.payment_failed", &id, None, origin(c));
    }
    (id, paid)
}

const ITEM: &[P] = &[
    opt("price", Kind::Str),
    opt("quantity", Kind::Int),
    opt("metadata", Kind::Metadata),
];
const SUB_CREATE: &[P] = &[
    req("customer", Kind::Str),
    req("items", Kind::Arr(&Kind::Obj(ITEM), 20)),
    opt("trial_period_days", Kind::Int),
    opt("trial_end", Kind::Int),
    opt(
        "trial_settings",
        Kind::Obj(
            const {
                &[req(
                    "end_behavior",
                    Kind::Obj(
                        const {
                            &[req(
                                "missing_payment_method",
                                Kind::Enum(&["cancel", "create_invoice", "pause"]),
                            )]
                        },
                    ),
                )]
            },
        ),
    ),
    opt("cancel_at_period_end", Kind::Bool),
    opt("metadata", Kind::Metadata),
    opt("description", Kind::Str),
    opt("collection_method", Kind::Enum(&["charge_automatically"])),
    opt("payment_behavior", PAYMENT_BEHAVIORS),
    opt("default_payment_method", Kind::Str),
    opt("proration_behavior", PRORATION_BEHAVIORS),
    opt("application_fee_percent", Kind::Str),
];

struct NewSub<'a> {
    customer: &'a str,
    items: Vec<(Value, i64)>,
    trial_end: Option<i64>,
    pause_on_trial_failure: bool,
    cancel_at_period_end: bool,
    metadata: Option<&'a Value>,
    description: Option<&'a str>,
    payment_behavior: &'a str,
}

fn resolve_items(w: &World, items: &[Value]) -> Result<Vec<(Value, i64)>, StripeError> {
    if items.is_empty() {
        return Err(StripeError::missing_param("items"));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let param = format!("items[{i}][price]");
        let pid = item["price"]
            .as_str()
            .ok_or_else(|| StripeError::missing_param(&param))?;
        let price = w.find(pid, "price", "price", Some(&param))?.clone();
        if price["active"] == false {
            return Err(StripeError::invalid_state(Some(&param), format!("The price specified is inactive. This field only accepts active prices. ({pid})")));
        }
        if price["type"] != "recurring" {
            return Err(StripeError::invalid_state(Some(&param), format!("The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`. ({pid})")));
        }
        let qty = item["quantity"].as_i64().unwrap_or(1);
        if qty < 1 {
            return Err(StripeError::invalid_param(
                &format!("items[{i}][quantity]"),
                "Invalid quantity: must be at least 1".into(),
            ));
        }
        out.push((price, qty));
    }
    let first = &out[0].0;
    for (p, _) in &out[1..] {
        if p["currency"] != first["currency"]
            || p["recurring"]["interval"] != first["recurring"]["interval"]
            || p["recurring"]["interval_count"] != first["recurring"]["interval_count"]
        {
            return Err(StripeError::invalid_state(Some("items"), "All prices on a subscription must have the same `currency` and `recurring[interval]`.".into()));
        }
    }
    Ok(out)
}

fn create_subscription(w: &mut World, c: Option<&Call>, n: NewSub) -> Result<Value, StripeError> {
    w.find(n.customer, "customer", "customer", Some("customer"))?;
    let entitlements_before = customer_feature_ids(w, n.customer);
    let now = w.now();
    let id = w.new_id("sub");
    let first = n.items[0].0.clone();
    let end = n.trial_end.unwrap_or_else(|| period_end(&first, now));
    let items: Vec<Value> = n
        .items
        .iter()
        .map(|(p, q)| new_item(w, &id, p, *q, now, end))
        .collect();
    let mut sub = template("subscription");
    sub["id"] = json!(id);
    sub["object"] = json!("subscription");
    sub["customer"] = json!(n.customer);
    sub["created"] = json!(now);
    sub["start_date"] = json!(now);
    sub["billing_cycle_anchor"] = json!(end.max(now));
    sub["currency"] = first["currency"].clone();
    sub["livemode"] = json!(false);
    sub["items"] = json!({ "object": "list", "data": [], "has_more": false, "total_count": n.items.len(), "url": format!("/v1/subscription_items?subscription={id}") });
    sub["items"]["data"] = Value::Array(items);
    sub["cancel_at_period_end"] = json!(n.cancel_at_period_end);
    sub["cancel_at"] = if n.cancel_at_period_end {
        json!(end)
    } else {
        Value::Null
    };
    sub["canceled_at"] = Value::Null;
    sub["ended_at"] = Value::Null;
    sub["collection_method"] = json!("charge_automatically");
    sub["description"] = n.description.map(|d| json!(d)).unwrap_or(Value::Null);
    sub["metadata"] = json!({});
    sub["pause_collection"] = Value::Null;
    sub["default_payment_method"] = Value::Null;
    sub["trial_start"] = if n.trial_end.is_some() {
        json!(now)
    } else {
        Value::Null
    };
    sub["trial_end"] = n.trial_end.map(|t| json!(t)).unwrap_or(Value::Null);
    sub["trial_settings"] = json!({ "end_behavior": { "missing_payment_method": if n.pause_on_trial_failure { "pause" } else { "create_invoice" } } });
    sub["cancellation_details"] = json!({ "comment": null, "feedback": null, "reason": null });
    merge_metadata(&mut sub, n.metadata);
    let amount = sub_amount(&sub);
    let outcome = if n.trial_end.is_some() || amount == 0 {
        PaymentOutcome::Succeed
    } else {
        take_outcome(w, n.customer)
    };
    if outcome == PaymentOutcome::Fail && n.payment_behavior == "error_if_incomplete" {
        return Err(StripeError::card_declined("Your card was declined."));
    }
    sub["status"] = json!(match (n.trial_end.is_some(), outcome, n.payment_behavior) {
        (true, _, _) => "trialing",
        (false, _, "default_incomplete") => "incomplete",
        (false, PaymentOutcome::Succeed, _) => "active",
        (false, PaymentOutcome::Fail, _) => "incomplete",
    });
    let sub = w.insert(sub);
    w.emit("customer.subscription.created", &sub, None, origin(c));
    let invoice_amount = if n.trial_end.is_some() { 0 } else { amount };
    let collect = if n.payment_behavior == "default_incomplete" && invoice_amount > 0 {
        PaymentOutcome::Fail
    } else {
        outcome
    };
    let (inv, _) = invoice_period(w, c, &sub, "subscription_create", invoice_amount, collect);
    let stored = w.objects.get_mut(&id).expect("just inserted");
    stored["latest_invoice"] = json!(inv);
    let sub = stored.clone();
    emit_entitlements_if_changed(w, c, n.customer, &entitlements_before);
    Ok(sub)
}

pub fn create(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(SUB_CREATE, c.params.clone(), "")?;
    let items = resolve_items(w, p["items"].as_array().map(Vec::as_slice).unwrap_or(&[]))?;
    let now = w.now();
    let trial_end = match (
        p.get("trial_period_days").and_then(Value::as_i64),
        p.get("trial_end").and_then(Value::as_i64),
    ) {
        (Some(_), Some(_)) => {
            return Err(StripeError::invalid_state(
                Some("trial_end"),
                "You may only specify one of these parameters: trial_end, trial_period_days."
                    .into(),
            ))
        }
        (Some(d), None) if !(1..=730).contains(&d) => {
            return Err(StripeError::invalid_param(
                "trial_period_days",
                "Invalid trial_period_days: must be between 1 and 730".into(),
            ))
        }
        (Some(d), None) => Some(now + d * 86400),
        (None, Some(t)) if t <= now => {
            return Err(StripeError::invalid_param(
                "trial_end",
                "Invalid timestamp: must be an integer Unix timestamp in the future.".into(),
            ))
        }
        (None, t) => t,
    };
    create_subscription(
        w,
        Some(c),
        NewSub {
            customer: s(&p, "customer").unwrap_or_default(),
            items,
            trial_end,
            pause_on_trial_failure: p
                .get("trial_settings")
                .is_some_and(|t| t["end_behavior"]["missing_payment_method"] == "pause"),
            cancel_at_period_end: p.get("cancel_at_period_end") == Some(&json!(true)),
            metadata: p.get("metadata"),
            description: s(&p, "description"),
            payment_behavior: s(&p, "payment_behavior").unwrap_or("allow_incomplete"),
        },
    )
}

const UPDATE_ITEM: &[P] = &[
    opt("id", Kind::Str),
    opt("price", Kind::Str),
    opt("quantity", Kind::Int),
    opt("deleted", Kind::Bool),
    opt("metadata", Kind::Metadata),
];
const SUB_UPDATE: &[P] = &[
    opt("items", Kind::Arr(&Kind::Obj(UPDATE_ITEM), 20)),
    opt("cancel_at_period_end", Kind::Bool),
    opt("cancel_at", Kind::Int),
    opt("metadata", Kind::Metadata),
    opt("description", Kind::Str),
    opt(
        "pause_collection",
        Kind::Obj(
            const {
                &[
                    req(
                        "behavior",
                        Kind::Enum(&["keep_as_draft", "mark_uncollectible", "void"]),
                    ),
                    opt("resumes_at", Kind::Int),
                ]
            },
        ),
    ),
    opt("trial_end", Kind::Str),
    opt("proration_behavior", PRORATION_BEHAVIORS),
    opt("payment_behavior", PAYMENT_BEHAVIORS),
    opt("default_payment_method", Kind::Str),
    opt("cancellation_details", CANCELLATION_DETAILS),
];

pub fn update(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let p = check(SUB_UPDATE, c.params.clone(), "")?;
    let before = w
        .find(id, "subscription", "subscription", Some("id"))?
        .clone();
    let customer = before["customer"].as_str().unwrap_or_default().to_owned();
    if ["canceled", "incomplete_expired"].contains(&before["status"].as_str().unwrap_or_default()) {
        let allowed = p
            .keys()
            .all(|k| k == "metadata" || k == "cancellation_details" || k == "expand");
        if !allowed {
            return Err(StripeError::invalid_state(
                None,
                "A canceled subscription can only update its cancellation_details and metadata."
                    .into(),
            ));
        }
    }
    let entitlements_before = customer_feature_ids(w, &customer);
    // Resolve item changes before touching anything, so a bad price changes nothing.
    let mut new_items: Option<Vec<Value>> = None;
    if let Some(Value::Array(changes)) = p.get("items") {
        let mut items = before["items"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (start, end) = period(&before);
        for (i, ch) in changes.iter().enumerate() {
            let price = match ch["price"].as_str() {
                Some(pid) => Some(
                    resolve_items(w, &[json!({ "price": pid })])
                        .map_err(|mut e| {
                            e.param = Some(format!("items[{i}][price]"));
                            e
                        })?
                        .remove(0)
                        .0,
                ),
                None => None,
            };
            match ch["id"].as_str() {
                Some(si) => {
                    let pos = items.iter().position(|it| it["id"] == si).ok_or_else(|| {
                        StripeError::resource_missing(
                            "subscription item",
                            si,
                            Some(&format!("items[{i}][id]")),
                        )
                    })?;
                    if ch["deleted"] == true {
                        items.remove(pos);
                        continue;
                    }
                    if let Some(pr) = price {
                        items[pos]["plan"] = plan_from_price(&pr);
                        items[pos]["price"] = pr;
                    }
                    if let Some(q) = ch["quantity"].as_i64() {
                        items[pos]["quantity"] = json!(q);
                    }
                }
                None => {
                    let pr = price
                        .ok_or_else(|| StripeError::missing_param(&format!("items[{i}][price]")))?;
                    let q = ch["quantity"].as_i64().unwrap_or(1);
                    items.push(new_item(w, id, &pr, q, start, end));
                }
            }
        }
        if items.is_empty() {
            return Err(StripeError::invalid_state(Some("items"), "A subscription must have at least one active plan. To cancel a subscription, please use the cancel API endpoint.".into()));
        }
        new_items = Some(items);
    }
    let sub = w.objects.get_mut(id).expect("found above");
    if let Some(items) = new_items {
        sub["items"]["data"] = Value::Array(items);
        sub["items"]["total_count"] = json!(sub["items"]["data"].as_array().map_or(0, Vec::len));
    }
    if let Some(v) = p.get("cancel_at_period_end").and_then(Value::as_bool) {
        sub["cancel_at_period_end"] = json!(v);
        let end = period(sub).1;
        sub["cancel_at"] = if v { json!(end) } else { Value::Null };
    }
    if let Some(t) = p.get("cancel_at").and_then(Value::as_i64) {
        sub["cancel_at"] = json!(t);
    }
    if let Some(d) = s(&p, "description") {
        sub["description"] = json!(d);
    }
    if let Some(pc) = p.get("pause_collection") {
        sub["pause_collection"] = if pc.is_null() {
            Value::Null
        } else {
            json!({ "behavior": pc["behavior"], "resumes_at": pc.get("resumes_at").cloned().unwrap_or(Value::Null) })
        };
    }
    if let Some(Value::Object(cd)) = p.get("cancellation_details") {
        for (k, v) in cd {
            sub["cancellation_details"][k] = v.clone();
        }
    }
    if s(&p, "trial_end") == Some("now") && sub["status"] == "trialing" {
        sub["trial_end"] = json!(period(sub).0);
    }
    merge_metadata(sub, p.get("metadata"));
    let after = sub.clone();
    let prev = previous_attributes(&before, &after, SUB_FIELDS);
    if prev.as_object().is_some_and(|m| !m.is_empty()) {
        w.emit(
            "customer.subscription.updated",
            &after,
            Some(prev),
            c.origin(),
        );
    }
    if s(&p, "trial_end") == Some("now") && after["status"] == "trialing" {
        end_trial(w, Some(c), id);
    }
    emit_entitlements_if_changed(w, Some(c), &customer, &entitlements_before);
    Ok(w.objects[id].clone())
}

/// Cancels the subscription as of `at`: now for DELETE or a deleted customer, the period's end
/// for cancel_at_period_end.
pub fn cancel_now(
    w: &mut World,
    c: Option<&Call>,
    id: &str,
    reason: &str,
    at: i64,
) -> Result<Value, StripeError> {
    let sub = w.find(id, "subscription", "subscription", Some("id"))?;
    if ["canceled", "incomplete_expired"].contains(&sub["status"].as_str().unwrap_or_default()) {
        return Err(StripeError::invalid_state(
            None,
            format!("This subscription has already been canceled ({id})."),
        ));
    }
    let customer = sub["customer"].as_str().unwrap_or_default().to_owned();
    let entitlements_before = customer_feature_ids(w, &customer);
    let sub = w.objects.get_mut(id).expect("found above");
    let before = sub.clone();
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(at);
    sub["ended_at"] = json!(at);
    sub["cancellation_details"]["reason"] = json!(reason);
    let after = sub.clone();
    w.emit(
        "customer.subscription.deleted",
        &after,
        Some(previous_attributes(&before, &after, SUB_FIELDS)),
        origin(c),
    );
    emit_entitlements_if_changed(w, c, &customer, &entitlements_before);
    Ok(after)
}

pub fn cancel(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(
        &[
            opt("invoice_now", Kind::Bool),
            opt("prorate", Kind::Bool),
            opt("cancellation_details", CANCELLATION_DETAILS),
        ],
        c.params.clone(),
        "",
    )?;
    let now = w.now();
    cancel_now(w, Some(c), id, "cancellation_requested", now)
}

pub fn resume(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(
        &[
            opt("billing_cycle_anchor", Kind::Enum(&["now", "unchanged"])),
            opt("proration_behavior", PRORATION_BEHAVIORS),
        ],
        c.params.clone(),
        "",
    )?;
    let sub = w
        .find(id, "subscription", "subscription", Some("id"))?
        .clone();
    if sub["status"] != "paused" {
        return Err(StripeError::invalid_state(
            None,
            format!(
                "Only a paused subscription can be resumed; {id} is {}.",
                sub["status"]
            ),
        ));
    }
    let customer = sub["customer"].as_str().unwrap_or_default().to_owned();
    let entitlements_before = customer_feature_ids(w, &customer);
    let now = w.now();
    let mut s2 = sub.clone();
    set_period(
        &mut s2,
        now,
        period_end(&sub["items"]["data"][0]["price"], now),
    );
    let outcome = take_outcome(w, &customer);
    let (inv, paid) = invoice_period(
        w,
        Some(c),
        &s2,
        "subscription_cycle",
        sub_amount(&s2),
        outcome,
    );
    s2["status"] = json!(if paid { "active" } else { "past_due" });
    s2["latest_invoice"] = json!(inv);
    w.put(s2.clone());
    w.emit("customer.subscription.resumed", &s2, None, c.origin());
    w.emit(
        "customer.subscription.updated",
        &s2,
        Some(previous_attributes(&sub, &s2, SUB_FIELDS)),
        c.origin(),
    );
    emit_entitlements_if_changed(w, Some(c), &customer, &entitlements_before);
    Ok(s2)
}

pub fn list<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("customer", Kind::Str),
            opt("price", Kind::Str),
            opt(
                "status",
                Kind::Enum(&[
                    "active",
                    "all",
                    "canceled",
                    "ended",
                    "incomplete",
                    "incomplete_expired",
                    "past_due",
                    "paused",
                    "trialing",
                    "unpaid",
                ]),
            ),
            opt("current_period_end", Kind::Range),
            opt("current_period_start", Kind::Range),
        ],
        c.params.clone(),
    )?;
    let status = s(&f, "status");
    listing::page(w, "subscription", &c.path, &common, |o| {
        let st = o["status"].as_str().unwrap_or_default();
        let status_ok = match status {
            // Stripe's default leaves canceled subscriptions out.
            None => LIVE_STATUSES.contains(&st),
            Some("all") => true,
            Some("ended") => st == "canceled" || st == "incomplete_expired",
            Some(x) => st == x,
        };
        status_ok
            && f.get("customer").is_none_or(|x| &o["customer"] == x)
            && f.get("price").is_none_or(|x| {
                o["items"]["data"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| &i["price"]["id"] == x))
            })
    })
}

pub fn list_invoices<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("customer", Kind::Str),
            opt("subscription", Kind::Str),
            opt(
                "status",
                Kind::Enum(&["draft", "open", "paid", "uncollectible", "void"]),
            ),
            opt(
                "collection_method",
                Kind::Enum(&["charge_automatically", "send_invoice"]),
            ),
        ],
        c.params.clone(),
    )?;
    listing::page(w, "invoice", &c.path, &common, |o| {
        f.get("customer").is_none_or(|x| &o["customer"] == x)
            && f.get("subscription")
                .is_none_or(|x| &o["parent"]["subscription_details"]["subscription"] == x)
            && f.get("status").is_none_or(|x| &o["status"] == x)
    })
}

// ---- time ------------------------------------------------------------------------------

fn end_trial(w: &mut World, c: Option<&Call>, id: &str) {
    let sub = w.objects[id].clone();
    let customer = sub["customer"].as_str().unwrap_or_default().to_owned();
    let now = w.now();
    let start = sub["trial_end"].as_i64().unwrap_or(now).min(now);
    let mut s2 = sub.clone();
    set_period(
        &mut s2,
        start,
        period_end(&sub["items"]["data"][0]["price"], start),
    );
    let outcome = take_outcome(w, &customer);
    if outcome == PaymentOutcome::Fail
        && sub["trial_settings"]["end_behavior"]["missing_payment_method"] == "pause"
    {
        s2["status"] = json!("paused");
        w.put(s2.clone());
        w.emit("customer.subscription.paused", &s2, None, origin(c));
    } else {
        let (inv, paid) = invoice_period(w, c, &s2, "subscription_cycle", sub_amount(&s2), outcome);
        s2["status"] = json!(if paid { "active" } else { "past_due" });
        s2["latest_invoice"] = json!(inv);
        w.put(s2.clone());
    }
    w.emit(
        "customer.subscription.updated",
        &s2,
        Some(previous_attributes(&sub, &s2, SUB_FIELDS)),
        origin(c),
    );
}

/// Moves the sandbox clock and lets everything due happen, in time order. Returns how many
/// subscriptions renewed.
pub fn advance_clock(w: &mut World, seconds: i64) -> usize {
    w.advance(seconds.max(0));
    let mut renewed = 0;
    let ids: Vec<String> = w.ids("subscription").to_vec();
    for id in ids {
        // A subscription can owe several periods after a long jump; settle them one by one.
        for _ in 0..120 {
            let now = w.now();
            // Most subscriptions owe nothing on a given day: look before cloning.
            let due = {
                let sub = &w.objects[&id];
                let (_, end) = period(sub);
                match sub["status"].as_str().unwrap_or_default() {
                    "incomplete" => sub["created"].as_i64().unwrap_or(now) + 23 * 3600 <= now,
                    "trialing" => sub["trial_end"].as_i64().is_some_and(|t| t <= now),
                    "active" | "past_due" | "unpaid" => end <= now,
                    _ => false,
                }
            };
            if !due {
                break;
            }
            let sub = w.objects[&id].clone();
            let status = sub["status"].as_str().unwrap_or_default().to_owned();
            let customer = sub["customer"].as_str().unwrap_or_default().to_owned();
            let (_, end) = period(&sub);
            match status.as_str() {
                "incomplete" if sub["created"].as_i64().unwrap_or(now) + 23 * 3600 <= now => {
                    let before = customer_feature_ids(w, &customer);
                    let s = w.objects.get_mut(&id).expect("exists");
                    s["status"] = json!("incomplete_expired");
                    s["ended_at"] = json!(now);
                    let after = s.clone();
                    w.emit(
                        "customer.subscription.updated",
                        &after,
                        Some(json!({ "status": "incomplete" })),
                        None,
                    );
                    emit_entitlements_if_changed(w, None, &customer, &before);
                    break;
                }
                "trialing" if sub["trial_end"].as_i64().is_some_and(|t| t <= now) => {
                    let before = customer_feature_ids(w, &customer);
                    end_trial(w, None, &id);
                    emit_entitlements_if_changed(w, None, &customer, &before);
                    renewed += 1;
                }
                "active" | "past_due" | "unpaid" if end <= now => {
                    let before = customer_feature_ids(w, &customer);
                    if sub["cancel_at_period_end"] == true
                        || sub["cancel_at"].as_i64().is_some_and(|t| t <= end)
                    {
                        let _ = cancel_now(w, None, &id, "cancellation_requested", end);
                        break;
                    }
                    // The fields an update event reports, as they were; the rest is not copied.
                    let was: Map<String, Value> = SUB_FIELDS
                        .iter()
                        .filter_map(|f| Some(((*f).to_owned(), sub.get(*f)?.clone())))
                        .collect();
                    let was = Value::Object(was);
                    let next_end = period_end(&sub["items"]["data"][0]["price"], end);
                    let mut s2 = sub;
                    set_period(&mut s2, end, next_end);
                    let outcome = take_outcome(w, &customer);
                    let (inv, paid) = invoice_period(
                        w,
                        None,
                        &s2,
                        "subscription_cycle",
                        sub_amount(&s2),
                        outcome,
                    );
                    s2["status"] = json!(match (paid, status.as_str()) {
                        (true, _) => "active",
                        (false, "active") => "past_due",
                        (false, _) => "unpaid",
                    });
                    s2["latest_invoice"] = json!(inv);
                    let previous = previous_attributes(&was, &s2, SUB_FIELDS);
                    w.put(s2);
                    w.emit_stored("customer.subscription.updated", &id, Some(previous), None);
                    emit_entitlements_if_changed(w, None, &customer, &before);
                    renewed += 1;
                }
                _ => break,
            }
        }
    }
    renewed
}

// ---- checkout --------------------------------------------------------------------------

const LINE_ITEM: &[P] = &[req("price", Kind::Str), opt("quantity", Kind::Int)];
const SESSION_CREATE: &[P] = &[
    req("mode", Kind::Enum(&["payment", "subscription", "setup"])),
    opt("line_items", Kind::Arr(&Kind::Obj(LINE_ITEM), 100)),
    opt("customer", Kind::Str),
    opt("customer_email", Kind::Str),
    opt("success_url", Kind::Str),
    opt("cancel_url", Kind::Str),
    opt("metadata", Kind::Metadata),
    opt("client_reference_id", Kind::Str),
    opt("ui_mode", Kind::Enum(&["hosted", "embedded", "custom"])),
    opt("return_url", Kind::Str),
    opt(
        "payment_intent_data",
        Kind::Obj(
            const {
                &[
                    opt("application_fee_amount", Kind::Int),
                    opt(
                        "transfer_data",
                        Kind::Obj(
                            const { &[req("destination", Kind::Str), opt("amount", Kind::Int)] },
                        ),
                    ),
                    opt("metadata", Kind::Metadata),
                    opt("description", Kind::Str),
                    opt("on_behalf_of", Kind::Str),
                ]
            },
        ),
    ),
    opt(
        "subscription_data",
        Kind::Obj(
            const {
                &[
                    opt("trial_period_days", Kind::Int),
                    opt("metadata", Kind::Metadata),
                    opt("description", Kind::Str),
                ]
            },
        ),
    ),
    opt("expires_at", Kind::Int),
];

pub fn create_session(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(SESSION_CREATE, c.params.clone(), "")?;
    let mode = s(&p, "mode").unwrap_or_default().to_owned();
    if let Some(cus) = s(&p, "customer") {
        w.find(cus, "customer", "customer", Some("customer"))?;
    }
    let lines = p
        .get("line_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if mode != "setup" && lines.is_empty() {
        return Err(StripeError::missing_param("line_items"));
    }
    let mut total = 0i64;
    let mut currency = Value::Null;
    for (i, li) in lines.iter().enumerate() {
        let param = format!("line_items[{i}][price]");
        let price = w.find(
            li["price"].as_str().unwrap_or_default(),
            "price",
            "price",
            Some(&param),
        )?;
        if mode == "payment" && price["type"] == "recurring" {
            return Err(StripeError::invalid_state(
                Some(&param),
                "You must be in `subscription` mode to use recurring prices.".into(),
            ));
        }
        if mode == "subscription" && price["type"] != "recurring" && i == 0 {
            return Err(StripeError::invalid_state(Some(&param), "You must provide at least one recurring price in `subscription` mode when using prices.".into()));
        }
        total += price["unit_amount"].as_i64().unwrap_or(0) * li["quantity"].as_i64().unwrap_or(1);
        currency = price["currency"].clone();
    }
    if let Some(dest) = p
        .get("payment_intent_data")
        .and_then(|d| d["transfer_data"]["destination"].as_str())
    {
        w.find(
            dest,
            "account",
            "account",
            Some("payment_intent_data[transfer_data][destination]"),
        )?;
    }
    let now = w.now();
    let id = format!("cs_test_{}", &w.new_id("cs")[3..]);
    let mut cs = template("checkout.session");
    cs["id"] = json!(id);
    cs["object"] = json!("checkout.session");
    cs["created"] = json!(now);
    cs["expires_at"] = p
        .get("expires_at")
        .cloned()
        .unwrap_or(json!(now + 24 * 3600));
    cs["mode"] = json!(mode);
    cs["status"] = json!("open");
    cs["payment_status"] = json!("unpaid");
    cs["customer"] = p.get("customer").cloned().unwrap_or(Value::Null);
    cs["customer_email"] = p.get("customer_email").cloned().unwrap_or(Value::Null);
    cs["client_reference_id"] = p.get("client_reference_id").cloned().unwrap_or(Value::Null);
    cs["success_url"] = p.get("success_url").cloned().unwrap_or(Value::Null);
    cs["cancel_url"] = p.get("cancel_url").cloned().unwrap_or(Value::Null);
    cs["amount_subtotal"] = json!(total);
    cs["amount_total"] = json!(total);
    cs["currency"] = currency;
    cs["livemode"] = json!(false);
    cs["metadata"] = json!({});
    cs["payment_intent"] = Value::Null;
    cs["subscription"] = Value::Null;
    cs["invoice"] = Value::Null;
    cs["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    merge_metadata(&mut cs, p.get("metadata"));
    // Kept for completion; not part of Stripe's session JSON.
    cs["_sandbox"] = json!({ "line_items": lines, "payment_intent_data": p.get("payment_intent_data"), "subscription_data": p.get("subscription_data") });
    let cs = w.insert(cs);
    Ok(public_session(&cs))
}

pub fn public_session(cs: &Value) -> Value {
    let mut out = cs.clone();
    if let Some(m) = out.as_object_mut() {
        m.remove("_sandbox");
    }
    out
}

pub fn list_sessions(w: &World, c: &Call) -> Result<Value, StripeError> {
    let (common, f) = check_list(
        &[
            opt("customer", Kind::Str),
            opt("payment_intent", Kind::Str),
            opt("subscription", Kind::Str),
            opt("status", Kind::Enum(&["open", "complete", "expired"])),
        ],
        c.params.clone(),
    )?;
    let mut page: Value = listing::page(w, "checkout.session", &c.path, &common, |o| {
        ["customer", "payment_intent", "subscription", "status"]
            .iter()
            .all(|k| f.get(*k).is_none_or(|x| &o[*k] == x))
    })?
    .into_value();
    if let Some(items) = page["data"].as_array_mut() {
        for it in items.iter_mut() {
            *it = public_session(it);
        }
    }
    Ok(page)
}

pub fn expire_session(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(&[], c.params.clone(), "")?;
    let cs = w.find_mut(id, "checkout.session", "checkout.session", Some("session"))?;
    if cs["status"] != "open" {
        return Err(StripeError::invalid_state(
            None,
            format!(
                "Only open Checkout Sessions can be expired; this one is {}.",
                cs["status"]
            ),
        ));
    }
    cs["status"] = json!("expired");
    let out = cs.clone();
    w.emit(
        "checkout.session.expired",
        &public_session(&out),
        None,
        c.origin(),
    );
    Ok(public_session(&out))
}

/// What a customer finishing Checkout does: a customer if needed, then the subscription or the
/// payment, then `checkout.session.completed`.
pub fn complete_session(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let cs = w
        .find(id, "checkout.session", "checkout.session", Some("session"))?
        .clone();
    if cs["status"] != "open" {
        return Err(StripeError::invalid_state(
            None,
            format!("This Checkout Session is {}, not open.", cs["status"]),
        ));
    }
    let customer = match cs["customer"].as_str() {
        Some(c) => c.to_owned(),
        None => {
            let mut p = Map::new();
            if let Some(e) = cs["customer_email"].as_str() {
                p.insert("email".into(), json!(e));
            }
            let cust = super::customers::new_customer(w, &p);
            let cust = w.insert(cust);
            w.emit("customer.created", &cust, None, c.origin());
            cust["id"].as_str().unwrap_or_default().to_owned()
        }
    };
    let extra = cs["_sandbox"].clone();
    let mut updated = cs.clone();
    updated["customer"] = json!(customer);
    match cs["mode"].as_str() {
        Some("subscription") => {
            let lines: Vec<Value> = extra["line_items"].as_array().cloned().unwrap_or_default();
            let items = resolve_items(w, &lines)?;
            let trial_end = extra["subscription_data"]["trial_period_days"]
                .as_i64()
                .map(|d| w.now() + d * 86400);
            let sub = create_subscription(
                w,
                Some(c),
                NewSub {
                    customer: &customer,
                    items,
                    trial_end,
                    pause_on_trial_failure: false,
                    cancel_at_period_end: false,
                    metadata: extra["subscription_data"].get("metadata"),
                    description: None,
                    payment_behavior: "error_if_incomplete",
                },
            )?;
            updated["subscription"] = sub["id"].clone();
            updated["invoice"] = sub["latest_invoice"].clone();
        }
        Some("payment") => {
            let pid = &extra["payment_intent_data"];
            let pi = super::payments::charge(
                w,
                Some(c),
                super::payments::Charge {
                    amount: cs["amount_total"].as_i64().unwrap_or(0),
                    currency: cs["currency"].as_str().unwrap_or("eur").to_owned(),
                    customer: Some(customer.clone()),
                    application_fee_amount: pid["application_fee_amount"].as_i64(),
                    destination: pid["transfer_data"]["destination"]
                        .as_str()
                        .map(str::to_owned),
                    metadata: pid.get("metadata").cloned(),
                    description: pid["description"].as_str().map(str::to_owned),
                },
            )?;
            if pi["status"] != "succeeded" {
                return Err(StripeError::card_declined("Your card was declined."));
            }
            updated["payment_intent"] = pi["id"].clone();
        }
        _ => {}
    }
    updated["status"] = json!("complete");
    updated["payment_status"] = json!(if cs["mode"] == "setup" {
        "no_payment_required"
    } else {
        "paid"
    });
    w.put(updated.clone());
    w.emit(
        "checkout.session.completed",
        &public_session(&updated),
        None,
        c.origin(),
    );
    Ok(public_session(&updated))
}

/// `POST /_sandbox/populate`: `count` organizations, each a customer with an organization id
/// and an active subscription to `price`, made through the same paths as the API (events too).
/// All are made at one instant (the clock stands still meanwhile), so they renew together.
/// Returns the (customer, subscription) ids made, in order.
pub fn populate(
    w: &mut World,
    price: &str,
    prefix: &str,
    count: usize,
) -> Result<Vec<(String, String)>, StripeError> {
    let frozen = w.frozen_now;
    w.frozen_now = Some(w.now());
    let made = populate_now(w, price, prefix, count);
    w.frozen_now = frozen;
    made
}

fn populate_now(
    w: &mut World,
    price: &str,
    prefix: &str,
    count: usize,
) -> Result<Vec<(String, String)>, StripeError> {
    let call = |pairs: Vec<(&str, String)>| crate::seed::call(&pairs);
    let mut made = Vec::with_capacity(count);
    for i in 0..count {
        let org = format!("{prefix}_org_{i:06}");
        let cus = super::customers::create(
            w,
            &call(vec![
                ("name", format!("{prefix} organization {i:06}")),
                ("email", format!("billing{i:06}@{prefix}.sandbox.invalid")),
                ("metadata[organization_id]", org.clone()),
            ]),
        )?;
        let cus = cus["id"].as_str().unwrap_or_default().to_owned();
        let sub = create(
            w,
            &call(vec![
                ("customer", cus.clone()),
                ("items[0][price]", price.to_owned()),
                ("metadata[organization_id]", org),
            ]),
        )?;
        made.push((cus, sub["id"].as_str().unwrap_or_default().to_owned()));
    }
    Ok(made)
}

/// When the subscription's current period ends.
pub fn current_period_end(sub: &Value) -> i64 {
    period(sub).1
}

/// `GET /v1/checkout/sessions/{id}/line_items`.
pub fn session_line_items(w: &World, c: &Call, id: &str) -> Result<Value, StripeError> {
    let cs = w.find(id, "checkout.session", "checkout.session", Some("session"))?;
    let _ = c;
    let lines = cs["_sandbox"]["line_items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let data: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, li)| {
            let price = w
                .get(li["price"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or(Value::Null);
            let qty = li["quantity"].as_i64().unwrap_or(1);
            let amount = price["unit_amount"].as_i64().unwrap_or(0) * qty;
            json!({
                "id": format!("li_{}_{i}", &id[id.len().saturating_sub(12)..]),
                "object": "item",
                "amount_subtotal": amount,
                "amount_total": amount,
                "currency": price["currency"].clone(),
                "description": price["nickname"].clone(),
                "price": price,
                "quantity": qty,
            })
        })
        .collect();
    Ok(
        json!({ "object": "list", "data": data, "has_more": false, "url": format!("/v1/checkout/sessions/{id}/line_items") }),
    )
}

/// `GET /v1/subscription_items?subscription=sub_…`: a subscription's items, all of them
/// (a subscription embeds only its first ten), in its order, paged by `starting_after`.
pub fn list_items(w: &World, c: &Call) -> Result<Value, StripeError> {
    let (common, f) = check_list(&[req("subscription", Kind::Str)], c.params.clone())?;
    let sub_id = s(&f, "subscription").unwrap_or_default();
    let sub = w
        .objects
        .get(sub_id)
        .filter(|o| o["object"] == "subscription")
        .ok_or_else(|| {
            StripeError::resource_missing("subscription", sub_id, Some("subscription"))
        })?;
    let limit = match common.get("limit").and_then(Value::as_i64) {
        None => 10,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(StripeError::invalid_param(
                "limit",
                format!("Invalid limit: must be between 1 and 100 (got {n})"),
            ))
        }
    };
    let items: Vec<Value> = sub["items"]["data"].as_array().cloned().unwrap_or_default();
    let start = match common.get("starting_after").and_then(Value::as_str) {
        None => 0,
        Some(id) => {
            items.iter().position(|i| i["id"] == id).ok_or_else(|| {
                StripeError::resource_missing("subscription_item", id, Some("starting_after"))
            })? + 1
        }
    };
    let page: Vec<Value> = items.iter().skip(start).take(limit).cloned().collect();
    Ok(json!({
        "object": "list",
        "data": page,
        "has_more": start + limit < items.len(),
        "url": "/v1/subscription_items",
    }))
}

/// `GET /v1/subscription_items/si_…`.
pub fn retrieve_item(w: &World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(&[], c.params.clone(), "")?;
    w.objects
        .values()
        .filter(|o| o["object"] == "subscription")
        .flat_map(|o| o["items"]["data"].as_array().into_iter().flatten())
        .find(|i| i["id"] == id)
        .cloned()
        .ok_or_else(|| StripeError::resource_missing("subscription_item", id, Some("id")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::call;

    fn monthly_price(w: &mut World) -> String {
        let prod = super::super::catalog::create_product(w, &call(&[("name", "P".into())]))
            .expect("a product");
        let price = super::super::catalog::create_price(
            w,
            &call(&[
                ("currency", "eur".into()),
                ("unit_amount", "2500".into()),
                ("recurring[interval]", "month".into()),
                ("product", prod["id"].as_str().unwrap_or_default().into()),
            ]),
        )
        .expect("a price");
        price["id"].as_str().unwrap_or_default().to_owned()
    }

    /// The 1st of the month: 10,000 active subscriptions renew in one advance, each with
    /// Stripe's five events in Stripe's order, one renewal after another.
    #[test]
    fn renewal_day_renews_ten_thousand_with_stripes_events_in_order() {
        const N: usize = 10_000;
        let mut w = World::new("empty");
        let price = monthly_price(&mut w);
        let made = populate(&mut w, &price, "renewal", N).expect("populated");
        assert_eq!(made.len(), N);
        let first_end = current_period_end(&w.objects[&made[0].1]);
        assert!(
            made.iter()
                .all(|(_, s)| current_period_end(&w.objects[s]) == first_end),
            "made at one instant, they renew together"
        );
        let events_before = w.ids("event").len();
        let seconds = first_end - w.now() + 1;
        let renewed = advance_clock(&mut w, seconds);
        assert_eq!(renewed, N, "every one renews");
        let events = &w.ids("event")[events_before..];
        assert!(events.len() >= 50_000, "{} events", events.len());
        assert_eq!(events.len(), 5 * N, "nothing but the renewals' events");
        const ORDER: [&str; 5] = [
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
        ];
        for (renewal, (_, sub_id)) in events.chunks(5).zip(&made) {
            let evs: Vec<&Value> = renewal.iter().map(|id| &w.objects[id]).collect();
            let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
            assert_eq!(types, ORDER, "{sub_id}");
            let invoice = &evs[0]["data"]["object"];
            assert_eq!(
                invoice["parent"]["subscription_details"]["subscription"], *sub_id,
                "the renewals come in the subscriptions' order"
            );
            assert_eq!(invoice["billing_reason"], "subscription_cycle");
            assert_eq!(invoice["status"], "paid");
            assert_eq!(invoice["amount_paid"], 2500);
            assert_eq!(invoice["period_start"], first_end);
            for e in &evs[1..4] {
                assert_eq!(e["data"]["object"]["id"], invoice["id"]);
            }
            let sub = &evs[4]["data"]["object"];
            assert_eq!(sub["id"], *sub_id);
            assert_eq!(sub["status"], "active");
            assert_eq!(sub["latest_invoice"], invoice["id"]);
            assert_eq!(sub["items"]["data"][0]["current_period_start"], first_end);
            let prev = &evs[4]["data"]["previous_attributes"];
            assert_eq!(prev["items"]["data"][0]["current_period_end"], first_end);
            assert!(prev.get("latest_invoice").is_some());
            assert!(prev.get("status").is_none(), "it stays active");
            assert_eq!(&w.objects[sub_id], sub, "the event says what is stored");
        }
    }
}
