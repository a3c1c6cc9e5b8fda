//! `/_sandbox/`: what only time or a card would do. Same auth and error shape as `/v1`.
//!
//! - `POST /_sandbox/clock/advance` `seconds=N` or `days=N`: renewals, trial ends, period-end
//!   cancellations and expiries happen, with their invoices and events.
//! - `GET /_sandbox/clock`: the sandbox's now.
//! - `POST /_sandbox/customers/{id}/next_payment` `outcome=fail|succeed`: the customer's next
//!   charge (renewal, new subscription, payment) fails or succeeds.
//! - `POST /_sandbox/appointments` `expert_account=acct_…&amount=…[&currency=eur]
//!   [&commission_bps=1200 | &application_fee_amount=…][&customer=cus_…][&organization_id=…]`:
//!   an appointment payment, as a destination charge to the expert with the commission as the
//!   application fee.
//! - `POST /_sandbox/checkout_sessions/{id}/complete`: the customer finishes Checkout.
//! - `POST /_sandbox/faults` `status=429|409|500&count=N`: the next N `/v1` requests fail so,
//!   with `Stripe-Should-Retry: true`, to exercise a client's retries.
//! - `POST /_sandbox/populate` `count=N&price=price_…[&prefix=bulk]`: N organizations, each a
//!   customer with an `organization_id` and an active subscription to the price, all made at
//!   one instant (benchmarks); answers `created`.
//! - `POST /_sandbox/renewal_day` `count=N&price=price_…[&prefix=renewal]`: the 1st of the
//!   month in two calls. Populates N organizations as `populate` does (all starting now, so
//!   all renewing together) and answers `created`, `customers` and `subscriptions` (the ids,
//!   in order), `current_period_end`, and `advance_seconds`: then `POST /_sandbox/clock/advance
//!   seconds=<advance_seconds>` renews every one (and whatever else is due), each with
//!   `invoice.created`, `invoice.finalized`, `invoice.paid`, `invoice.payment_succeeded`,
//!   `customer.subscription.updated`, in that order.
//! - `POST /_sandbox/dialect` `mode=stripe|foreign`: answer as Stripe, or as a Stripe that is
//!   not Tollgate's own (see `dialect`).
//! - `POST /_sandbox/rate_limit` `limit=N`: Stripe's rate limiter at N `/v1` requests a
//!   second (0: off), answering past it with Stripe's 429 (`rate_limit`,
//!   `Stripe-Rate-Limited-Reason: global-rate`); `--rate-limit N` sets it at start.
//! - `GET /_sandbox/state`: `requests` (authenticated `/v1` requests since start: `v1`,
//!   `v1_get`, `v1_post`, `rate_limited` 429s of the limiter, `faulted` injected faults
//!   answered), `webhooks` (`queued`, `delivered`, `failed` deliveries, `last_delivered_at_ms`
//!   unix milliseconds or null), `rate_limit` (N or null), the seed, now, object counts.
//! - `POST /_sandbox/requests/reset`: the `requests` counters back to 0.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::State as AxState;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::api::{queue_deliveries, request_params};
use crate::params::{check, opt, req, Kind};
use crate::resources::payments::{charge, Charge};
use crate::resources::{billing, Call};
use crate::world::PaymentOutcome;
use crate::{State, StripeError};

pub(crate) async fn handle(
    AxState(state): AxState<Arc<State>>,
    method: Method,
    uri: Uri,
    body: Body,
) -> Response {
    let body = to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    let mut w = state.world.lock().await;
    let events_before = w.ids("event").len();
    let request_id = w.next_request_id();
    let result = (|| -> Result<Value, StripeError> {
        let params = request_params(&uri, &body)?;
        let path = uri.path().to_owned();
        let call = Call {
            params,
            request_id,
            idempotency_key: None,
            path: path.clone(),
        };
        let segs: Vec<&str> = path
            .trim_start_matches("/_sandbox/")
            .trim_end_matches('/')
            .split('/')
            .collect();
        match (&method, segs.as_slice()) {
            (&Method::POST, ["dialect"]) => {
                let p = check(
                    &[req("mode", Kind::Enum(&["stripe", "foreign"]))],
                    call.params.clone(),
                    "",
                )?;
                let foreign = p["mode"] == "foreign";
                state
                    .foreign
                    .store(foreign, std::sync::atomic::Ordering::Relaxed);
                Ok(json!({ "dialect": if foreign { "foreign" } else { "stripe" } }))
            }
            (&Method::GET, ["clock"]) => {
                Ok(json!({ "now": w.now(), "offset_seconds": w.clock_offset }))
            }
            (&Method::POST, ["clock", "advance"]) => {
                let p = check(
                    &[opt("seconds", Kind::Int), opt("days", Kind::Int)],
                    call.params.clone(),
                    "",
                )?;
                let ten_years = 10 * 366 * 86400;
                let secs = p
                    .get("seconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .clamp(-ten_years, ten_years)
                    + p.get("days")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        .clamp(-3660, 3660)
                        * 86400;
                if secs <= 0 {
                    return Err(StripeError::invalid_param(
                        "seconds",
                        "Advance the clock by a positive number of seconds or days (at most ten years)".into(),
                    ));
                }
                let renewed = billing::advance_clock(&mut w, secs);
                Ok(json!({ "now": w.now(), "offset_seconds": w.clock_offset, "renewed": renewed }))
            }
            (&Method::POST, ["customers", id, "next_payment"]) => {
                let p = check(
                    &[req("outcome", Kind::Enum(&["fail", "succeed"]))],
                    call.params.clone(),
                    "",
                )?;
                w.find(id, "customer", "customer", Some("customer"))?;
                let outcome = if p["outcome"] == "fail" {
                    PaymentOutcome::Fail
                } else {
                    PaymentOutcome::Succeed
                };
                w.next_payment.insert((*id).to_owned(), outcome);
                Ok(json!({ "customer": id, "next_payment": p["outcome"] }))
            }
            (&Method::POST, ["appointments"]) => {
                let p = check(
                    &[
                        req("expert_account", Kind::Str),
                        req("amount", Kind::Int),
                        opt("currency", Kind::Str),
                        opt("commission_bps", Kind::Int),
                        opt("application_fee_amount", Kind::Int),
                        opt("customer", Kind::Str),
                        opt("organization_id", Kind::Str),
                        opt("description", Kind::Str),
                    ],
                    call.params.clone(),
                    "",
                )?;
                let amount = p["amount"].as_i64().unwrap_or(0);
                let fee = match (
                    p.get("commission_bps").and_then(Value::as_i64),
                    p.get("application_fee_amount").and_then(Value::as_i64),
                ) {
                    (Some(_), Some(_)) => {
                        return Err(StripeError::invalid_state(
                            Some("commission_bps"),
                            "Give commission_bps or application_fee_amount, not both".into(),
                        ))
                    }
                    (Some(bps), None) if !(0..=10_000).contains(&bps) => {
                        return Err(StripeError::invalid_param(
                            "commission_bps",
                            "Invalid commission_bps: must be 0 to 10000".into(),
                        ))
                    }
                    // Half up to the minor unit.
                    (Some(bps), None) => Some((amount * bps + 5_000) / 10_000),
                    (None, fee) => fee,
                };
                let mut metadata = json!({ "kind": "appointment" });
                if let Some(org) = p.get("organization_id") {
                    metadata["organization_id"] = org.clone();
                }
                if let Some(bps) = p.get("commission_bps") {
                    metadata["commission_rate_bps"] = json!(bps.to_string());
                }
                let pi = charge(
                    &mut w,
                    Some(&call),
                    Charge {
                        amount,
                        currency: p
                            .get("currency")
                            .and_then(Value::as_str)
                            .unwrap_or("eur")
                            .to_ascii_lowercase(),
                        customer: p.get("customer").and_then(Value::as_str).map(str::to_owned),
                        application_fee_amount: fee,
                        destination: p
                            .get("expert_account")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        metadata: Some(metadata),
                        description: p
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .or(Some("Appointment".into())),
                    },
                )?;
                Ok(pi)
            }
            (&Method::POST, [route @ ("populate" | "renewal_day")]) => {
                let p = check(
                    &[
                        req("count", Kind::Int),
                        req("price", Kind::Str),
                        opt("prefix", Kind::Str),
                    ],
                    call.params.clone(),
                    "",
                )?;
                let count = p["count"].as_i64().unwrap_or(0);
                if !(1..=200_000).contains(&count) {
                    return Err(StripeError::invalid_param(
                        "count",
                        "must be between 1 and 200000".into(),
                    ));
                }
                let price = p["price"].as_str().unwrap_or_default().to_owned();
                if w.find(&price, "price", "price", Some("price"))?["active"] != true {
                    return Err(StripeError::invalid_param(
                        "price",
                        format!("{price} is archived; pick an active price"),
                    ));
                }
                let renewal_day = *route == "renewal_day";
                let prefix = p
                    .get("prefix")
                    .and_then(Value::as_str)
                    .unwrap_or(if renewal_day { "renewal" } else { "bulk" })
                    .to_owned();
                let made = billing::populate(&mut w, &price, &prefix, count as usize)?;
                if !renewal_day {
                    return Ok(json!({ "created": made.len() }));
                }
                // All start now, so all end their first period together: the day they renew.
                let period_end = made
                    .iter()
                    .filter_map(|(_, sub)| w.get(sub))
                    .map(billing::current_period_end)
                    .max()
                    .unwrap_or_else(|| w.now());
                let (customers, subscriptions): (Vec<String>, Vec<String>) =
                    made.into_iter().unzip();
                Ok(json!({
                    "created": subscriptions.len(),
                    "current_period_end": period_end,
                    "advance_seconds": (period_end - w.now()).max(0) + 1,
                    "customers": customers,
                    "subscriptions": subscriptions,
                }))
            }
            (&Method::POST, ["checkout_sessions", id, "complete"]) => {
                billing::complete_session(&mut w, &call, id)
            }
            (&Method::POST, ["faults"]) => {
                let p = check(
                    &[
                        req("status", Kind::Enum(&["409", "429", "500"])),
                        opt("count", Kind::Int),
                    ],
                    call.params.clone(),
                    "",
                )?;
                let status: u16 = p["status"].as_str().unwrap_or("500").parse().unwrap_or(500);
                let count = p
                    .get("count")
                    .and_then(Value::as_i64)
                    .unwrap_or(1)
                    .clamp(1, 100);
                for _ in 0..count {
                    w.faults.push_back(status);
                }
                Ok(json!({ "queued": w.faults.len() }))
            }
            (&Method::GET, ["state"]) => {
                let counts: serde_json::Map<String, Value> = w
                    .order
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.len())))
                    .collect();
                Ok(json!({
                    "requests": state.requests.to_json(),
                    "webhooks": state.webhooks.to_json(),
                    "rate_limit": state.limiter.limit(),
                    "seed": w.seed,
                    "now": w.now(),
                    "objects": counts,
                }))
            }
            (&Method::POST, ["requests", "reset"]) => {
                check(&[], call.params.clone(), "")?;
                state.requests.reset();
                Ok(json!({ "requests": state.requests.to_json() }))
            }
            (&Method::POST, ["rate_limit"]) => {
                let p = check(&[req("limit", Kind::Int)], call.params.clone(), "")?;
                let limit = p["limit"].as_i64().unwrap_or(-1);
                if !(0..=1_000_000).contains(&limit) {
                    return Err(StripeError::invalid_param(
                        "limit",
                        "Invalid limit: must be 0 (no limit) to 1000000 requests a second".into(),
                    ));
                }
                state.limiter.set(Some(limit as u32));
                Ok(json!({ "rate_limit": state.limiter.limit() }))
            }
            _ => Err(StripeError::unrecognized_url(method.as_str(), uri.path())),
        }
    })();
    if method != Method::GET {
        queue_deliveries(&state, &w, events_before);
        state.mark_dirty();
    }
    drop(w);
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}
