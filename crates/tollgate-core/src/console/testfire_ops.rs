//! The console's test-fire services: what the Webhooks screen and `tollgate trigger`,
//! `tollgate scenario` and `tollgate webhooks history|replay` call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Console;
use crate::domain::{Environment, InputError};
use crate::error::{ErrorBody, ErrorCode};
use crate::store::testfire::SubjectChoice;
use crate::testfire::deliver::{parse_target, DEFAULT_TIMEOUT};
use crate::testfire::events::{self, EventKind, Story};
use crate::testfire::scenario::{self, Maker, Outgoing, ScenarioInfo, Sender};
use crate::testfire::{
    overrides, random_id, with_event_id, Body, Deliverer, Delivery, Outcome, SigningMode, Subject,
    DEFAULT_TARGET,
};

/// The most deliveries a run's answer carries (the history has them all).
pub const RESULT_DELIVERIES: usize = 50;
/// History rows written per transaction while a burst is recorded.
const RECORD_CHUNK: usize = 500;

/// How to deliver: where, signed how, how long to wait, how often to retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DeliveryOptions {
    /// The endpoint; none: the app's running receiver, else `http://127.0.0.1:4242/webhook`.
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub mode: SigningMode,
    /// Milliseconds to wait for an answer (default 10,000).
    #[ts(optional, type = "number")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries of a non-2xx answer or of no answer (default 0: shown, not retried).
    #[serde(default)]
    pub retries: u32,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            to: None,
            mode: SigningMode::Valid,
            timeout_ms: None,
            retries: 0,
        }
    }
}

/// One event built for a preview (or for `--print`).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct BuiltEvent {
    pub kind: EventKind,
    pub subject: Subject,
    /// The event, pretty-printed: what the screen shows and lets you edit.
    pub body: String,
}

/// The exact request a delivery would make, as `tollgate trigger --print` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PrintedRequest {
    pub url: String,
    pub headers: std::collections::BTreeMap<String, String>,
    /// The exact bytes to send.
    pub body: String,
}

/// What a trigger asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct TriggerInput {
    /// A catalog name (`invoice.payment_failed`, `checkout.session.completed:payment`).
    pub kind: String,
    /// An organization id or customer id; none: one from the store (generated ids if empty).
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// `PATH=VALUE` overrides, applied in order.
    #[serde(default)]
    pub set: Vec<String>,
    /// How many events (each its own id); default 1.
    #[serde(default = "one")]
    pub repeat: u32,
    /// How many in flight at once; default 1.
    #[serde(default = "one")]
    pub concurrency: u32,
    pub delivery: DeliveryOptions,
}

fn one() -> u32 {
    1
}

/// A scenario to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ScenarioInput {
    pub name: String,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// For `out-of-order`: the story to reverse (default renewal-failed-then-recovered).
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// For `duplicate` and `burst`: the event type (default invoice.paid).
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// For `burst`: how many events (default 100) and how many at once (default 16).
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    pub delivery: DeliveryOptions,
}

/// A delivery outcome and how many attempts had it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct OutcomeCount {
    pub outcome: Outcome,
    pub attempts: u32,
}

/// What a send, trigger, replay or scenario did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct RunResult {
    pub run_id: String,
    pub scenario: Option<String>,
    pub url: String,
    pub mode: SigningMode,
    /// Events sent (steps).
    pub events: u32,
    /// Attempts made (events plus retries).
    pub attempts: u32,
    /// Attempts answered 2xx.
    pub ok: u32,
    /// Events whose last attempt got the answer a correct endpoint gives (2xx to a valid
    /// signature, 4xx to any other mode).
    pub as_expected: u32,
    pub outcomes: Vec<OutcomeCount>,
    #[ts(type = "number | null")]
    pub latency_p50_us: Option<i64>,
    #[ts(type = "number | null")]
    pub latency_p95_us: Option<i64>,
    #[ts(type = "number")]
    pub elapsed_ms: i64,
    /// Events per second over the whole run.
    #[ts(type = "number")]
    pub per_second: u64,
    /// The first attempts in step order (all of them for a story); the history has every one.
    pub deliveries: Vec<Delivery>,
    pub cancelled: bool,
}

fn body_error(rule: String) -> ErrorBody {
    InputError::new("body", rule).into()
}

/// How many events one run sends: 1 to 1,000,000 (`field`: `repeat` or `count`).
fn check_events(field: &'static str, n: u32) -> Result<(), ErrorBody> {
    if (1..=1_000_000).contains(&n) {
        return Ok(());
    }
    Err(InputError::new(field, format!("{n} is not between 1 and 1,000,000")).into())
}

/// How many deliveries in flight at once: 1 to 256.
fn check_concurrency(n: u32) -> Result<(), ErrorBody> {
    if (1..=256).contains(&n) {
        return Ok(());
    }
    Err(InputError::new("concurrency", format!("{n} is not between 1 and 256")).into())
}

impl Console {
    pub fn testfire_catalog(&self) -> Vec<EventKind> {
        events::CATALOG.to_vec()
    }

    pub fn testfire_scenarios(&self) -> Vec<ScenarioInfo> {
        scenario::SCENARIOS.to_vec()
    }

    /// The organization events are filled from: `org`, else one from the store, else a
    /// generated one (only when the store has none and none was named).
    pub async fn testfire_subject(&self, org: Option<&str>) -> Result<Subject, ErrorBody> {
        let org = org.map(str::trim).filter(|o| !o.is_empty());
        let store = self.store().await?;
        match store.testfire_subject(org).await? {
            Some(s) => Ok(s),
            None => match org {
                Some(o) => Err(InputError::new("org", format!("no organization or customer {o:?} in the store: sync first (`tollgate sync`), pick one from the list, or leave it out")).into()),
                None => Ok(Subject::generated(crate::store::now_seconds())),
            },
        }
    }

    pub async fn testfire_choices(&self, search: &str) -> Result<Vec<SubjectChoice>, ErrorBody> {
        Ok(self.store().await?.testfire_choices(search, 50).await?)
    }

    /// Where a delivery goes when none is named.
    pub async fn testfire_default_target(&self) -> String {
        self.receiver_status()
            .await
            .url
            .unwrap_or_else(|| DEFAULT_TARGET.to_owned())
    }

    fn story(&self, subject: Subject) -> Story {
        Story::new(subject, self.environment() == Environment::Live)
    }

    /// One event of `kind` for `org`, with the overrides applied, and what it was filled from:
    /// what the preview, `trigger` and `trigger --print` all send.
    async fn event_for(
        &self,
        kind: &str,
        org: Option<&str>,
        set: &[String],
    ) -> Result<(&'static EventKind, Subject, serde_json::Value), ErrorBody> {
        let kind = events::kind("type", kind)?;
        let subject = self.testfire_subject(org).await?;
        let event = events::build(
            kind,
            &self.story(subject.clone()),
            crate::store::now_seconds(),
        );
        Ok((kind, subject, overrides::apply(&event, set)?))
    }

    /// One event of `kind` for `org`, with the overrides applied, pretty-printed to edit.
    pub async fn testfire_build(
        &self,
        kind: &str,
        org: Option<&str>,
        set: &[String],
    ) -> Result<BuiltEvent, ErrorBody> {
        let (kind, subject, event) = self.event_for(kind, org, set).await?;
        Ok(BuiltEvent {
            kind: kind.clone(),
            subject,
            body: serde_json::to_string_pretty(&event).expect("events serialize"),
        })
    }

    async fn sender(
        &self,
        o: &DeliveryOptions,
        org_id: Option<String>,
        scenario: Option<String>,
    ) -> Result<Sender, ErrorBody> {
        let url = match o.to.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => parse_target("to", u)?.to_string(),
            None => self.testfire_default_target().await,
        };
        let timeout = match o.timeout_ms {
            Some(0) => {
                return Err(InputError::new("timeout_ms", "must be at least 1 millisecond").into())
            }
            Some(ms) if ms > 120_000 => {
                return Err(InputError::new(
                    "timeout_ms",
                    format!("{ms} ms is over the 120,000 ms limit"),
                )
                .into())
            }
            Some(ms) => Duration::from_millis(ms),
            None => DEFAULT_TIMEOUT,
        };
        if o.retries > 10 {
            return Err(InputError::new(
                "retries",
                format!("{} is over the limit of 10 retries", o.retries),
            )
            .into());
        }
        let secrets = match o.mode {
            SigningMode::Unsigned | SigningMode::WrongSecret => Vec::new(),
            _ => self
                .webhook_secrets()?
                .into_iter()
                .map(|(s, _)| s)
                .collect(),
        };
        Ok(Sender {
            deliverer: Deliverer::new(timeout),
            secrets: Arc::new(secrets),
            url,
            mode: o.mode,
            retries: o.retries,
            org_id,
            run_id: random_id("run"),
            scenario,
        })
    }

    /// Sends `count` events built by `make` through `sender`, records every attempt as the
    /// answers come (many rows a statement, beside the sending), and sums the run up. Bad
    /// input (the first body, its signing) is refused before anything is sent.
    async fn run(
        &self,
        sender: &Sender,
        count: usize,
        make: Maker,
        concurrency: usize,
        op: Option<&str>,
    ) -> Result<RunResult, ErrorBody> {
        sender.request(&make(0)?.body)?;
        let store = self.store().await?;
        let progress = self.progress_for(op);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Delivery>>(1024);
        let recorder = {
            let store = store.clone();
            let progress = progress.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut pending: Vec<Delivery> = Vec::new();
                let mut recorded = Ok(());
                while let Some(ds) = rx.recv().await {
                    tally.add(&ds);
                    if recorded.is_err() {
                        continue;
                    }
                    pending.extend(ds);
                    if pending.len() >= RECORD_CHUNK {
                        recorded = store.record_deliveries(&pending).await;
                        pending.clear();
                        if recorded.is_err() {
                            // What cannot be kept is not sent: stop between events.
                            progress.cancel();
                        }
                    }
                }
                if recorded.is_ok() && !pending.is_empty() {
                    recorded = store.record_deliveries(&pending).await;
                }
                (tally, recorded)
            })
        };
        let started = Instant::now();
        let sent = sender.run(count, make, concurrency, &progress, tx).await;
        let elapsed = started.elapsed();
        let (tally, recorded) = recorder.await.expect("the recorder does not panic");
        let cancelled = progress.is_cancelled();
        progress.finish();
        recorded?;
        sent?;
        let shown = store
            .deliveries(RESULT_DELIVERIES as i64, None, Some(&sender.run_id))
            .await?;
        Ok(tally.result(sender, shown, elapsed, cancelled))
    }

    /// Builds `repeat` events of a kind (each its own id) and sends them `concurrency` at a
    /// time: `tollgate trigger`.
    pub async fn trigger(
        &self,
        input: &TriggerInput,
        op: Option<&str>,
    ) -> Result<RunResult, ErrorBody> {
        check_events("repeat", input.repeat)?;
        check_concurrency(input.concurrency)?;
        let (_, subject, ev) = self
            .event_for(&input.kind, input.org.as_deref(), &input.set)
            .await?;
        // An `id` set by hand is kept on every copy (duplicates on purpose).
        let fresh_ids = !input.set.iter().any(|s| {
            s.split_once('=')
                .is_some_and(|(path, _)| path.trim() == "id")
        });
        let make = copies(&ev, fresh_ids);
        let scenario = (input.repeat > 1).then(|| "burst".to_owned());
        let sender = self
            .sender(&input.delivery, Some(subject.org_id), scenario)
            .await?;
        self.run(
            &sender,
            input.repeat as usize,
            make,
            input.concurrency as usize,
            op,
        )
        .await
    }

    /// What `trigger` would send for one event, without sending it.
    pub async fn trigger_print(&self, input: &TriggerInput) -> Result<PrintedRequest, ErrorBody> {
        let (_, _, event) = self
            .event_for(&input.kind, input.org.as_deref(), &input.set)
            .await?;
        let compact = serde_json::to_string(&event).expect("events serialize");
        let sender = self.sender(&input.delivery, None, None).await?;
        let (body, headers) = sender.request(&compact)?;
        Ok(PrintedRequest {
            url: sender.url,
            headers: headers.into_iter().collect(),
            body: body.to_string(),
        })
    }

    /// Sends a body as given (the screen's edited preview): it must be JSON.
    pub async fn testfire_send(
        &self,
        body: &str,
        org: Option<String>,
        delivery: &DeliveryOptions,
    ) -> Result<RunResult, ErrorBody> {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(body) {
            return Err(body_error(format!(
                "is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            )));
        }
        let sender = self.sender(delivery, org, None).await?;
        let out = Outgoing::parsed(Body::from(body));
        self.run(&sender, 1, Arc::new(move |_| Ok(out.clone())), 1, None)
            .await
    }

    /// Runs a named scenario.
    pub async fn testfire_scenario(
        &self,
        input: &ScenarioInput,
        op: Option<&str>,
    ) -> Result<RunResult, ErrorBody> {
        let info = scenario::scenario("name", &input.name)?;
        let subject = self.testfire_subject(input.org.as_deref()).await?;
        let story = self.story(subject.clone());
        let t = crate::store::now_seconds();
        let compact = Outgoing::of;
        let built = |events: Vec<Outgoing>| -> (usize, Maker) {
            (events.len(), Arc::new(move |i| Ok(events[i].clone())))
        };
        let mut concurrency = 1;
        let (count, make): (usize, Maker) = match info.name {
            "duplicate" => {
                let kind = events::kind("kind", input.kind.as_deref().unwrap_or("invoice.paid"))?;
                let b = compact(&events::build(kind, &story, t));
                built(vec![b.clone(), b])
            }
            "out-of-order" => {
                let of = input
                    .of
                    .as_deref()
                    .unwrap_or("renewal-failed-then-recovered");
                let mut steps = scenario::story(of, &story, t)?;
                steps.reverse();
                built(steps.iter().map(compact).collect())
            }
            "burst" => {
                let kind = events::kind("kind", input.kind.as_deref().unwrap_or("invoice.paid"))?;
                let count = input.count.unwrap_or(100);
                check_events("count", count)?;
                let c = input.concurrency.unwrap_or(16);
                check_concurrency(c)?;
                concurrency = c as usize;
                (
                    count as usize,
                    copies(&events::build(kind, &story, t), true),
                )
            }
            name => built(
                scenario::story(name, &story, t)?
                    .iter()
                    .map(compact)
                    .collect(),
            ),
        };
        let sender = self
            .sender(
                &input.delivery,
                Some(subject.org_id),
                Some(info.name.to_owned()),
            )
            .await?;
        self.run(&sender, count, make, concurrency, op).await
    }

    pub async fn testfire_history(
        &self,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<Delivery>, ErrorBody> {
        Ok(self
            .store()
            .await?
            .deliveries(limit.clamp(1, 500), before, None)
            .await?)
    }

    /// Every attempt of one run, in step order.
    pub async fn testfire_run(&self, run_id: &str) -> Result<Vec<Delivery>, ErrorBody> {
        Ok(self
            .store()
            .await?
            .deliveries(100_000, None, Some(run_id))
            .await?)
    }

    pub async fn testfire_delivery(&self, id: i64) -> Result<Delivery, ErrorBody> {
        self.store().await?.delivery(id).await?.ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::NotFound,
                format!("no delivery {id} in the history"),
            )
        })
    }

    /// Sends a past delivery again exactly: the same URL, headers and bytes (its signature's
    /// timestamp included, so a replay after 300 s meets a correct endpoint's tolerance check).
    pub async fn testfire_replay(&self, id: i64) -> Result<RunResult, ErrorBody> {
        let past = self.testfire_delivery(id).await?;
        let sender = Sender {
            deliverer: Deliverer::new(DEFAULT_TIMEOUT),
            secrets: Arc::new(Vec::new()),
            url: past.url.clone(),
            mode: past.mode,
            retries: 0,
            org_id: past.org_id.clone(),
            run_id: random_id("run"),
            scenario: Some("replay".into()),
        };
        let started = Instant::now();
        let mut d = sender
            .deliver(
                0,
                1,
                &past.event_id,
                &past.event_type,
                past.request_headers.clone(),
                Body::from(past.body.as_str()),
                Some(past.id),
                false,
            )
            .await;
        let elapsed = started.elapsed();
        // A valid signature replayed past the tolerance is a stale one now (its `t=` is the
        // one it was first signed with, whatever replays came between): judged so.
        if past.mode == SigningMode::Valid
            && crate::testfire::sign::signature_age(
                &past.request_headers,
                crate::store::now_seconds(),
            )
            .is_some_and(|age| age > crate::sync::signature::TOLERANCE_SECONDS)
        {
            d.as_expected = crate::testfire::as_expected(SigningMode::Stale, d.http_status);
        }
        let store = self.store().await?;
        store.record_deliveries(std::slice::from_ref(&d)).await?;
        let mut tally = Tally::default();
        tally.add(std::slice::from_ref(&d));
        let shown = store.deliveries(1, None, Some(&sender.run_id)).await?;
        Ok(tally.result(&sender, shown, elapsed, false))
    }
}

/// The bodies of `n` copies of one event: the same bytes, each with a fresh event id (the one
/// field a second event of the same story changes). Building the event once and writing its
/// id into the text is what lets a burst keep up with a plain POST loop.
fn copies(event: &serde_json::Value, fresh_ids: bool) -> Maker {
    let first = Outgoing::of(event);
    Arc::new(move |i| {
        if i == 0 || !fresh_ids {
            return Ok(first.clone());
        }
        let event_id = random_id("evt");
        Ok(
            match with_event_id(&first.body, &first.event_id, &event_id) {
                Some(body) => Outgoing {
                    body: Body::from(body),
                    event_id,
                    event_type: first.event_type.clone(),
                    shared: true,
                },
                None => first.clone(),
            },
        )
    })
}

/// A run's figures, summed as its attempts arrive (a burst's are not all kept in memory).
#[derive(Default)]
struct Tally {
    latencies: Vec<i64>,
    outcomes: Vec<OutcomeCount>,
    events: u32,
    attempts: u32,
    ok: u32,
    as_expected: u32,
}

impl Tally {
    /// One step's attempts, in order: the last one says how the event fared.
    fn add(&mut self, step: &[Delivery]) {
        for d in step {
            self.attempts += 1;
            self.ok += (d.outcome == Outcome::Ok) as u32;
            self.latencies.extend(d.latency_us);
            match self.outcomes.iter_mut().find(|o| o.outcome == d.outcome) {
                Some(o) => o.attempts += 1,
                None => self.outcomes.push(OutcomeCount {
                    outcome: d.outcome,
                    attempts: 1,
                }),
            }
        }
        if let Some(last) = step.last() {
            self.events += 1;
            self.as_expected += last.as_expected as u32;
        }
    }

    fn result(
        mut self,
        sender: &Sender,
        shown: Vec<Delivery>,
        elapsed: Duration,
        cancelled: bool,
    ) -> RunResult {
        self.latencies.sort_unstable();
        let l = &self.latencies;
        let pct = |p: usize| (!l.is_empty()).then(|| l[(l.len() - 1) * p / 100]);
        RunResult {
            run_id: sender.run_id.clone(),
            scenario: sender.scenario.clone(),
            url: sender.url.clone(),
            mode: sender.mode,
            events: self.events,
            attempts: self.attempts,
            ok: self.ok,
            as_expected: self.as_expected,
            latency_p50_us: pct(50),
            latency_p95_us: pct(95),
            outcomes: self.outcomes,
            elapsed_ms: elapsed.as_millis() as i64,
            per_second: if elapsed.as_micros() > 0 {
                (self.events as u128 * 1_000_000 / elapsed.as_micros()) as u64
            } else {
                0
            },
            deliveries: shown,
            cancelled,
        }
    }
}
