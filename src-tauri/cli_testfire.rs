//! `tollgate trigger`, `tollgate scenario` and `tollgate webhooks history|show|replay`: the
//! Webhooks screen's twin.

use std::io::Write;

use clap::{Args, ValueEnum};
use tollgate_core::console::{DeliveryOptions, RunResult, ScenarioInput, TriggerInput};
use tollgate_core::testfire::{Delivery, SigningMode};
use tollgate_core::{Console, ErrorBody, ErrorCode};

use crate::cli::{emit, Format};
use crate::cli_catalog::with_progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Valid,
    WrongSecret,
    Stale,
    Unsigned,
    Tampered,
}

impl From<ModeArg> for SigningMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Valid => SigningMode::Valid,
            ModeArg::WrongSecret => SigningMode::WrongSecret,
            ModeArg::Stale => SigningMode::Stale,
            ModeArg::Unsigned => SigningMode::Unsigned,
            ModeArg::Tampered => SigningMode::Tampered,
        }
    }
}

/// Where and how to deliver.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// The endpoint (default: http://127.0.0.1:4242/webhook, where `tollgate webhooks serve` listens).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// How to sign: valid, wrong-secret, stale (t older than the 300 s tolerance), unsigned, tampered (body changed after signing).
    #[arg(long, value_enum, default_value_t = ModeArg::Valid)]
    pub mode: ModeArg,
    /// How long to wait for an answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Retries of a non-2xx answer or of no answer (default: shown, not retried).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
}

impl DeliveryArgs {
    fn options(&self) -> DeliveryOptions {
        DeliveryOptions {
            to: self.to.clone(),
            mode: self.mode.into(),
            timeout_ms: Some(self.timeout_ms),
            retries: self.retries,
        }
    }
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The event type (`tollgate trigger --list`), e.g. invoice.payment_failed.
    #[arg(value_name = "TYPE", required_unless_present = "list")]
    pub kind: Option<String>,
    /// List the catalog.
    #[arg(long, conflicts_with_all = ["kind", "print"])]
    pub list: bool,
    /// The organization (its id or its customer's id); default: one from the store.
    #[arg(long, value_name = "ID")]
    pub org: Option<String>,
    /// Override a field, e.g. --set data.object.status=past_due (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Send N events, each with its own id.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// How many deliveries in flight at once.
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub concurrency: u32,
    /// Send nothing: print {"url", "headers", "body"} with the exact bytes that would be sent.
    #[arg(long)]
    pub print: bool,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// signup-by-checkout, renewal-paid, renewal-failed-then-recovered, cancel-at-period-end,
    /// upgrade-community-to-top, duplicate, out-of-order or burst.
    #[arg(value_name = "NAME", required_unless_present = "list")]
    pub name: Option<String>,
    /// List the scenarios.
    #[arg(long, conflicts_with = "name")]
    pub list: bool,
    #[arg(long, value_name = "ID")]
    pub org: Option<String>,
    /// out-of-order: the story to send newest first.
    #[arg(long, value_name = "STORY")]
    pub of: Option<String>,
    /// duplicate and burst: the event type (default invoice.paid).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// burst: how many events.
    #[arg(long, value_name = "N")]
    pub count: Option<u32>,
    /// burst: how many at once.
    #[arg(long, value_name = "C")]
    pub concurrency: Option<u32>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

fn ms(us: Option<i64>) -> String {
    us.map(|u| format!("{}.{:01} ms", u / 1000, (u % 1000) / 100))
        .unwrap_or_default()
}

fn result_of(d: &Delivery) -> String {
    if d.http_status.is_none() {
        return format!("{}: no answer", d.outcome.as_str());
    }
    let verdict = if d.as_expected {
        "as expected"
    } else if d.mode == SigningMode::Valid {
        "NOT accepted"
    } else if d.http_status.is_some_and(|s| (200..300).contains(&s)) {
        "ACCEPTED a bad signature"
    } else {
        "not refused with a 4xx"
    };
    format!("{}: {verdict}", d.outcome.as_str())
}

fn rows(ds: &[Delivery]) -> Vec<Vec<String>> {
    ds.iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.step.to_string(),
                d.attempt.to_string(),
                d.event_type.clone(),
                d.event_id.clone(),
                d.mode.as_str().to_owned(),
                d.http_status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                ms(d.latency_us),
                result_of(d),
            ]
        })
        .collect()
}

const HEADERS: &[&str] = &[
    "id", "step", "try", "type", "event", "mode", "status", "latency", "result",
];

/// Prints a run; an error (exit 1) when any event was not answered as a correct endpoint would.
fn report(f: Format, r: &RunResult) -> Result<(), ErrorBody> {
    if f == Format::Json {
        emit(f, r, &[], vec![])?;
    } else {
        let shown: Vec<Delivery> = if r.events <= 20 {
            r.deliveries.clone()
        } else {
            r.deliveries
                .iter()
                .filter(|d| !d.as_expected)
                .take(10)
                .cloned()
                .collect()
        };
        let shown_len = shown.len();
        emit(f, r, HEADERS, rows(&shown))?;
        if f == Format::Table {
            if r.events == 1 {
                if let Some(d) = r.deliveries.last() {
                    if let Some(e) = &d.error {
                        println!("\n{e}");
                    }
                    if let Some(b) = d.response_body.as_deref().filter(|b| !b.is_empty()) {
                        let cut: String = b.chars().take(300).collect();
                        println!(
                            "\nresponse{}: {cut}{}",
                            if d.response_truncated {
                                " (first 4 KiB kept)"
                            } else {
                                ""
                            },
                            if b.chars().count() > 300 { " …" } else { "" }
                        );
                    }
                }
            }
            let outcomes: Vec<String> = r
                .outcomes
                .iter()
                .map(|o| format!("{} {}", o.attempts, o.outcome.as_str()))
                .collect();
            println!(
                "\n{} event(s), {} attempt(s) to {} in {} ms ({}/s): {}; {} of {} answered as a correct endpoint would; latency p50 {}, p95 {}{}",
                r.events, r.attempts, r.url, r.elapsed_ms, r.per_second, outcomes.join(", "),
                r.as_expected, r.events, ms(r.latency_p50_us), ms(r.latency_p95_us),
                if r.cancelled { "; cancelled" } else { "" }
            );
            if r.events > 20 && r.as_expected < r.events && shown_len == 0 {
                println!("\nthe events not answered as expected are past the first {} shown here: `tollgate webhooks history --run {}` lists every attempt", r.deliveries.len(), r.run_id);
            }
            println!(
                "run {} (tollgate webhooks history --run {})",
                r.run_id, r.run_id
            );
        }
    }
    if r.as_expected < r.events {
        return Err(ErrorBody::new(
            ErrorCode::Internal,
            format!("{} of {} event(s) were not answered as a correct endpoint would (2xx to a valid signature, 4xx to any other)", r.events - r.as_expected, r.events),
        ));
    }
    Ok(())
}

pub async fn trigger(console: &Console, f: Format, a: TriggerArgs) -> Result<(), ErrorBody> {
    if a.list {
        let catalog = console.testfire_catalog();
        let rows = catalog
            .iter()
            .map(|k| {
                vec![
                    k.name.to_owned(),
                    k.resource.to_owned(),
                    k.summary.to_owned(),
                ]
            })
            .collect();
        return emit(f, &catalog, &["type", "object", "what it says"], rows);
    }
    let input = TriggerInput {
        kind: a.kind.unwrap_or_default(),
        org: a.org,
        set: a.set,
        repeat: a.repeat,
        concurrency: a.concurrency,
        delivery: a.delivery.options(),
    };
    if a.print {
        let p = console.trigger_print(&input).await?;
        // One JSON object on one line; a closed pipe (`| head`) is not an error.
        let line = serde_json::to_string(&p)
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
        return match writeln!(std::io::stdout().lock(), "{line}") {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(ErrorBody::new(
                ErrorCode::Internal,
                format!("cannot write output: {e}"),
            )),
            _ => Ok(()),
        };
    }
    let op = "cli-trigger";
    let r = with_progress(console, op, console.trigger(&input, Some(op))).await?;
    report(f, &r)
}

pub async fn scenario(console: &Console, f: Format, a: ScenarioArgs) -> Result<(), ErrorBody> {
    if a.list {
        let list = console.testfire_scenarios();
        let rows = list
            .iter()
            .map(|s| vec![s.name.to_owned(), s.summary.to_owned()])
            .collect();
        return emit(f, &list, &["scenario", "what it sends"], rows);
    }
    let input = ScenarioInput {
        name: a.name.unwrap_or_default(),
        org: a.org,
        of: a.of,
        kind: a.kind,
        count: a.count,
        concurrency: a.concurrency,
        delivery: a.delivery.options(),
    };
    let op = "cli-scenario";
    let r = with_progress(console, op, console.testfire_scenario(&input, Some(op))).await?;
    report(f, &r)
}

pub async fn history(
    console: &Console,
    f: Format,
    limit: i64,
    run: Option<String>,
) -> Result<(), ErrorBody> {
    let ds = match &run {
        Some(r) if r.trim().is_empty() => {
            return Err(tollgate_core::domain::InputError::new(
                "run",
                "give a run id, as trigger and scenario print it",
            )
            .into())
        }
        Some(r) => console.testfire_run(r).await?,
        None => console.testfire_history(limit, None).await?,
    };
    let mut headers = vec!["sent"];
    headers.extend_from_slice(HEADERS);
    headers.push("url");
    let rows = ds
        .iter()
        .zip(rows(&ds))
        .map(|(d, mut r)| {
            let sent = crate::cli_catalog::chrono_like(d.sent_at_ms / 1000);
            r.insert(0, sent);
            r.push(d.url.clone());
            r
        })
        .collect();
    if ds.is_empty() && f == Format::Table {
        eprintln!("no deliveries yet: `tollgate trigger TYPE` sends one");
        return Ok(());
    }
    emit(f, &ds, &headers, rows)
}

pub async fn show(console: &Console, f: Format, id: i64) -> Result<(), ErrorBody> {
    let d = console.testfire_delivery(id).await?;
    if f != Format::Table {
        return emit(f, &d, HEADERS, rows(std::slice::from_ref(&d)));
    }
    println!("POST {}", d.url);
    for (k, v) in &d.request_headers {
        println!("{k}: {v}");
    }
    println!("\n{}\n", d.body);
    match d.http_status {
        Some(s) => println!("answered {s} in {} ({})", ms(d.latency_us), result_of(&d)),
        None => println!("no answer after {} ({})", ms(d.latency_us), result_of(&d)),
    }
    if let Some(e) = &d.error {
        println!("{e}");
    }
    for (k, v) in &d.response_headers {
        println!("{k}: {v}");
    }
    if let Some(b) = &d.response_body {
        println!(
            "\n{b}{}",
            if d.response_truncated {
                "\n(first 4 KiB kept)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

pub async fn replay(console: &Console, f: Format, id: i64) -> Result<(), ErrorBody> {
    let r = console.testfire_replay(id).await?;
    report(f, &r)
}
