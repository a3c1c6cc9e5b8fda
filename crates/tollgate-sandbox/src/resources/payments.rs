//! Connect destination charges as the platform books appointments: a payment intent on the
//! platform with `application_fee_amount` (the commission) and `transfer_data.destination`
//! (the expert's connected account), which yields a charge, an application fee and a transfer;
//! refunds; and the connected accounts themselves.

use serde_json::{json, Value};

use super::billing::take_outcome;
use super::{merge_metadata, s, Call};
use crate::error::StripeError;
use crate::listing;
use crate::params::{check, check_list, opt, req, Kind, P};
use crate::world::{template, PaymentOutcome, World};

fn origin(c: Option<&Call>) -> Option<(&str, Option<&str>)> {
    c.and_then(Call::origin)
}

// ---- connected accounts -----------------------------------------------------------------

pub fn create_account(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(
        &[
            opt("type", Kind::Enum(&["custom", "express", "standard"])),
            opt("country", Kind::Str),
            opt("email", Kind::Str),
            opt("metadata", Kind::Metadata),
            opt(
                "business_type",
                Kind::Enum(&["company", "government_entity", "individual", "non_profit"]),
            ),
            opt(
                "business_profile",
                Kind::Obj(
                    const {
                        &[
                            opt("name", Kind::Str),
                            opt("url", Kind::Str),
                            opt("mcc", Kind::Str),
                            opt("product_description", Kind::Str),
                        ]
                    },
                ),
            ),
            opt(
                "capabilities",
                Kind::Obj(
                    const {
                        &[
                            opt(
                                "card_payments",
                                Kind::Obj(const { &[opt("requested", Kind::Bool)] }),
                            ),
                            opt(
                                "transfers",
                                Kind::Obj(const { &[opt("requested", Kind::Bool)] }),
                            ),
                        ]
                    },
                ),
            ),
        ],
        c.params.clone(),
        "",
    )?;
    let acct = new_account(
        w,
        s(&p, "email"),
        p.get("business_profile").and_then(|b| b["name"].as_str()),
        s(&p, "country").unwrap_or("DE"),
    );
    let mut acct = acct;
    merge_metadata(&mut acct, p.get("metadata"));
    if let Some(t) = s(&p, "business_type") {
        acct["business_type"] = json!(t);
    }
    let acct = w.insert(acct);
    w.emit("account.updated", &acct, None, c.origin());
    Ok(acct)
}

/// A connected account that can take transfers (an expert).
pub fn new_account(w: &mut World, email: Option<&str>, name: Option<&str>, country: &str) -> Value {
    let mut a = template("account");
    a["id"] = json!(w.new_id("acct"));
    a["object"] = json!("account");
    a["created"] = json!(w.now());
    a["email"] = email.map(|e| json!(e)).unwrap_or(Value::Null);
    a["country"] = json!(country);
    a["default_currency"] = json!("eur");
    a["charges_enabled"] = json!(true);
    a["payouts_enabled"] = json!(true);
    a["details_submitted"] = json!(true);
    a["business_profile"]["name"] = name.map(|n| json!(n)).unwrap_or(Value::Null);
    a["settings"]["dashboard"]["display_name"] = name.map(|n| json!(n)).unwrap_or(Value::Null);
    a["capabilities"] = json!({ "card_payments": "active", "transfers": "active" });
    a["metadata"] = json!({});
    a["type"] = json!("express");
    let id = a["id"].as_str().unwrap_or_default().to_owned();
    a["external_accounts"]["url"] = json!(format!("/v1/accounts/{id}/external_accounts"));
    a
}

pub fn list_accounts<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, _) = check_list(&[], c.params.clone())?;
    listing::page(w, "account", &c.path, &common, |_| true)
}

// ---- payment intents --------------------------------------------------------------------

/// A payment to collect at once.
pub struct Charge {
    pub amount: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub application_fee_amount: Option<i64>,
    pub destination: Option<String>,
    pub metadata: Option<Value>,
    pub description: Option<String>,
}

fn validate(w: &World, ch: &Charge) -> Result<(), StripeError> {
    if ch.amount < 50 {
        return Err(StripeError::invalid_param(
            "amount",
            "Amount must be at least 50 cents (€0.50 eur)".into(),
        ));
    }
    if let Some(fee) = ch.application_fee_amount {
        if fee < 0 || fee > ch.amount {
            return Err(StripeError::invalid_param(
                "application_fee_amount",
                "The application_fee_amount must be between 0 and the amount.".into(),
            ));
        }
        if ch.destination.is_none() {
            return Err(StripeError::invalid_state(Some("application_fee_amount"), "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).".into()));
        }
    }
    if let Some(dest) = &ch.destination {
        w.find(
            dest,
            "account",
            "account",
            Some("transfer_data[destination]"),
        )?;
    }
    if let Some(cus) = &ch.customer {
        w.find(cus, "customer", "customer", Some("customer"))?;
    }
    Ok(())
}

fn new_intent(w: &mut World, ch: &Charge) -> Value {
    let now = w.now();
    let id = w.new_id("pi");
    let mut pi = template("payment_intent");
    pi["id"] = json!(id);
    pi["object"] = json!("payment_intent");
    pi["created"] = json!(now);
    pi["amount"] = json!(ch.amount);
    pi["amount_capturable"] = json!(0);
    pi["amount_received"] = json!(0);
    pi["currency"] = json!(ch.currency);
    pi["customer"] = ch
        .customer
        .as_ref()
        .map(|c| json!(c))
        .unwrap_or(Value::Null);
    pi["application_fee_amount"] = ch
        .application_fee_amount
        .map(|f| json!(f))
        .unwrap_or(Value::Null);
    pi["transfer_data"] = ch
        .destination
        .as_ref()
        .map(|d| json!({ "destination": d }))
        .unwrap_or(Value::Null);
    pi["description"] = ch
        .description
        .as_ref()
        .map(|d| json!(d))
        .unwrap_or(Value::Null);
    pi["livemode"] = json!(false);
    pi["metadata"] = json!({});
    pi["latest_charge"] = Value::Null;
    pi["last_payment_error"] = Value::Null;
    pi["status"] = json!("requires_payment_method");
    pi["client_secret"] = json!(format!("{id}_secret_sandbox"));
    pi["payment_method_types"] = json!(["card"]);
    pi["canceled_at"] = Value::Null;
    pi["cancellation_reason"] = Value::Null;
    pi["transfer_group"] = ch
        .destination
        .as_ref()
        .map(|_| json!(format!("group_{id}")))
        .unwrap_or(Value::Null);
    merge_metadata(&mut pi, ch.metadata.as_ref());
    pi
}

/// Tries to collect a payment intent: succeeded (charge, fee, transfer) or failed.
fn attempt(w: &mut World, c: Option<&Call>, pi_id: &str) -> Value {
    let pi = w.objects[pi_id].clone();
    let customer = pi["customer"].as_str().map(str::to_owned);
    let outcome = customer
        .as_deref()
        .map(|cus| take_outcome(w, cus))
        .unwrap_or(PaymentOutcome::Succeed);
    let now = w.now();
    let amount = pi["amount"].as_i64().unwrap_or(0);
    let ch_id = w.new_id("ch");
    let mut ch = template("charge");
    ch["id"] = json!(ch_id);
    ch["object"] = json!("charge");
    ch["created"] = json!(now);
    ch["amount"] = json!(amount);
    ch["currency"] = pi["currency"].clone();
    ch["customer"] = pi["customer"].clone();
    ch["payment_intent"] = json!(pi_id);
    ch["description"] = pi["description"].clone();
    ch["livemode"] = json!(false);
    ch["metadata"] = pi["metadata"].clone();
    ch["amount_refunded"] = json!(0);
    ch["refunded"] = json!(false);
    ch["refunds"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/charges/{ch_id}/refunds") });
    ch["application_fee_amount"] = pi["application_fee_amount"].clone();
    ch["transfer_data"] = pi["transfer_data"].clone();
    ch["transfer_group"] = pi["transfer_group"].clone();
    ch["application_fee"] = Value::Null;
    ch["transfer"] = Value::Null;
    let mut pi2 = pi.clone();
    pi2["latest_charge"] = json!(ch_id);
    if outcome == PaymentOutcome::Fail {
        ch["status"] = json!("failed");
        ch["paid"] = json!(false);
        ch["captured"] = json!(false);
        ch["amount_captured"] = json!(0);
        ch["failure_code"] = json!("card_declined");
        ch["failure_message"] = json!("Your card was declined.");
        ch["outcome"] = json!({ "network_status": "declined_by_network", "reason": "generic_decline", "risk_level": "normal", "seller_message": "The bank did not return any further details with this decline.", "type": "issuer_declined" });
        let ch = w.insert(ch);
        pi2["status"] = json!("requires_payment_method");
        pi2["last_payment_error"] = json!({ "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.", "charge": ch_id });
        w.put(pi2.clone());
        w.emit("charge.failed", &ch, None, origin(c));
        w.emit("payment_intent.payment_failed", &pi2, None, origin(c));
        return pi2;
    }
    ch["status"] = json!("succeeded");
    ch["paid"] = json!(true);
    ch["captured"] = json!(true);
    ch["amount_captured"] = json!(amount);
    ch["failure_code"] = Value::Null;
    ch["failure_message"] = Value::Null;
    ch["outcome"] = json!({ "network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized" });
    let mut events: Vec<(&str, Value)> = Vec::new();
    if let Some(dest) = pi["transfer_data"]["destination"].as_str() {
        let fee = pi["application_fee_amount"].as_i64().unwrap_or(0);
        let tr_id = w.new_id("tr");
        let mut tr = template("transfer");
        tr["id"] = json!(tr_id);
        tr["object"] = json!("transfer");
        tr["created"] = json!(now);
        tr["amount"] = json!(amount);
        tr["amount_reversed"] = json!(0);
        tr["currency"] = pi["currency"].clone();
        tr["destination"] = json!(dest);
        tr["destination_payment"] = json!(format!("py_{}", &tr_id[3..]));
        tr["source_transaction"] = json!(ch_id);
        tr["transfer_group"] = pi["transfer_group"].clone();
        tr["livemode"] = json!(false);
        tr["metadata"] = json!({});
        tr["reversed"] = json!(false);
        tr["reversals"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{tr_id}/reversals") });
        tr["description"] = Value::Null;
        let tr = w.insert(tr);
        ch["transfer"] = json!(tr_id);
        events.push(("transfer.created", tr));
        if fee > 0 {
            let fee_id = w.new_id("fee");
            let mut f = template("application_fee");
            f["id"] = json!(fee_id);
            f["object"] = json!("application_fee");
            f["created"] = json!(now);
            f["amount"] = json!(fee);
            f["amount_refunded"] = json!(0);
            f["currency"] = pi["currency"].clone();
            f["account"] = json!(dest);
            f["charge"] = json!(ch_id);
            f["livemode"] = json!(false);
            f["refunded"] = json!(false);
            f["refunds"] = json!({ "object": "list", "data": [], "has_more": false, "url": format!("/v1/application_fees/{fee_id}/refunds") });
            f["originating_transaction"] = json!(ch_id);
            f["fee_source"] = json!({ "type": "charge", "charge": ch_id });
            let f = w.insert(f);
            ch["application_fee"] = json!(fee_id);
            events.push(("application_fee.created", f));
        }
    }
    let ch = w.insert(ch);
    pi2["status"] = json!("succeeded");
    pi2["amount_received"] = json!(amount);
    w.put(pi2.clone());
    w.emit("charge.succeeded", &ch, None, origin(c));
    w.emit("payment_intent.succeeded", &pi2, None, origin(c));
    for (t, obj) in events {
        w.emit(t, &obj, None, origin(c));
    }
    pi2
}

/// Creates and confirms a payment intent (checkout in payment mode, booked appointments).
pub fn charge(w: &mut World, c: Option<&Call>, ch: Charge) -> Result<Value, StripeError> {
    validate(w, &ch)?;
    let pi = new_intent(w, &ch);
    let pi = w.insert(pi);
    w.emit("payment_intent.created", &pi, None, origin(c));
    Ok(attempt(w, c, pi["id"].as_str().unwrap_or_default()))
}

const PI_CREATE: &[P] = &[
    req("amount", Kind::Int),
    req("currency", Kind::Str),
    opt("customer", Kind::Str),
    opt("application_fee_amount", Kind::Int),
    opt(
        "transfer_data",
        Kind::Obj(const { &[req("destination", Kind::Str), opt("amount", Kind::Int)] }),
    ),
    opt("on_behalf_of", Kind::Str),
    opt("transfer_group", Kind::Str),
    opt("metadata", Kind::Metadata),
    opt("description", Kind::Str),
    opt("confirm", Kind::Bool),
    opt("payment_method", Kind::Str),
    opt("payment_method_types", Kind::Arr(&Kind::Str, 20)),
    opt(
        "automatic_payment_methods",
        Kind::Obj(
            const {
                &[
                    req("enabled", Kind::Bool),
                    opt("allow_redirects", Kind::Enum(&["always", "never"])),
                ]
            },
        ),
    ),
    opt("receipt_email", Kind::Str),
    opt("statement_descriptor_suffix", Kind::Str),
    opt(
        "capture_method",
        Kind::Enum(&["automatic", "automatic_async"]),
    ),
    opt("off_session", Kind::Bool),
    opt("return_url", Kind::Str),
];

pub fn create_intent(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(PI_CREATE, c.params.clone(), "")?;
    let ch = Charge {
        amount: p["amount"].as_i64().unwrap_or(0),
        currency: s(&p, "currency").unwrap_or_default().to_ascii_lowercase(),
        customer: s(&p, "customer").map(str::to_owned),
        application_fee_amount: p.get("application_fee_amount").and_then(Value::as_i64),
        destination: p
            .get("transfer_data")
            .and_then(|t| t["destination"].as_str())
            .map(str::to_owned),
        metadata: p.get("metadata").cloned(),
        description: s(&p, "description").map(str::to_owned),
    };
    if p.get("confirm") == Some(&json!(true)) {
        let pi = charge(w, Some(c), ch)?;
        if pi["status"] != "succeeded" {
            return Err(
                StripeError::card_declined("Your card was declined.").with_payment_intent(pi)
            );
        }
        return Ok(pi);
    }
    validate(w, &ch)?;
    let pi = new_intent(w, &ch);
    let pi = w.insert(pi);
    w.emit("payment_intent.created", &pi, None, c.origin());
    Ok(pi)
}

pub fn confirm_intent(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(
        &[
            opt("payment_method", Kind::Str),
            opt("return_url", Kind::Str),
            opt("off_session", Kind::Bool),
        ],
        c.params.clone(),
        "",
    )?;
    let pi = w.find(id, "payment_intent", "payment_intent", Some("intent"))?;
    if !["requires_payment_method", "requires_confirmation"]
        .contains(&pi["status"].as_str().unwrap_or_default())
    {
        return Err(StripeError::invalid_state(
            None,
            format!(
                "This PaymentIntent's status is {}; it cannot be confirmed.",
                pi["status"]
            ),
        )
        .with_code("payment_intent_unexpected_state"));
    }
    let pi = attempt(w, Some(c), id);
    if pi["status"] != "succeeded" {
        return Err(StripeError::card_declined("Your card was declined.").with_payment_intent(pi));
    }
    Ok(pi)
}

pub fn cancel_intent(w: &mut World, c: &Call, id: &str) -> Result<Value, StripeError> {
    check(
        &[opt(
            "cancellation_reason",
            Kind::Enum(&[
                "abandoned",
                "duplicate",
                "fraudulent",
                "requested_by_customer",
            ]),
        )],
        c.params.clone(),
        "",
    )?;
    let now = w.now();
    let pi = w.find_mut(id, "payment_intent", "payment_intent", Some("intent"))?;
    if pi["status"] == "succeeded" || pi["status"] == "canceled" {
        return Err(StripeError::invalid_state(
            None,
            format!(
                "You cannot cancel this PaymentIntent because it has a status of {}.",
                pi["status"]
            ),
        )
        .with_code("payment_intent_unexpected_state"));
    }
    pi["status"] = json!("canceled");
    pi["canceled_at"] = json!(now);
    pi["cancellation_reason"] = c
        .params
        .get("cancellation_reason")
        .cloned()
        .unwrap_or(Value::Null);
    let out = pi.clone();
    w.emit("payment_intent.canceled", &out, None, c.origin());
    Ok(out)
}

pub fn list_intents<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(&[opt("customer", Kind::Str)], c.params.clone())?;
    listing::page(w, "payment_intent", &c.path, &common, |o| {
        f.get("customer").is_none_or(|x| &o["customer"] == x)
    })
}

pub fn list_charges<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("customer", Kind::Str),
            opt("payment_intent", Kind::Str),
            opt("transfer_group", Kind::Str),
        ],
        c.params.clone(),
    )?;
    listing::page(w, "charge", &c.path, &common, |o| {
        ["customer", "payment_intent", "transfer_group"]
            .iter()
            .all(|k| f.get(*k).is_none_or(|x| &o[*k] == x))
    })
}

pub fn list_fees<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(&[opt("charge", Kind::Str)], c.params.clone())?;
    listing::page(w, "application_fee", &c.path, &common, |o| {
        f.get("charge").is_none_or(|x| &o["charge"] == x)
    })
}

pub fn list_transfers<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[
            opt("destination", Kind::Str),
            opt("transfer_group", Kind::Str),
        ],
        c.params.clone(),
    )?;
    listing::page(w, "transfer", &c.path, &common, |o| {
        ["destination", "transfer_group"]
            .iter()
            .all(|k| f.get(*k).is_none_or(|x| &o[*k] == x))
    })
}

// ---- refunds ----------------------------------------------------------------------------

pub fn create_refund(w: &mut World, c: &Call) -> Result<Value, StripeError> {
    let p = check(
        &[
            opt("charge", Kind::Str),
            opt("payment_intent", Kind::Str),
            opt("amount", Kind::Int),
            opt(
                "reason",
                Kind::Enum(&["duplicate", "fraudulent", "requested_by_customer"]),
            ),
            opt("refund_application_fee", Kind::Bool),
            opt("reverse_transfer", Kind::Bool),
            opt("metadata", Kind::Metadata),
        ],
        c.params.clone(),
        "",
    )?;
    let ch_id = match (s(&p, "charge"), s(&p, "payment_intent")) {
        (Some(ch), _) => ch.to_owned(),
        (None, Some(pi)) => {
            let pi = w.find(pi, "payment_intent", "payment_intent", Some("payment_intent"))?;
            pi["latest_charge"].as_str().filter(|_| pi["status"] == "succeeded").ok_or_else(|| StripeError::invalid_state(Some("payment_intent"), "This PaymentIntent does not have a successful charge to refund.".into()))?.to_owned()
        }
        (None, None) => return Err(StripeError::invalid_state(None, "One of the following params should be provided for this request: payment_intent or charge.".into())),
    };
    let ch = w.find(&ch_id, "charge", "charge", Some("charge"))?.clone();
    let captured = ch["amount_captured"].as_i64().unwrap_or(0);
    let already = ch["amount_refunded"].as_i64().unwrap_or(0);
    let amount = p
        .get("amount")
        .and_then(Value::as_i64)
        .unwrap_or(captured - already);
    if amount <= 0 || already + amount > captured {
        return Err(StripeError::invalid_param(
            "amount",
            format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({})",
                captured - already
            ),
        )
        .with_code("amount_too_large"));
    }
    let now = w.now();
    let re_id = w.new_id("re");
    let mut re = template("refund");
    re["id"] = json!(re_id);
    re["object"] = json!("refund");
    re["created"] = json!(now);
    re["amount"] = json!(amount);
    re["currency"] = ch["currency"].clone();
    re["charge"] = json!(ch_id);
    re["payment_intent"] = ch["payment_intent"].clone();
    re["reason"] = p.get("reason").cloned().unwrap_or(Value::Null);
    re["status"] = json!("succeeded");
    re["metadata"] = json!({});
    merge_metadata(&mut re, p.get("metadata"));
    let re = w.insert(re);
    let mut ch2 = ch.clone();
    ch2["amount_refunded"] = json!(already + amount);
    ch2["refunded"] = json!(already + amount == captured);
    if let Some(list) = ch2["refunds"]["data"].as_array_mut() {
        list.insert(0, re.clone());
    }
    w.put(ch2.clone());
    w.emit("refund.created", &re, None, c.origin());
    w.emit(
        "charge.refunded",
        &ch2,
        Some(json!({ "amount_refunded": already, "refunded": false })),
        c.origin(),
    );
    if p.get("refund_application_fee") == Some(&json!(true)) {
        if let Some(fee_id) = ch["application_fee"].as_str() {
            let fee = w.objects.get_mut(fee_id).expect("fee of a charge exists");
            let fee_amount = fee["amount"].as_i64().unwrap_or(0);
            // The fee is refunded in proportion to the amount refunded, rounded half up.
            let back = (fee_amount * amount * 2 + captured) / (2 * captured.max(1));
            let refunded = (fee["amount_refunded"].as_i64().unwrap_or(0) + back).min(fee_amount);
            fee["amount_refunded"] = json!(refunded);
            fee["refunded"] = json!(refunded == fee_amount);
            let out = fee.clone();
            w.emit("application_fee.refunded", &out, None, c.origin());
        }
    }
    Ok(re)
}

pub fn list_refunds<'a>(w: &'a World, c: &Call) -> Result<crate::listing::Out<'a>, StripeError> {
    let (common, f) = check_list(
        &[opt("charge", Kind::Str), opt("payment_intent", Kind::Str)],
        c.params.clone(),
    )?;
    listing::page(w, "refund", &c.path, &common, |o| {
        ["charge", "payment_intent"]
            .iter()
            .all(|k| f.get(*k).is_none_or(|x| &o[*k] == x))
    })
}
