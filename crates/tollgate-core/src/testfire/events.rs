//! The catalog of test-fire event types and the builders of complete Stripe event objects.
//! Every object starts from Stripe's own example of its resource (the sandbox's fixtures, from
//! stripe/openapi), so it carries at least Stripe's keys with Stripe's types; the builders then
//! fill it from a [`Story`]: one organization's customer, subscription, price, invoice and
//! payments, with the ids of the objects the story creates.

use serde::Serialize;
use serde_json::{json, Map, Value};
use tollgate_sandbox::resources::billing::plan_from_price;
use tollgate_sandbox::{template, API_VERSION};
use ts_rs::TS;

use super::random_id;
use super::subject::{PriceFacts, Subject};
use crate::domain::{BasisPoints, InputError};

/// One entry of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct EventKind {
    /// What `tollgate trigger` takes: the event type, with `:variant` where one type has two
    /// shapes (`checkout.session.completed:payment`).
    pub name: &'static str,
    /// The event's `type`.
    pub event_type: &'static str,
    /// The resource of `data.object` (its `object` name).
    pub resource: &'static str,
    pub summary: &'static str,
    /// Sent because of an API request (carries `request.id`), not by Stripe on its own.
    pub from_request: bool,
}

const fn k(
    name: &'static str,
    event_type: &'static str,
    resource: &'static str,
    from_request: bool,
    summary: &'static str,
) -> EventKind {
    EventKind {
        name,
        event_type,
        resource,
        summary,
        from_request,
    }
}

pub static CATALOG: &[EventKind] = &[
    k("checkout.session.completed", "checkout.session.completed", "checkout.session", false, "A Checkout Session in subscription mode was paid: the organization subscribed."),
    k("checkout.session.completed:payment", "checkout.session.completed", "checkout.session", false, "A one-time Checkout payment completed (lifetime access)."),
    k("checkout.session.expired", "checkout.session.expired", "checkout.session", false, "A Checkout Session expired unpaid."),
    k("customer.created", "customer.created", "customer", true, "A customer was created."),
    k("customer.updated", "customer.updated", "customer", true, "A customer changed (its email, with the old one in previous_attributes)."),
    k("customer.deleted", "customer.deleted", "customer", true, "A customer was deleted."),
    k("customer.subscription.created", "customer.subscription.created", "subscription", true, "A subscription started."),
    k("customer.subscription.updated", "customer.subscription.updated", "subscription", true, "A subscription changed (metadata, with previous_attributes; --set data.object.status=past_due for a status change)."),
    k("customer.subscription.deleted", "customer.subscription.deleted", "subscription", false, "A subscription ended: canceled, with ended_at."),
    k("customer.subscription.paused", "customer.subscription.paused", "subscription", false, "A trial ended without a payment method: paused."),
    k("customer.subscription.resumed", "customer.subscription.resumed", "subscription", true, "A paused subscription resumed."),
    k("customer.subscription.trial_will_end", "customer.subscription.trial_will_end", "subscription", false, "The trial ends in three days."),
    k("invoice.created", "invoice.created", "invoice", false, "A renewal invoice was drafted."),
    k("invoice.finalized", "invoice.finalized", "invoice", false, "The invoice was finalized and is open."),
    k("invoice.paid", "invoice.paid", "invoice", false, "The invoice was paid."),
    k("invoice.payment_succeeded", "invoice.payment_succeeded", "invoice", false, "The invoice's payment succeeded."),
    k("invoice.payment_failed", "invoice.payment_failed", "invoice", false, "The invoice's payment failed; Stripe retries in three days."),
    k("invoice.payment_action_required", "invoice.payment_action_required", "invoice", false, "The payment needs the customer (3-D Secure)."),
    k("invoice.upcoming", "invoice.upcoming", "invoice", false, "The next renewal is in three days (a preview with no id)."),
    k("price.created", "price.created", "price", true, "A price was created."),
    k("price.updated", "price.updated", "price", true, "A price changed: its lookup key was assigned."),
    k("product.created", "product.created", "product", true, "A product was created."),
    k("product.updated", "product.updated", "product", true, "A product changed (its description)."),
    k("entitlements.active_entitlement_summary.updated", "entitlements.active_entitlement_summary.updated", "entitlements.active_entitlement_summary", false, "The customer's active entitlements changed."),
    k("payment_intent.succeeded", "payment_intent.succeeded", "payment_intent", false, "The invoice's payment intent succeeded."),
    k("payment_intent.payment_failed", "payment_intent.payment_failed", "payment_intent", false, "The invoice's payment intent failed (card declined)."),
    k("charge.succeeded", "charge.succeeded", "charge", false, "The invoice's charge succeeded."),
    k("charge.failed", "charge.failed", "charge", false, "The invoice's charge failed (card declined)."),
    k("charge.refunded", "charge.refunded", "charge", true, "An appointment charge was refunded in full, its commission with it."),
    k("application_fee.created", "application_fee.created", "application_fee", false, "The commission on an appointment (a destination charge's application fee)."),
    k("transfer.created", "transfer.created", "transfer", false, "An appointment's payment was transferred to the expert."),
];

/// The catalog entry for `name`, or an error that names the field and suggests the nearest.
pub fn kind(field: &'static str, name: &str) -> Result<&'static EventKind, InputError> {
    let name = name.trim();
    if let Some(k) = CATALOG.iter().find(|k| k.name == name) {
        return Ok(k);
    }
    let mut near: Vec<(usize, &str)> = CATALOG
        .iter()
        .map(|k| (distance(k.name, name), k.name))
        .filter(|(d, n)| *d <= 3 || n.starts_with(name) || name.starts_with(*n))
        .collect();
    near.sort();
    let near: Vec<&str> = near.into_iter().map(|(_, n)| n).take(3).collect();
    Err(InputError::new(
        field,
        if near.is_empty() {
            format!("{name:?} is not in the catalog of {} event types: `tollgate trigger --list` lists them", CATALOG.len())
        } else {
            format!("{name:?} is not in the catalog: did you mean {}? (`tollgate trigger --list` lists all {})", near.join(", "), CATALOG.len())
        },
    ))
}

/// Edit distance (insertions, deletions, substitutions), for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The ids of the objects one story is about and the ones it creates, so that every event of
/// a story (an invoice's created, finalized, paid …) names the same objects.
#[derive(Debug, Clone)]
pub struct Story {
    pub subject: Subject,
    pub livemode: bool,
    pub invoice: String,
    pub payment_intent: String,
    pub charge: String,
    pub session: String,
    pub fee: String,
    pub transfer: String,
    pub expert: String,
    pub appointment_charge: String,
}

impl Story {
    /// A story about the subject's own objects: its latest invoice and appointment charge when
    /// the store knows them, fresh ids for the rest.
    pub fn new(subject: Subject, livemode: bool) -> Story {
        Story {
            livemode,
            invoice: subject
                .invoice_id
                .clone()
                .unwrap_or_else(|| random_id("in")),
            payment_intent: random_id("pi"),
            charge: random_id("ch"),
            session: format!(
                "cs_{}_{}",
                if livemode { "live" } else { "test" },
                &random_id("x")[2..]
            ),
            fee: random_id("fee"),
            transfer: random_id("tr"),
            expert: subject
                .expert_account
                .clone()
                .unwrap_or_else(|| random_id("acct")),
            appointment_charge: subject
                .last_charge
                .clone()
                .unwrap_or_else(|| random_id("ch")),
            subject,
        }
    }

    /// A new invoice and payment within the same story (a renewal after the first one).
    pub fn next_invoice(&mut self) {
        self.invoice = random_id("in");
        self.payment_intent = random_id("pi");
        self.charge = random_id("ch");
    }
}

/// The full event for `kind` at `created`.
pub fn build(kind: &EventKind, story: &Story, created: i64) -> Value {
    let (object, previous) = object_for(kind, story, created);
    envelope(kind, story, object, previous, created)
}

/// Wraps an object in Stripe's event envelope.
pub fn envelope(
    kind: &EventKind,
    story: &Story,
    object: Value,
    previous: Option<Value>,
    created: i64,
) -> Value {
    let mut ev = template("event");
    ev["id"] = json!(random_id("evt"));
    ev["object"] = json!("event");
    ev["api_version"] = json!(API_VERSION);
    ev["created"] = json!(created);
    ev["livemode"] = json!(story.livemode);
    ev["pending_webhooks"] = json!(1);
    ev["type"] = json!(kind.event_type);
    ev["request"] = if kind.from_request {
        json!({ "id": format!("req_{}", &random_id("x")[2..16]), "idempotency_key": uuid::Uuid::new_v4().to_string() })
    } else {
        json!({ "id": null, "idempotency_key": null })
    };
    ev["data"] = match previous {
        Some(p) => json!({ "object": object, "previous_attributes": p }),
        None => json!({ "object": object }),
    };
    ev
}

/// `data.object` (and `previous_attributes` for updates) for `kind`.
pub fn object_for(kind: &EventKind, st: &Story, t: i64) -> (Value, Option<Value>) {
    let s = &st.subject;
    let day = 86400;
    match kind.name {
        "checkout.session.completed" => (session(st, "subscription", "complete", t), None),
        "checkout.session.completed:payment" => (session(st, "payment", "complete", t), None),
        "checkout.session.expired" => (session(st, "subscription", "expired", t), None),
        "customer.created" => (customer(st), None),
        "customer.updated" => {
            let old = s.email.as_deref().map(|e| format!("old.{e}"));
            (customer(st), Some(json!({ "email": old })))
        }
        "customer.deleted" => (customer(st), None),
        "customer.subscription.created" => {
            let status = if s.status == "trialing" {
                "trialing"
            } else {
                "active"
            };
            (subscription(st, status, &s.price, t), None)
        }
        "customer.subscription.updated" => {
            let mut sub = subscription(st, &s.status, &s.price, t);
            sub["metadata"] = json!({ "tollgate_test_fire": "updated" });
            (
                sub,
                Some(json!({ "metadata": { "tollgate_test_fire": null } })),
            )
        }
        "customer.subscription.deleted" => {
            let mut sub = subscription(st, "canceled", &s.price, t);
            sub["canceled_at"] = json!(t);
            sub["ended_at"] = json!(t);
            sub["cancellation_details"] =
                json!({ "comment": null, "feedback": null, "reason": "cancellation_requested" });
            (sub, None)
        }
        "customer.subscription.paused" => {
            let mut sub = subscription(st, "paused", &s.price, t);
            sub["trial_end"] = json!(t);
            (sub, Some(json!({ "status": "trialing" })))
        }
        "customer.subscription.resumed" => (
            subscription(st, "active", &s.price, t),
            Some(json!({ "status": "paused" })),
        ),
        "customer.subscription.trial_will_end" => {
            let mut sub = subscription(st, "trialing", &s.price, t);
            sub["trial_start"] = json!(t - 11 * day);
            sub["trial_end"] = json!(t + 3 * day);
            (sub, None)
        }
        "invoice.created" => (
            invoice(
                st,
                Inv::Draft,
                "subscription_cycle",
                &s.price,
                invoice_amount(s, &s.price),
                t,
            ),
            None,
        ),
        "invoice.finalized" => (
            invoice(
                st,
                Inv::Open,
                "subscription_cycle",
                &s.price,
                invoice_amount(s, &s.price),
                t,
            ),
            None,
        ),
        "invoice.paid" | "invoice.payment_succeeded" => (
            invoice(
                st,
                Inv::Paid,
                "subscription_cycle",
                &s.price,
                invoice_amount(s, &s.price),
                t,
            ),
            None,
        ),
        "invoice.payment_failed" => (
            invoice(
                st,
                Inv::Failed,
                "subscription_cycle",
                &s.price,
                invoice_amount(s, &s.price),
                t,
            ),
            None,
        ),
        "invoice.payment_action_required" => (
            invoice(
                st,
                Inv::ActionRequired,
                "subscription_cycle",
                &s.price,
                invoice_amount(s, &s.price),
                t,
            ),
            None,
        ),
        "invoice.upcoming" => {
            let mut inv = invoice(
                st,
                Inv::Draft,
                "upcoming",
                &s.price,
                invoice_amount(s, &s.price),
                t,
            );
            // An upcoming invoice is a preview: Stripe gives it no id yet.
            inv["id"] = Value::Null;
            inv["number"] = Value::Null;
            inv["hosted_invoice_url"] = Value::Null;
            inv["invoice_pdf"] = Value::Null;
            inv["period_start"] = json!(s.period_end);
            inv["period_end"] = json!(s.period_end + (s.period_end - s.period_start).max(day));
            (inv, None)
        }
        "price.created" => (price(&s.price, st.livemode), None),
        "price.updated" => {
            let previous = if s.price.lookup_key.is_some() {
                json!({ "lookup_key": null })
            } else {
                json!({ "nickname": null })
            };
            (price(&s.price, st.livemode), Some(previous))
        }
        "product.created" => (product(&s.price, st.livemode, t), None),
        "product.updated" => {
            let mut p = product(&s.price, st.livemode, t);
            p["description"] = json!(format!("{}: the platform plan", s.price.product_name));
            (p, Some(json!({ "description": null })))
        }
        "entitlements.active_entitlement_summary.updated" => {
            let summary = entitlement_summary(st, &s.features);
            (
                summary,
                Some(
                    json!({ "entitlements": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/customer/{}/entitlements", s.customer_id) } }),
                ),
            )
        }
        "payment_intent.succeeded" => (
            payment_intent(st, true, invoice_amount(s, &s.price), t),
            None,
        ),
        "payment_intent.payment_failed" => (
            payment_intent(st, false, invoice_amount(s, &s.price), t),
            None,
        ),
        "charge.succeeded" => (charge(st, true, invoice_amount(s, &s.price), t), None),
        "charge.failed" => (charge(st, false, invoice_amount(s, &s.price), t), None),
        "charge.refunded" => {
            let ch = appointment_charge(st, true, t);
            let previous = json!({ "amount_refunded": 0, "refunded": false });
            (ch, Some(previous))
        }
        "application_fee.created" => (application_fee(st, t), None),
        "transfer.created" => (transfer(st, t), None),
        other => unreachable!("{other} is in the catalog but has no builder"),
    }
}

/// Sets each key of `fields` on Stripe's example of `resource`.
fn from_example(resource: &str, fields: Value) -> Value {
    let mut o = template(resource);
    if let (Some(o), Value::Object(f)) = (o.as_object_mut(), fields) {
        for (k, v) in f {
            o.insert(k, v);
        }
    }
    o
}

fn metadata_of(raw: &str) -> Value {
    serde_json::from_str::<Map<String, Value>>(raw)
        .map(Value::Object)
        .unwrap_or_else(|_| json!({}))
}

pub fn customer(st: &Story) -> Value {
    let s = &st.subject;
    from_example(
        "customer",
        json!({
            "id": s.customer_id, "object": "customer", "created": s.customer_created,
            "email": s.email, "name": s.customer_name, "description": null, "phone": null,
            "metadata": { s.org_key.clone(): s.org_id }, "livemode": st.livemode, "balance": 0,
            "currency": s.price.currency, "delinquent": s.status == "past_due",
            "invoice_prefix": s.customer_id.get(4..12).unwrap_or("TESTFIRE").to_ascii_uppercase(),
            "next_invoice_sequence": 2, "preferred_locales": [], "tax_exempt": "none",
        }),
    )
}

pub fn price(p: &PriceFacts, livemode: bool) -> Value {
    let recurring = p.interval.as_ref().map(|i| {
        json!({ "interval": i, "interval_count": p.interval_count, "usage_type": "licensed", "meter": null, "trial_period_days": null })
    });
    from_example(
        "price",
        json!({
            "id": p.id, "object": "price", "active": true, "billing_scheme": "per_unit",
            "created": p.created, "currency": p.currency, "custom_unit_amount": null,
            "livemode": livemode, "lookup_key": p.lookup_key, "metadata": metadata_of(&p.metadata),
            "nickname": p.nickname, "product": p.product_id, "recurring": recurring,
            "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
            "type": if p.interval.is_some() { "recurring" } else { "one_time" },
            "unit_amount": p.unit_amount, "unit_amount_decimal": p.unit_amount.to_string(),
        }),
    )
}

pub fn product(p: &PriceFacts, livemode: bool, t: i64) -> Value {
    from_example(
        "product",
        json!({
            "id": p.product_id, "object": "product", "active": true, "created": p.created,
            "updated": t, "default_price": p.id, "description": null, "images": [],
            "livemode": livemode, "marketing_features": [], "metadata": {}, "name": p.product_name,
            "package_dimensions": null, "shippable": null, "statement_descriptor": null,
            "tax_code": null, "unit_label": null, "url": null,
        }),
    )
}

fn subscription_item(st: &Story, p: &PriceFacts) -> Value {
    let s = &st.subject;
    let price = price(p, st.livemode);
    from_example(
        "subscription_item",
        json!({
            "id": format!("si_{}", &s.subscription_id.get(4..).unwrap_or("testfire")),
            "object": "subscription_item", "billing_thresholds": null,
            "created": s.subscription_created, "current_period_start": s.period_start,
            "current_period_end": s.period_end, "discounts": [], "metadata": {},
            "plan": plan_from_price(&price), "price": price, "quantity": s.quantity,
            "subscription": s.subscription_id, "tax_rates": [],
        }),
    )
}

pub fn subscription(st: &Story, status: &str, p: &PriceFacts, _t: i64) -> Value {
    let s = &st.subject;
    let item = subscription_item(st, p);
    let trial = s.trial_end.filter(|_| status == "trialing");
    from_example(
        "subscription",
        json!({
            "id": s.subscription_id, "object": "subscription", "application": null,
            "application_fee_percent": null, "billing_cycle_anchor": s.period_start,
            "cancel_at": if s.cancel_at_period_end { json!(s.period_end) } else { Value::Null },
            "cancel_at_period_end": s.cancel_at_period_end, "canceled_at": null,
            "cancellation_details": { "comment": null, "feedback": null, "reason": null },
            "collection_method": "charge_automatically", "created": s.subscription_created,
            "currency": p.currency, "customer": s.customer_id, "days_until_due": null,
            "default_payment_method": null, "description": null, "discounts": [], "ended_at": null,
            "items": { "object": "list", "data": [item], "has_more": false, "total_count": 1, "url": format!("/v1/subscription_items?subscription={}", s.subscription_id) },
            "latest_invoice": st.invoice, "livemode": st.livemode, "metadata": {},
            "pause_collection": null, "pending_setup_intent": null, "pending_update": null,
            "schedule": null, "start_date": s.subscription_created, "status": status,
            "test_clock": null, "transfer_data": null, "trial_end": trial,
            "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
            "trial_start": trial.map(|_| s.subscription_created),
        }),
    )
}

/// An invoice's state in a story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inv {
    Draft,
    Open,
    Paid,
    Failed,
    ActionRequired,
}

fn invoice_amount(s: &Subject, p: &PriceFacts) -> i64 {
    p.unit_amount.saturating_mul(s.quantity)
}

pub fn invoice(st: &Story, state: Inv, reason: &str, p: &PriceFacts, amount: i64, t: i64) -> Value {
    let s = &st.subject;
    let paid = state == Inv::Paid;
    let finalized = state != Inv::Draft;
    let line = from_example(
        "line_item",
        json!({
            "id": format!("il_{}", &st.invoice.get(3..).unwrap_or("testfire")), "object": "line_item",
            "amount": amount, "currency": p.currency,
            "description": format!("{} × {} (at {} / {})", s.quantity, p.product_name, p.unit_amount, p.interval.as_deref().unwrap_or("once")),
            "discount_amounts": [], "discountable": true, "discounts": [], "invoice": st.invoice,
            "livemode": st.livemode, "metadata": {}, "period": { "start": s.period_start, "end": s.period_end },
            "pretax_credit_amounts": [], "quantity": s.quantity, "subscription": s.subscription_id,
            "subtotal": amount, "taxes": [],
            "pricing": { "type": "price_details", "price_details": { "price": p.id, "product": p.product_id }, "unit_amount_decimal": p.unit_amount.to_string() },
            "parent": { "type": "subscription_item_details", "invoice_item_details": null, "subscription_item_details": { "subscription": s.subscription_id, "subscription_item": format!("si_{}", &s.subscription_id.get(4..).unwrap_or("testfire")), "proration": reason == "subscription_update", "invoice_item": null, "proration_details": { "credited_items": null } } },
        }),
    );
    from_example(
        "invoice",
        json!({
            "id": st.invoice, "object": "invoice", "account_country": "DE", "account_name": "Tollgate test-fire",
            "amount_due": amount, "amount_overpaid": 0, "amount_paid": if paid { amount } else { 0 },
            "amount_remaining": if paid { 0 } else { amount }, "amount_shipping": 0,
            "attempt_count": match state { Inv::Draft => 0, Inv::Open | Inv::Paid | Inv::ActionRequired => 1, Inv::Failed => 1 },
            "attempted": finalized, "auto_advance": !paid, "billing_reason": reason,
            "collection_method": "charge_automatically", "created": t, "currency": p.currency,
            "customer": s.customer_id, "customer_email": s.email, "customer_name": s.customer_name,
            "description": null, "due_date": null, "effective_at": if finalized { json!(t) } else { Value::Null },
            "ending_balance": if finalized { json!(0) } else { Value::Null },
            "hosted_invoice_url": format!("https://invoice.stripe.com/i/{}", st.invoice),
            "invoice_pdf": format!("https://pay.stripe.com/invoice/{}/pdf", st.invoice),
            "lines": { "object": "list", "data": [line], "has_more": false, "total_count": 1, "url": format!("/v1/invoices/{}/lines", st.invoice) },
            "livemode": st.livemode, "metadata": {},
            "next_payment_attempt": match state { Inv::Failed => json!(t + 3 * 86400), Inv::Draft => json!(t + 3600), _ => Value::Null },
            "number": if finalized { json!(format!("{}-{:04}", s.customer_id.get(4..12).unwrap_or("TESTFIRE").to_ascii_uppercase(), 2)) } else { Value::Null },
            "parent": { "type": "subscription_details", "quote_details": null, "subscription_details": { "subscription": s.subscription_id, "metadata": {} } },
            "period_start": s.period_start, "period_end": s.period_end, "starting_balance": 0,
            "status": match state { Inv::Draft => "draft", Inv::Paid => "paid", _ => "open" },
            "status_transitions": { "finalized_at": if finalized { json!(t) } else { Value::Null }, "marked_uncollectible_at": null, "paid_at": if paid { json!(t) } else { Value::Null }, "voided_at": null },
            "subscription": s.subscription_id, "subtotal": amount, "subtotal_excluding_tax": amount,
            "test_clock": null, "total": amount, "total_discount_amounts": [], "total_excluding_tax": amount,
            "total_pretax_credit_amounts": [], "total_taxes": [], "webhooks_delivered_at": if finalized { json!(t) } else { Value::Null },
        }),
    )
}

pub fn payment_intent(st: &Story, succeeded: bool, amount: i64, t: i64) -> Value {
    let s = &st.subject;
    let error = (!succeeded).then(|| json!({ "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.", "charge": st.charge }));
    from_example(
        "payment_intent",
        json!({
            "id": st.payment_intent, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_received": if succeeded { amount } else { 0 }, "application_fee_amount": null,
            "canceled_at": null, "cancellation_reason": null, "capture_method": "automatic",
            "client_secret": format!("{}_secret_testfire", st.payment_intent), "confirmation_method": "automatic",
            "created": t, "currency": s.price.currency, "customer": s.customer_id,
            "description": "Subscription update", "last_payment_error": error, "latest_charge": st.charge,
            "livemode": st.livemode, "metadata": {}, "payment_method_types": ["card"],
            "status": if succeeded { "succeeded" } else { "requires_payment_method" },
            "transfer_data": null, "transfer_group": null,
        }),
    )
}

pub fn charge(st: &Story, succeeded: bool, amount: i64, t: i64) -> Value {
    let s = &st.subject;
    from_example(
        "charge",
        json!({
            "id": st.charge, "object": "charge", "amount": amount, "amount_captured": if succeeded { amount } else { 0 },
            "amount_refunded": 0, "application_fee": null, "application_fee_amount": null,
            "captured": succeeded, "created": t, "currency": s.price.currency, "customer": s.customer_id,
            "description": "Subscription update", "failure_code": if succeeded { Value::Null } else { json!("card_declined") },
            "failure_message": if succeeded { Value::Null } else { json!("Your card was declined.") },
            "livemode": st.livemode, "metadata": {}, "paid": succeeded, "payment_intent": st.payment_intent,
            "outcome": if succeeded {
                json!({ "network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized" })
            } else {
                json!({ "network_status": "declined_by_network", "reason": "generic_decline", "risk_level": "normal", "seller_message": "The bank did not return any further details with this decline.", "type": "issuer_declined" })
            },
            "refunded": false, "refunds": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/charges/{}/refunds", st.charge) },
            "status": if succeeded { "succeeded" } else { "failed" }, "transfer": null, "transfer_data": null, "transfer_group": null,
        }),
    )
}

/// An appointment: a destination charge to the expert with the commission as application fee
/// at the plan's rate (price metadata `commissionRate`, basis points; 12.00 % if none).
fn appointment(st: &Story) -> (i64, i64) {
    let amount = 8_000;
    let rate = metadata_of(&st.subject.price.metadata)["commissionRate"]
        .as_str()
        .and_then(BasisPoints::from_metadata)
        .unwrap_or(BasisPoints(1200));
    (amount, rate.of(amount))
}

pub fn appointment_charge(st: &Story, refunded: bool, t: i64) -> Value {
    let s = &st.subject;
    let (amount, fee) = appointment(st);
    let refund = from_example(
        "refund",
        json!({ "id": random_id("re"), "object": "refund", "amount": amount, "charge": st.appointment_charge, "created": t, "currency": s.price.currency, "metadata": {}, "payment_intent": st.payment_intent, "reason": "requested_by_customer", "status": "succeeded" }),
    );
    from_example(
        "charge",
        json!({
            "id": st.appointment_charge, "object": "charge", "amount": amount, "amount_captured": amount,
            "amount_refunded": if refunded { amount } else { 0 }, "application_fee": st.fee,
            "application_fee_amount": fee, "captured": true, "created": t - 86400,
            "currency": s.price.currency, "customer": s.customer_id, "description": "Appointment",
            "failure_code": null, "failure_message": null, "livemode": st.livemode,
            "metadata": { s.org_key.clone(): s.org_id }, "paid": true, "payment_intent": st.payment_intent,
            "refunded": refunded,
            "refunds": { "object": "list", "data": if refunded { vec![refund] } else { vec![] }, "has_more": false, "url": format!("/v1/charges/{}/refunds", st.appointment_charge) },
            "status": "succeeded", "transfer": st.transfer, "transfer_data": { "amount": null, "destination": st.expert },
            "transfer_group": format!("group_{}", st.payment_intent),
        }),
    )
}

pub fn application_fee(st: &Story, t: i64) -> Value {
    let (_, fee) = appointment(st);
    from_example(
        "application_fee",
        json!({
            "id": st.fee, "object": "application_fee", "account": st.expert, "amount": fee,
            "amount_refunded": 0, "charge": st.appointment_charge, "created": t,
            "currency": st.subject.price.currency, "fee_source": { "type": "charge", "charge": st.appointment_charge },
            "livemode": st.livemode, "originating_transaction": st.appointment_charge, "refunded": false,
            "refunds": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/application_fees/{}/refunds", st.fee) },
        }),
    )
}

pub fn transfer(st: &Story, t: i64) -> Value {
    let (amount, _) = appointment(st);
    from_example(
        "transfer",
        json!({
            "id": st.transfer, "object": "transfer", "amount": amount, "amount_reversed": 0,
            "created": t, "currency": st.subject.price.currency, "description": null,
            "destination": st.expert, "destination_payment": format!("py_{}", &st.transfer.get(3..).unwrap_or("testfire")),
            "livemode": st.livemode, "metadata": {}, "reversals": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{}/reversals", st.transfer) },
            "reversed": false, "source_transaction": st.appointment_charge, "transfer_group": format!("group_{}", st.payment_intent),
        }),
    )
}

pub fn session(st: &Story, mode: &str, status: &str, t: i64) -> Value {
    let s = &st.subject;
    let complete = status == "complete";
    let amount = invoice_amount(s, &s.price);
    from_example(
        "checkout.session",
        json!({
            "id": st.session, "object": "checkout.session", "amount_subtotal": amount, "amount_total": amount,
            "cancel_url": null, "client_reference_id": s.org_id, "created": t - 600, "currency": s.price.currency,
            "customer": s.customer_id, "customer_creation": null, "customer_email": s.email,
            "customer_details": { "address": null, "email": s.email, "name": s.customer_name, "phone": null, "tax_exempt": "none", "tax_ids": [] },
            "expires_at": if complete { t - 600 + 86400 } else { t }, "invoice": if complete && mode == "subscription" { json!(st.invoice) } else { Value::Null },
            "livemode": st.livemode, "metadata": { s.org_key.clone(): s.org_id }, "mode": mode,
            "payment_intent": if complete && mode == "payment" { json!(st.payment_intent) } else { Value::Null },
            "payment_method_types": ["card"], "payment_status": if complete { "paid" } else { "unpaid" },
            "status": status, "subscription": if complete && mode == "subscription" { json!(s.subscription_id) } else { Value::Null },
            "success_url": "https://example.com/welcome?session_id={CHECKOUT_SESSION_ID}",
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "url": if complete { Value::Null } else { json!(format!("https://checkout.stripe.com/c/pay/{}", st.session)) },
        }),
    )
}

pub fn entitlement_summary(st: &Story, features: &[(String, String)]) -> Value {
    let s = &st.subject;
    let data: Vec<Value> = features
        .iter()
        .map(|(fid, key)| {
            from_example(
                "entitlements.active_entitlement",
                json!({ "id": format!("ent_{}", &random_id("x")[2..]), "object": "entitlements.active_entitlement", "feature": fid, "livemode": st.livemode, "lookup_key": key }),
            )
        })
        .collect();
    from_example(
        "entitlements.active_entitlement_summary",
        json!({
            "object": "entitlements.active_entitlement_summary", "customer": s.customer_id, "livemode": st.livemode,
            "entitlements": { "object": "list", "data": data, "has_more": false, "url": format!("/v1/customer/{}/entitlements", s.customer_id) },
        }),
    )
}
