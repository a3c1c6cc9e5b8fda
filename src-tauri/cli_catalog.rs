//! The Plans screen's CLI twin: `plans`, `prices`, `lookup-keys`, `features`, `activity`.

use std::io::IsTerminal;

use clap::Subcommand;
use tollgate_core::catalog::create::NewPrice;
use tollgate_core::catalog::Plan;
use tollgate_core::domain::format_minor;
use tollgate_core::{Console, ErrorBody, ErrorCode};

use crate::cli::{emit, Format};

#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// The catalog: every price with its lookup key, tier, audience, interval, amount,
    /// commission, features and active subscribers. Reads Stripe first, then prints the store.
    List {
        /// Print the store's copy without asking Stripe.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Create a price in Stripe (idempotent: re-running the same command returns the price
    /// it made, "already created", exit 0; the request is recorded on the price).
    Create {
        /// An existing product.
        #[arg(
            long,
            value_name = "ID",
            required_unless_present = "product_name",
            conflicts_with = "product_name"
        )]
        product: Option<String>,
        /// Create a new product with this name.
        #[arg(long, value_name = "NAME")]
        product_name: Option<String>,
        /// Minor units: 2900 is 29.00 (500 is JPY 500).
        #[arg(long, allow_hyphen_values = true)]
        amount: i64,
        #[arg(long)]
        currency: String,
        /// month, year or once.
        #[arg(long)]
        interval: String,
        /// {tier}-{audience}-{interval}[-{currency}][-v{N}], e.g. partner-starter-monthly.
        #[arg(long, value_name = "KEY")]
        lookup_key: String,
        /// Take the key from the price that holds it (which keeps its subscribers).
        #[arg(long)]
        transfer_lookup_key: bool,
        /// Commission rate in basis points (1200 = 12.00 %), stored as metadata commissionRate.
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        commission_bps: Option<i64>,
        /// Charge per seat (the subscription quantity) instead of a flat fee.
        #[arg(long)]
        per_seat: bool,
        /// An entitlement feature (lookup key or id) to attach to the product; repeatable.
        #[arg(long = "feature", value_name = "F")]
        features: Vec<String>,
        #[arg(long)]
        nickname: Option<String>,
        /// In live mode: the Stripe account's name, to confirm the write.
        #[arg(long, value_name = "ACCOUNT NAME")]
        confirm: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LookupKeysCommand {
    /// Apply a map {"price_…": "lookup-key", …}: each row unchanged, assign, transfer,
    /// conflict or invalid. A map with conflicts is refused whole.
    Apply {
        map: std::path::PathBuf,
        /// List what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_name = "ACCOUNT NAME")]
        confirm: Option<String>,
    },
    /// Check [{"lookup_key", "amount", "currency", "interval"}, …] against Stripe; exits 1
    /// if any key does not resolve to exactly one active price with those values.
    Verify { expected: std::path::PathBuf },
    /// Resolve keys to prices through the cache (the store's copy, marked stale, if Stripe
    /// is unreachable).
    Resolve {
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Entitlement features and the products that carry them.
    List,
    /// Attach a feature (lookup key or id) to a product.
    Attach {
        #[arg(long, value_name = "ID")]
        product: String,
        feature: String,
        #[arg(long, value_name = "ACCOUNT NAME")]
        confirm: Option<String>,
    },
    /// Detach a feature from a product.
    Detach {
        #[arg(long, value_name = "ID")]
        product: String,
        feature: String,
        #[arg(long, value_name = "ACCOUNT NAME")]
        confirm: Option<String>,
    },
}

fn read_file(path: &std::path::Path, field: &str) -> Result<String, ErrorBody> {
    std::fs::read_to_string(path).map_err(|e| ErrorBody {
        code: ErrorCode::InvalidInput,
        message: format!("{field}: cannot read {}: {e}", path.display()),
        field: Some(field.to_owned()),
    })
}

fn plan_row(p: &Plan) -> Vec<String> {
    let mut flags = Vec::new();
    if p.lookup_key.is_none() && p.active {
        flags.push("no lookup key".to_owned());
    }
    if let Some(problem) = &p.key_problem {
        flags.push(format!("key breaks the convention: {problem}"));
    }
    vec![
        p.price_id.clone(),
        p.product_name.clone(),
        p.lookup_key.clone().unwrap_or_default(),
        p.tier.clone().unwrap_or_default(),
        p.audience.clone().unwrap_or_default(),
        p.interval
            .map(|i| i.as_str().to_owned())
            .unwrap_or_else(|| p.cadence.clone()),
        p.pricing.clone(),
        if p.active { "yes" } else { "no" }.to_owned(),
        p.commission_bps.map(|b| b.display()).unwrap_or_default(),
        p.active_subscribers.to_string(),
        p.features
            .iter()
            .map(|f| f.lookup_key.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        flags.join("; "),
    ]
}

const PLAN_HEADERS: &[&str] = &[
    "price",
    "product",
    "lookup_key",
    "tier",
    "audience",
    "interval",
    "pricing",
    "active",
    "commission",
    "subscribers",
    "features",
    "flags",
];

/// Runs `work`, printing the progress of operation `op` on stderr while it runs.
pub(crate) async fn with_progress<T>(
    console: &Console,
    op: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let tty = std::io::stderr().is_terminal();
    tokio::pin!(work);
    let mut stopping = false;
    let mut last = String::new();
    // One line per change: rewritten in place on a terminal, appended otherwise.
    let mut show = |line: String| {
        if line != last {
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            last = line;
        }
    };
    let line_of = |v: &tollgate_core::progress::ProgressView| {
        let line = if v.total > 0 {
            format!("{} {}/{}", v.phase, v.done, v.total)
        } else {
            v.phase.clone()
        };
        // What it waits for (Stripe's rate limit, a retry), while it waits.
        match &v.note {
            Some(note) => format!("{line}: {note}"),
            None => line,
        }
    };
    loop {
        tokio::select! {
            out = &mut work => {
                // The last state, so even a run shorter than one tick shows what it did.
                if let Some(v) = console.op_progress(op).filter(|v| v.total > 0) {
                    show(line_of(&v));
                }
                if tty && !last.is_empty() {
                    eprintln!();
                }
                return out;
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                if let Some(v) = console.op_progress(op) {
                    show(line_of(&v));
                }
            }
            // Ctrl-C asks the operation to stop between two steps (what it did is kept: a
            // sync resumes, a burst's sent events are in the history); a second one quits.
            _ = tokio::signal::ctrl_c(), if !stopping => {
                stopping = true;
                console.op_cancel(op);
                eprintln!("\nstopping after the current step (Ctrl-C again to quit now)");
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(130);
                    }
                });
            }
        }
    }
}

fn warn_if_stale(cat: &tollgate_core::catalog::Catalog) {
    if let Some(reason) = &cat.stale_reason {
        eprintln!("warning: showing the store's copy; Stripe was not read: {reason}");
    }
}

pub async fn plans(console: &Console, f: Format, cmd: PlansCommand) -> Result<(), ErrorBody> {
    match cmd {
        PlansCommand::List { offline } => {
            let cat = console.catalog(!offline, None).await?;
            warn_if_stale(&cat);
            emit(
                f,
                &cat.plans,
                PLAN_HEADERS,
                cat.plans.iter().map(plan_row).collect(),
            )
        }
    }
}

pub async fn prices(console: &Console, f: Format, cmd: PricesCommand) -> Result<(), ErrorBody> {
    let PricesCommand::Create {
        product,
        product_name,
        amount,
        currency,
        interval,
        lookup_key,
        transfer_lookup_key,
        commission_bps,
        per_seat,
        features,
        nickname,
        confirm,
    } = cmd;
    let input = NewPrice {
        product_id: product,
        product_name,
        lookup_key,
        interval,
        amount,
        currency,
        commission_bps,
        per_seat,
        transfer_lookup_key,
        features,
        nickname,
        request_id: None,
    };
    let created = console.create_price(&input, confirm.as_deref()).await?;
    if created.already_created {
        eprintln!(
            "already created: {} was made by this same request earlier; nothing was written",
            created.plan.price_id
        );
    }
    if let Some(from) = &created.transferred_from {
        eprintln!("The lookup key moved from {from}, which keeps its subscribers.");
    }
    emit(f, &created, PLAN_HEADERS, vec![plan_row(&created.plan)])
}

pub async fn lookup_keys(
    console: &Console,
    f: Format,
    cmd: LookupKeysCommand,
) -> Result<(), ErrorBody> {
    match cmd {
        LookupKeysCommand::Apply {
            map,
            dry_run,
            confirm,
        } => {
            let json = read_file(&map, "map")?;
            let work = async {
                if dry_run {
                    console
                        .lookup_keys_plan(&json, Some("cli-apply"))
                        .await
                        .map(|p| (p, None))
                } else {
                    console
                        .lookup_keys_apply(&json, Some("cli-apply"), confirm.as_deref())
                        .await
                        .map(|r| (r.plan.clone(), Some(r)))
                }
            };
            let (plan, report) = with_progress(console, "cli-apply", work).await?;
            let rows = plan
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.price_id.clone(),
                        r.lookup_key.clone(),
                        format!("{:?}", r.action).to_lowercase(),
                        r.current_key.clone().unwrap_or_default(),
                        r.pricing.clone().unwrap_or_default(),
                        r.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let c = &plan.counts;
            let summary = format!(
                "{} unchanged, {} assign, {} transfer, {} conflict, {} invalid",
                c.unchanged, c.assign, c.transfer, c.conflict, c.invalid
            );
            const MAP_HEADERS: &[&str] = &[
                "price",
                "lookup_key",
                "action",
                "current_key",
                "pricing",
                "reason",
            ];
            match &report {
                Some(r) => emit(f, r, MAP_HEADERS, rows)?,
                None => emit(f, &plan, MAP_HEADERS, rows)?,
            }
            match report {
                Some(r) => eprintln!(
                    "{summary}; {} applied{}",
                    r.applied,
                    if r.cancelled { " (cancelled)" } else { "" }
                ),
                None => eprintln!("dry run: {summary}; nothing written"),
            }
            if dry_run && c.conflict + c.invalid > 0 {
                return Err(ErrorBody {
                    code: ErrorCode::InvalidInput,
                    message: format!(
                        "the map has {} conflicting and {} invalid rows; apply would refuse it",
                        c.conflict, c.invalid
                    ),
                    field: Some("map".into()),
                });
            }
            Ok(())
        }
        LookupKeysCommand::Verify { expected } => {
            let json = read_file(&expected, "expected")?;
            let report = console.lookup_keys_verify(&json).await?;
            let rows = report
                .checks
                .iter()
                .map(|c| {
                    let cur = tollgate_core::domain::Currency::from_stripe(&c.expected.currency);
                    vec![
                        if c.ok { "ok" } else { "FAIL" }.to_owned(),
                        c.expected.lookup_key.clone(),
                        format!(
                            "{} / {}",
                            format_minor(c.expected.amount, &cur),
                            c.expected.interval.as_str()
                        ),
                        c.found
                            .as_ref()
                            .and_then(|r| r.price.as_ref())
                            .map(|p| p.price_id.clone())
                            .unwrap_or_default(),
                        c.problems.join("; "),
                    ]
                })
                .collect();
            emit(
                f,
                &report,
                &["result", "lookup_key", "expected", "price", "problems"],
                rows,
            )?;
            eprintln!("{} passed, {} failed", report.passed, report.failed);
            if report.failed > 0 {
                return Err(ErrorBody::new(
                    ErrorCode::Internal,
                    format!(
                        "{} of {} lookup keys failed verification",
                        report.failed,
                        report.checks.len()
                    ),
                ));
            }
            Ok(())
        }
        LookupKeysCommand::Resolve { keys } => {
            let (res, stats) = console.resolve(&keys).await?;
            let rows = res
                .iter()
                .map(|r| {
                    vec![
                        r.lookup_key.clone(),
                        r.price
                            .as_ref()
                            .map(|p| p.price_id.clone())
                            .unwrap_or_else(|| "(none)".into()),
                        r.price
                            .as_ref()
                            .map(|p| p.pricing.clone())
                            .unwrap_or_default(),
                        r.price
                            .as_ref()
                            .map(|p| if p.active { "yes" } else { "no" }.to_owned())
                            .unwrap_or_default(),
                        format!("{:?}", r.source).to_lowercase()
                            + if r.stale { " (stale)" } else { "" },
                    ]
                })
                .collect();
            emit(
                f,
                &serde_json::json!({"resolutions": res, "stats": stats}),
                &["lookup_key", "price", "pricing", "active", "source"],
                rows,
            )?;
            eprintln!(
                "{} hits, {} misses, {} API calls, {} stale",
                stats.hits, stats.misses, stats.api_calls, stats.stale_served
            );
            Ok(())
        }
    }
}

pub async fn features(console: &Console, f: Format, cmd: FeaturesCommand) -> Result<(), ErrorBody> {
    let cat = match cmd {
        // Only a list can fall back to the store's copy; a write fails if Stripe does.
        FeaturesCommand::List => console.catalog(true, None).await?,
        FeaturesCommand::Attach {
            product,
            feature,
            confirm,
        } => {
            console
                .product_feature(&product, &feature, true, confirm.as_deref())
                .await?
        }
        FeaturesCommand::Detach {
            product,
            feature,
            confirm,
        } => {
            console
                .product_feature(&product, &feature, false, confirm.as_deref())
                .await?
        }
    };
    warn_if_stale(&cat);
    let rows = cat
        .features
        .iter()
        .map(|feat| {
            let products: Vec<String> = cat
                .products
                .iter()
                .filter(|p| p.features.iter().any(|x| x.id == feat.id))
                .map(|p| format!("{} ({})", p.name, p.id))
                .collect();
            vec![
                feat.lookup_key.clone(),
                feat.name.clone(),
                feat.id.clone(),
                products.join(", "),
            ]
        })
        .collect();
    emit(
        f,
        &serde_json::json!({"features": cat.features, "products": cat.products}),
        &["lookup_key", "name", "id", "products"],
        rows,
    )
}

pub async fn activity(console: &Console, f: Format, limit: i64) -> Result<(), ErrorBody> {
    let entries = console.activity(limit, None).await?;
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                chrono_like(e.at),
                e.actor.clone(),
                e.surface.clone().unwrap_or_default(),
                e.environment.to_string(),
                e.action.clone(),
                e.target.clone().unwrap_or_default(),
                e.stripe_ids.join(" "),
            ]
        })
        .collect();
    emit(
        f,
        &entries,
        &["when", "who", "from", "env", "what", "target", "stripe_ids"],
        rows,
    )
}

pub(crate) fn chrono_like(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::chrono_like(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::chrono_like(1_763_000_000), "2025-11-13 02:13:20 UTC");
    }
}
