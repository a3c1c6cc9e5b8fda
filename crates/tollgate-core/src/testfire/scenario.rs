//! Sending: one event, the same event twice, a story in reverse, a burst of N at concurrency
//! C, and the stories Stripe tells (what it sends, in order, for a signup by Checkout, a paid
//! renewal, a failed renewal that recovers, a cancellation at period end, an upgrade).

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ts_rs::TS;

use super::deliver::Deliverer;
use super::events::{self, envelope, Inv, Story};
use super::sign::{signed, SigningMode};
use super::{as_expected, Body, Delivery};
use crate::domain::{InputError, WebhookSecret};
use crate::progress::Progress;

/// A named scenario, as `tollgate scenario NAME` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ScenarioInfo {
    pub name: &'static str,
    pub summary: &'static str,
}

pub static SCENARIOS: &[ScenarioInfo] = &[
    ScenarioInfo { name: "signup-by-checkout", summary: "A new subscription through Checkout: customer, subscription (incomplete, then active), the first invoice paid, the session completed, entitlements." },
    ScenarioInfo { name: "renewal-paid", summary: "A period renews: the upcoming notice, the subscription's new period, the invoice drafted, finalized and paid." },
    ScenarioInfo { name: "renewal-failed-then-recovered", summary: "The renewal's card is declined (invoice.payment_failed, past_due), then the retry succeeds (paid, active again)." },
    ScenarioInfo { name: "cancel-at-period-end", summary: "The organization cancels at period end; at the end the subscription is deleted and its entitlements go." },
    ScenarioInfo { name: "upgrade-community-to-top", summary: "The plan moves from Community to Top: the subscription's item changes, a proration invoice is paid, entitlements change." },
    ScenarioInfo { name: "duplicate", summary: "The same event (same id, same body) delivered twice, as Stripe may." },
    ScenarioInfo { name: "out-of-order", summary: "A story's events sent newest first, as Stripe may deliver them (renewal-failed-then-recovered unless another is chosen)." },
    ScenarioInfo { name: "burst", summary: "N events of one type (new ids each), C at a time." },
];

pub fn scenario(field: &'static str, name: &str) -> Result<&'static ScenarioInfo, InputError> {
    SCENARIOS
        .iter()
        .find(|s| s.name == name.trim())
        .ok_or_else(|| {
            InputError::new(
                field,
                format!(
                    "{name:?} is not a scenario: one of {}",
                    SCENARIOS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// One event of a story, of the catalog type `kind`.
fn step(kind: &str, st: &Story, object: Value, previous: Option<Value>, t: i64) -> Value {
    let k = events::kind("type", kind).expect("the stories use catalog types");
    envelope(k, st, object, previous, t)
}

fn items_of(sub: &Value) -> Value {
    sub["items"].clone()
}

/// The events Stripe sends for a story, oldest first, one second apart from `t`.
pub fn story(name: &str, base: &Story, t: i64) -> Result<Vec<Value>, InputError> {
    let mut st = base.clone();
    let s = st.subject.clone();
    let interval = (s.period_end - s.period_start).max(86400);
    let amount = s.price.unit_amount.saturating_mul(s.quantity);
    let mut out = Vec::new();
    let mut clock = t;
    let mut tick = || {
        clock += 1;
        clock
    };
    match name {
        "signup-by-checkout" => {
            st.next_invoice();
            st.subject.subscription_created = t;
            st.subject.period_start = t;
            st.subject.period_end = t + interval;
            st.subject.cancel_at_period_end = false;
            st.subject.trial_end = None;
            let p = st.subject.price.clone();
            out.push(step("customer.created", &st, events::customer(&st), None, tick()));
            out.push(step("customer.subscription.created", &st, events::subscription(&st, "incomplete", &p, t), None, tick()));
            out.push(step("invoice.created", &st, events::invoice(&st, Inv::Draft, "subscription_create", &p, amount, t), None, tick()));
            out.push(step("invoice.finalized", &st, events::invoice(&st, Inv::Open, "subscription_create", &p, amount, t), None, tick()));
            out.push(step("charge.succeeded", &st, events::charge(&st, true, amount, t), None, tick()));
            out.push(step("payment_intent.succeeded", &st, events::payment_intent(&st, true, amount, t), None, tick()));
            let paid = events::invoice(&st, Inv::Paid, "subscription_create", &p, amount, t);
            out.push(step("invoice.paid", &st, paid.clone(), None, tick()));
            out.push(step("invoice.payment_succeeded", &st, paid, None, tick()));
            out.push(step("customer.subscription.updated", &st, events::subscription(&st, "active", &p, t), Some(json!({ "status": "incomplete" })), tick()));
            out.push(step("checkout.session.completed", &st, events::session(&st, "subscription", "complete", t), None, tick()));
            let summary = events::entitlement_summary(&st, &st.subject.features);
            out.push(step("entitlements.active_entitlement_summary.updated", &st, summary, Some(json!({ "entitlements": { "object": "list", "data": [], "has_more": false } })), tick()));
        }
        "renewal-paid" | "renewal-failed-then-recovered" => {
            let before = events::subscription(&st, "active", &s.price, t);
            let old_invoice = st.invoice.clone();
            st.next_invoice();
            st.subject.period_start = s.period_end;
            st.subject.period_end = s.period_end + interval;
            let p = st.subject.price.clone();
            let renewed = events::subscription(&st, "active", &p, t);
            if name == "renewal-paid" {
                let mut up = events::invoice(&st, Inv::Draft, "upcoming", &p, amount, t);
                up["id"] = Value::Null;
                out.push(step("invoice.upcoming", &st, up, None, tick()));
            }
            out.push(step("customer.subscription.updated", &st, renewed, Some(json!({ "items": items_of(&before), "latest_invoice": old_invoice })), tick()));
            out.push(step("invoice.created", &st, events::invoice(&st, Inv::Draft, "subscription_cycle", &p, amount, t), None, tick()));
            out.push(step("invoice.finalized", &st, events::invoice(&st, Inv::Open, "subscription_cycle", &p, amount, t), None, tick()));
            if name == "renewal-failed-then-recovered" {
                out.push(step("charge.failed", &st, events::charge(&st, false, amount, t), None, tick()));
                out.push(step("payment_intent.payment_failed", &st, events::payment_intent(&st, false, amount, t), None, tick()));
                out.push(step("invoice.payment_failed", &st, events::invoice(&st, Inv::Failed, "subscription_cycle", &p, amount, t), None, tick()));
                st.subject.status = "past_due".into();
                out.push(step("customer.subscription.updated", &st, events::subscription(&st, "past_due", &p, t), Some(json!({ "status": "active" })), tick()));
                // Smart Retries, days later: a new charge on the same payment intent.
                st.charge = super::random_id("ch");
            }
            out.push(step("charge.succeeded", &st, events::charge(&st, true, amount, t), None, tick()));
            out.push(step("payment_intent.succeeded", &st, events::payment_intent(&st, true, amount, t), None, tick()));
            let paid = events::invoice(&st, Inv::Paid, "subscription_cycle", &p, amount, t);
            out.push(step("invoice.paid", &st, paid.clone(), None, tick()));
            out.push(step("invoice.payment_succeeded", &st, paid, None, tick()));
            if name == "renewal-failed-then-recovered" {
                st.subject.status = "active".into();
                out.push(step("customer.subscription.updated", &st, events::subscription(&st, "active", &p, t), Some(json!({ "status": "past_due" })), tick()));
            }
        }
        "cancel-at-period-end" => {
            let p = st.subject.price.clone();
            st.subject.cancel_at_period_end = true;
            let mut sub = events::subscription(&st, &s.status, &p, t);
            sub["canceled_at"] = json!(t);
            sub["cancellation_details"] = json!({ "comment": null, "feedback": null, "reason": "cancellation_requested" });
            out.push(step("customer.subscription.updated", &st, sub.clone(), Some(json!({ "cancel_at_period_end": false, "cancel_at": null, "canceled_at": null, "cancellation_details": { "reason": null } })), tick()));
            let mut ended = sub;
            ended["status"] = json!("canceled");
            ended["ended_at"] = json!(s.period_end.max(t));
            out.push(step("customer.subscription.deleted", &st, ended, None, tick()));
            let had = events::entitlement_summary(&st, &st.subject.features);
            out.push(step("entitlements.active_entitlement_summary.updated", &st, events::entitlement_summary(&st, &[]), Some(json!({ "entitlements": had["entitlements"] })), tick()));
        }
        "upgrade-community-to-top" => {
            let from = s.price.clone();
            let to = s.upgrade_target();
            if from.id == to.id {
                return Err(InputError::new("org", format!("{} is already on {} ({}): pick an organization on a Community plan", s.org_name, to.product_name, to.lookup_key.as_deref().unwrap_or(&to.id))));
            }
            let before = events::subscription(&st, &s.status, &from, t);
            st.next_invoice();
            let after = events::subscription(&st, &s.status, &to, t);
            out.push(step("customer.subscription.updated", &st, after, Some(json!({ "items": items_of(&before), "latest_invoice": before["latest_invoice"] })), tick()));
            // The proration: the rest of the period at the difference, here the whole of it.
            let diff = (to.unit_amount - from.unit_amount).max(0) * s.quantity;
            out.push(step("invoice.created", &st, events::invoice(&st, Inv::Draft, "subscription_update", &to, diff, t), None, tick()));
            out.push(step("invoice.finalized", &st, events::invoice(&st, Inv::Open, "subscription_update", &to, diff, t), None, tick()));
            let paid = events::invoice(&st, Inv::Paid, "subscription_update", &to, diff, t);
            out.push(step("invoice.paid", &st, paid.clone(), None, tick()));
            out.push(step("invoice.payment_succeeded", &st, paid, None, tick()));
            let summary = events::entitlement_summary(&st, &st.subject.features);
            out.push(step("entitlements.active_entitlement_summary.updated", &st, summary, Some(json!({ "entitlements": { "object": "list", "data": [], "has_more": false } })), tick()));
        }
        other => {
            return Err(InputError::new(
                "of",
                format!("{other:?} is not a story: one of signup-by-checkout, renewal-paid, renewal-failed-then-recovered, cancel-at-period-end, upgrade-community-to-top"),
            ))
        }
    }
    Ok(out)
}

/// Signs and sends; every attempt becomes a [`Delivery`] (id 0 until recorded).
#[derive(Clone)]
pub struct Sender {
    pub deliverer: Deliverer,
    pub secrets: Arc<Vec<WebhookSecret>>,
    pub url: String,
    pub mode: SigningMode,
    /// Retries of a non-2xx answer (0: none; Stripe itself retries for days).
    pub retries: u32,
    pub org_id: Option<String>,
    pub run_id: String,
    pub scenario: Option<String>,
}

/// The headers of a delivery, as Stripe sends them.
pub fn headers(signature: Option<String>) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "content-type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        ),
        (
            "user-agent".to_owned(),
            super::deliver::USER_AGENT.to_owned(),
        ),
        (
            "accept".to_owned(),
            "*/*; q=0.5, application/xml".to_owned(),
        ),
        ("cache-control".to_owned(), "no-cache".to_owned()),
    ];
    if let Some(s) = signature {
        h.push(("stripe-signature".to_owned(), s));
    }
    h
}

impl Sender {
    /// The exact request for `body` now: the bytes to send and the headers.
    pub fn request(&self, body: &str) -> Result<(Body, Vec<(String, String)>), InputError> {
        let (sent, sig) = signed(self.mode, body, &self.secrets, crate::store::now_seconds())?;
        Ok((Body::from(sent), headers(sig)))
    }

    /// Sends one body (signed afresh for each attempt), retrying a non-2xx answer when asked.
    pub async fn send(
        &self,
        step: u32,
        out: &Outgoing,
        progress: &Progress,
    ) -> Result<Vec<Delivery>, InputError> {
        let (body, event_id, event_type) = (&out.body, &out.event_id, &out.event_type);
        let mut attempts = Vec::new();
        for attempt in 1..=self.retries + 1 {
            if attempt > 1 {
                if progress.is_cancelled() {
                    break;
                }
                // Stripe backs off over days; a test backs off briefly.
                tokio::time::sleep(std::time::Duration::from_millis(
                    250 * u64::from(attempt - 1),
                ))
                .await;
            }
            let (sent, headers) = self.request(body)?;
            let d = self
                .deliver(
                    step, attempt, event_id, event_type, headers, sent, None, out.shared,
                )
                .await;
            let again = d.outcome.retryable();
            attempts.push(d);
            if !again {
                break;
            }
        }
        Ok(attempts)
    }

    /// Sends exactly these bytes with exactly these headers (a replay). `shared`: the body is
    /// the run's first one with another event id, and the history keeps it that way.
    #[allow(clippy::too_many_arguments)]
    pub async fn deliver(
        &self,
        step: u32,
        attempt: u32,
        event_id: &str,
        event_type: &str,
        headers: Vec<(String, String)>,
        body: Body,
        replay_of: Option<i64>,
        shared: bool,
    ) -> Delivery {
        let a = self.deliverer.post(&self.url, &headers, &body).await;
        Delivery {
            id: 0,
            run_id: self.run_id.clone(),
            scenario: self.scenario.clone(),
            step,
            attempt,
            replay_of,
            url: self.url.clone(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            org_id: self.org_id.clone(),
            mode: self.mode,
            request_headers: headers,
            body: if shared {
                String::new()
            } else {
                body.to_string()
            },
            body_shared: shared,
            outcome: a.outcome,
            as_expected: as_expected(self.mode, a.http_status),
            http_status: a.http_status,
            response_headers: a.response_headers,
            response_body: a.response_body,
            response_truncated: a.response_truncated,
            error: a.error,
            latency_us: a.latency_us,
            sent_at_ms: a.sent_at_ms,
        }
    }

    /// Sends `count` events built by `make`: the first alone, then the rest `concurrency` at a
    /// time (one at a time keeps a story's order). Each step's attempts go to `out` as they
    /// finish, the first step's before any other: a burst's copies are kept in the history as
    /// "the first with another id", so the first must be there first. Progress counts steps;
    /// a cancel stops before the next step or retry starts.
    pub async fn run(
        &self,
        count: usize,
        make: Maker,
        concurrency: usize,
        progress: &Progress,
        out: tokio::sync::mpsc::Sender<Vec<Delivery>>,
    ) -> Result<(), InputError> {
        progress.phase("sending", count as u64);
        // Polled on this task, as a plain loop of requests would be: building a copy is a
        // text substitution, and the connections' I/O runs on their own tasks.
        let one = |i: usize| {
            let make = make.clone();
            async move {
                if progress.is_cancelled() {
                    return Ok(Vec::new());
                }
                let event = make(i)?;
                let r = self.send(i as u32 + 1, &event, progress).await;
                progress.step();
                r
            }
        };
        if count == 0 {
            return Ok(());
        }
        let first = one(0).await?;
        if !first.is_empty() && out.send(first).await.is_err() {
            return Ok(());
        }
        let mut sends = stream::iter(1..count)
            .map(one)
            .buffer_unordered(concurrency.max(1));
        while let Some(ds) = sends.next().await {
            let ds = ds?;
            if !ds.is_empty() && out.send(ds).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Builds the event of step `i` (from 0).
pub type Maker = Arc<dyn Fn(usize) -> Result<Outgoing, InputError> + Send + Sync>;

/// An event about to be sent: its exact body, and its id and type (known where it was built,
/// so a burst does not parse each body again to find them).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: Body,
    pub event_id: String,
    pub event_type: String,
    /// The body is the run's first with only the event id changed (a burst's copies): the
    /// history stores it once.
    pub shared: bool,
}

impl Outgoing {
    /// A body as given (an edited preview): its id and type read from it.
    pub fn parsed(body: Body) -> Outgoing {
        let (event_id, event_type) = ids_of(&body);
        Outgoing {
            body,
            event_id,
            event_type,
            shared: false,
        }
    }

    /// A built event, compact.
    pub fn of(event: &Value) -> Outgoing {
        Outgoing {
            body: Body::from(serde_json::to_string(event).expect("events serialize")),
            event_id: event["id"].as_str().unwrap_or("(no id)").to_owned(),
            event_type: event["type"].as_str().unwrap_or("(no type)").to_owned(),
            shared: false,
        }
    }
}

/// `id` and `type` of an event body; placeholders when the body is not one (an edited body
/// is sent as it is).
pub fn ids_of(body: &str) -> (String, String) {
    #[derive(Deserialize)]
    struct Head {
        id: Option<Value>,
        #[serde(rename = "type")]
        event_type: Option<Value>,
    }
    match serde_json::from_str::<Head>(body) {
        Ok(h) => (
            h.id.and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "(no id)".into()),
            h.event_type
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "(no type)".into()),
        ),
        Err(_) => ("(not JSON)".into(), "(not JSON)".into()),
    }
}
