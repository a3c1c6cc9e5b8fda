//! `tollgate report`, `tollgate rates` and `tollgate dev seed`: the Commissions screen's twins.

use clap::Subcommand;
use tollgate_core::domain::money::format_minor;
use tollgate_core::domain::Currency;
use tollgate_core::ledger::report::{
    CommissionGroup, CommissionQuery, Dim, Period, RateInput, RateRow,
};
use tollgate_core::{Console, ErrorBody};

use crate::cli::{emit, Format};
use crate::cli_catalog::with_progress;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Commissions over a period, grouped as asked; totals per currency.
    Commissions {
        /// First day, YYYY-MM-DD (in the reports' time zone).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD, included.
        #[arg(long)]
        to: String,
        /// Comma-separated: month (the period bucket), tier, plan_type, expert, currency.
        #[arg(long, value_delimiter = ',', default_value = "month")]
        group_by: Vec<String>,
        /// The bucket of the period column: day, week, month or quarter. Default: the period
        /// word in --group-by (`--group-by week,tier` buckets by week), else month.
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        tier: Option<String>,
        /// commission, monthly or annual.
        #[arg(long)]
        plan_type: Option<String>,
        /// An organization id.
        #[arg(long)]
        expert: Option<String>,
        /// Only rows whose charge differs from the rate (groups with flagged rows).
        #[arg(long)]
        flagged: bool,
        /// Print the ledger rows behind the report instead of the groups.
        #[arg(long)]
        rows: bool,
        /// Write the ledger rows behind the report to this CSV file, with progress.
        #[arg(long, conflicts_with = "rows")]
        export: Option<std::path::PathBuf>,
    },
    /// The finance overview: MRR and ARR by tier and currency, subscriptions by status, new
    /// and churned this month, past-due revenue at risk, commissions this month against last.
    Overview,
    /// The time zone reports bucket days in; with a zone, sets it (every row's day is
    /// computed again).
    TimeZone { zone: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum RatesCommand {
    /// Every commission rate, with the days it covers.
    List,
    /// Adds a rate; refused when it overlaps another of the same plan type and tier.
    Add {
        /// commission, monthly or annual.
        #[arg(long)]
        plan_type: String,
        /// community, top, partner, ...
        #[arg(long)]
        tier: String,
        /// Percent, up to 2 decimals: 12, 8.5.
        #[arg(long)]
        rate: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// The day it no longer applies, YYYY-MM-DD; open-ended without.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Ends a rate at the start of a day, so another can follow it.
    End {
        id: i64,
        #[arg(long)]
        at: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Generates data in the store for benches and demos.
    Seed {
        /// Commission ledger rows over the past year.
        #[arg(long)]
        commissions: u64,
    },
}

fn bps_text(b: Option<i64>) -> String {
    b.map(|b| format!("{}.{:02} %", b / 100, b % 100))
        .unwrap_or_else(|| "—".into())
}

fn money(v: i64, currency: &str) -> String {
    format_minor(v, &Currency::from_stripe(currency))
}

fn group_row(g: &CommissionGroup, dims: &[Dim]) -> Vec<String> {
    let mut row = Vec::new();
    for d in dims {
        row.push(match d {
            Dim::Period => g.period.clone().unwrap_or_default(),
            Dim::Tier => g.tier.clone().unwrap_or_default(),
            Dim::PlanType => g.plan_type.clone().unwrap_or_default(),
            Dim::Expert => match (&g.expert, &g.expert_name) {
                (Some(id), Some(name)) => format!("{name} ({id})"),
                (Some(id), None) => id.clone(),
                _ => "(no organization)".into(),
            },
            Dim::Currency => continue,
        });
    }
    row.extend([
        g.currency.to_uppercase(),
        g.charges.to_string(),
        g.refunds.to_string(),
        money(g.gross, &g.currency),
        money(g.commission, &g.currency),
        money(g.implied, &g.currency),
        bps_text(g.effective_bps),
        g.flagged.to_string(),
    ]);
    row
}

pub async fn report(console: &Console, f: Format, c: ReportCommand) -> Result<(), ErrorBody> {
    match c {
        ReportCommand::Overview => {
            let o = console.overview().await?;
            let trend = |t: &[i64]| {
                t.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let money_trend = |t: &[i64], c: &str| {
                let e = Currency::from_stripe(c).exponent();
                t.iter()
                    .map(|v| format!("{}", v / 10_i64.pow(e)))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let mut rows: Vec<Vec<String>> = Vec::new();
            // A money figure: its label, the amount, its trend if it has one.
            let money_row = |label: String, value: i64, currency: &str, t: Option<&[i64]>| {
                vec![
                    label,
                    money(value, currency),
                    t.map(|t| money_trend(t, currency)).unwrap_or_default(),
                ]
            };
            for m in &o.mrr {
                let cur = m.currency.to_uppercase();
                rows.push(money_row(
                    format!("MRR {cur}"),
                    m.value,
                    &m.currency,
                    Some(&m.trend),
                ));
                rows.push(money_row(
                    format!("ARR {cur}"),
                    m.value * 12,
                    &m.currency,
                    None,
                ));
            }
            for m in &o.mrr_by_tier {
                let label = format!(
                    "MRR {} {}",
                    m.currency.to_uppercase(),
                    m.tier.clone().unwrap_or_default()
                );
                rows.push(money_row(label, m.value, &m.currency, Some(&m.trend)));
            }
            for s in &o.statuses {
                rows.push(vec![
                    format!("subscriptions {}", s.label),
                    s.value.to_string(),
                    trend(&s.trend),
                ]);
            }
            for s in [&o.new_subscriptions, &o.churned_subscriptions] {
                rows.push(vec![
                    format!("{} this month", s.label),
                    s.value.to_string(),
                    trend(&s.trend),
                ]);
            }
            for r in &o.past_due_at_risk {
                let label = format!("past-due MRR at risk {}", r.currency.to_uppercase());
                rows.push(money_row(label, r.value, &r.currency, Some(&r.trend)));
            }
            for c in &o.commissions {
                let cur = c.currency.to_uppercase();
                let this = format!("commissions this month {cur}");
                rows.push(money_row(this, c.this_month, &c.currency, Some(&c.trend)));
                let last = format!("commissions last month {cur}");
                rows.push(money_row(last, c.last_month, &c.currency, None));
            }
            if f == Format::Table {
                eprintln!(
                    "Months {} to {} in {}; trends in major units, oldest first.{}",
                    o.months.first().cloned().unwrap_or_default(),
                    o.months.last().cloned().unwrap_or_default(),
                    o.time_zone,
                    if o.unpriced > 0 {
                        format!(
                            " {} subscriptions have no flat amount and are left out of MRR.",
                            o.unpriced
                        )
                    } else {
                        String::new()
                    }
                );
            }
            emit(f, &o, &["figure", "now", "12-month trend"], rows)
        }
        ReportCommand::TimeZone { zone: None } => {
            let tz = console.report_time_zone().await?;
            emit(
                f,
                &serde_json::json!({ "time_zone": tz }),
                &["time_zone"],
                vec![vec![tz]],
            )
        }
        ReportCommand::TimeZone { zone: Some(z) } => {
            let c = console.set_report_time_zone(&z).await?;
            emit(
                f,
                &serde_json::json!({ "time_zone": c.time_zone, "rows_moved_to_another_day": c.moved }),
                &["time_zone", "rows moved to another day"],
                vec![vec![c.time_zone.clone(), c.moved.to_string()]],
            )
        }
        ReportCommand::Commissions {
            from,
            to,
            group_by,
            period,
            currency,
            tier,
            plan_type,
            expert,
            flagged,
            rows,
            export,
        } => {
            let words: Vec<&str> = group_by
                .iter()
                .map(|g| g.trim())
                .filter(|g| !g.is_empty())
                .collect();
            let group_by = words
                .iter()
                .map(|g| Dim::parse(g))
                .collect::<Result<Vec<_>, _>>()?;
            let period = match period {
                Some(p) => Period::parse(&p)?,
                None => words
                    .iter()
                    .find_map(|w| Period::parse(w).ok())
                    .unwrap_or(Period::Month),
            };
            let q = CommissionQuery {
                from,
                to,
                period,
                group_by,
                currency,
                tier,
                plan_type,
                expert,
                flagged_only: flagged,
            };
            if let Some(path) = export {
                let op = format!("export-{}", std::process::id());
                let r = with_progress(
                    console,
                    &op,
                    console.commissions_export(&q, Some(path), Some(&op)),
                )
                .await?;
                return emit(
                    f,
                    &r,
                    &["file", "rows"],
                    vec![vec![r.path.clone(), r.rows.to_string()]],
                );
            }
            if rows {
                let mut all = Vec::new();
                let mut offset = 0;
                loop {
                    let page = console.commission_rows(&q, offset, 10_000).await?;
                    let n = page.rows.len() as i64;
                    all.extend(page.rows);
                    offset += n;
                    if n == 0 || offset >= page.total {
                        break;
                    }
                }
                let table = all
                    .iter()
                    .map(|r| {
                        vec![
                            r.local_day.clone(),
                            r.kind.clone(),
                            r.id.clone(),
                            r.org_name
                                .clone()
                                .or_else(|| r.org_id.clone())
                                .unwrap_or_default(),
                            r.plan_type.clone(),
                            r.tier.clone(),
                            money(r.gross, &r.currency),
                            money(r.commission, &r.currency),
                            r.implied
                                .map(|i| money(i, &r.currency))
                                .unwrap_or_else(|| "—".into()),
                            bps_text(r.rate_bps),
                            if r.flagged {
                                "yes".into()
                            } else {
                                String::new()
                            },
                        ]
                    })
                    .collect();
                return emit(
                    f,
                    &all,
                    &[
                        "day",
                        "kind",
                        "id",
                        "organization",
                        "plan type",
                        "tier",
                        "gross",
                        "commission",
                        "rate implies",
                        "rate",
                        "flagged",
                    ],
                    table,
                );
            }
            let r = console.commission_report(&q).await?;
            let dims: Vec<Dim> = r.group_by.clone();
            let mut headers: Vec<&str> = dims
                .iter()
                .filter_map(|d| match d {
                    Dim::Period => Some(match r.period {
                        Period::Day => "day",
                        Period::Week => "week",
                        Period::Month => "month",
                        Period::Quarter => "quarter",
                    }),
                    Dim::Tier => Some("tier"),
                    Dim::PlanType => Some("plan type"),
                    Dim::Expert => Some("expert"),
                    Dim::Currency => None,
                })
                .collect();
            headers.extend([
                "currency",
                "charges",
                "refunds",
                "gross",
                "commission",
                "rate implies",
                "effective rate",
                "flagged",
            ]);
            let mut table: Vec<Vec<String>> =
                r.groups.iter().map(|g| group_row(g, &dims)).collect();
            if f == Format::Table {
                if r.groups.is_empty() {
                    eprintln!(
                        "No commissions from {} to {} ({}).",
                        r.from, r.to, r.time_zone
                    );
                    return Ok(());
                }
                for t in &r.totals {
                    let mut row: Vec<String> = dims
                        .iter()
                        .filter(|d| **d != Dim::Currency)
                        .enumerate()
                        .map(|(i, _)| {
                            if i == 0 {
                                "total".into()
                            } else {
                                String::new()
                            }
                        })
                        .collect();
                    row.extend(group_row(t, &[]));
                    table.push(row);
                }
                eprintln!(
                    "{} to {} in {}, from the {} in {:.1} ms",
                    r.from,
                    r.to,
                    r.time_zone,
                    r.source,
                    r.elapsed_us as f64 / 1000.0
                );
            }
            emit(f, &r, &headers, table)
        }
    }
}

pub async fn rates(console: &Console, f: Format, c: RatesCommand) -> Result<(), ErrorBody> {
    let tz = console.report_time_zone().await?;
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let row = |r: &RateRow| {
        vec![
            r.id.to_string(),
            r.plan_type.clone(),
            r.tier.clone(),
            bps_text(Some(r.rate_bps)),
            if r.effective_from == 0 {
                "always".into()
            } else {
                day(r.effective_from)
            },
            r.effective_to.map(day).unwrap_or_else(|| "open".into()),
            r.source.clone(),
            r.note.clone().unwrap_or_default(),
        ]
    };
    let headers = [
        "id",
        "plan type",
        "tier",
        "rate",
        "from",
        "until",
        "source",
        "note",
    ];
    match c {
        RatesCommand::List => {
            let all = console.commission_rates().await?;
            if f == Format::Table {
                eprintln!("Days in {tz}.");
            }
            emit(f, &all, &headers, all.iter().map(row).collect())
        }
        RatesCommand::Add {
            plan_type,
            tier,
            rate,
            from,
            to,
            note,
        } => {
            let r = console
                .commission_rate_add(&RateInput {
                    plan_type,
                    tier,
                    rate,
                    from,
                    to,
                    note,
                })
                .await?;
            emit(f, &r, &headers, vec![row(&r)])
        }
        RatesCommand::End { id, at } => {
            let r = console.commission_rate_end(id, &at).await?;
            emit(f, &r, &headers, vec![row(&r)])
        }
    }
}

pub async fn dev(console: &Console, f: Format, c: DevCommand) -> Result<(), ErrorBody> {
    let DevCommand::Seed { commissions } = c;
    let op = format!("seed-{}", std::process::id());
    let started = std::time::Instant::now();
    let n = with_progress(
        console,
        &op,
        console.seed_commissions(commissions, Some(&op)),
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    emit(
        f,
        &serde_json::json!({ "commission_rows": n, "seconds": secs }),
        &["commission rows", "seconds"],
        vec![vec![n.to_string(), format!("{secs:.1}")]],
    )
}
