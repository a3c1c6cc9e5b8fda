//! `tollgate sync`, `webhooks`, `subscriptions` and `access`: the Subscriptions and Access
//! screens' twins.

use clap::Subcommand;
use tollgate_core::console::AccessAction;
use tollgate_core::store::sync_views::{AccessQuery, SubscriptionQuery};
use tollgate_core::{Console, ErrorBody, ErrorCode};

use crate::cli::{emit, Format};
use crate::cli_catalog::{chrono_like, with_progress};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Receive Stripe's webhooks on 127.0.0.1 until interrupted (`stripe listen
    /// --forward-to localhost:PORT/webhook` works); signatures are checked against every
    /// configured webhook secret.
    Serve {
        #[arg(long, default_value_t = 4242)]
        port: u16,
    },
    /// Test-fired deliveries, newest first: every attempt, with its answer.
    History {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One run's attempts, in step order (the run id `trigger` and `scenario` print).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
    },
    /// One delivery: the exact request and what came back.
    Show { id: i64 },
    /// Sends a past delivery again, byte for byte (its signature's timestamp too).
    Replay { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Every organization's subscription, filtered and sorted as on the screen.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        interval: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        /// Name, email or any Stripe id.
        #[arg(long)]
        search: Option<String>,
        /// org_name, email, tier, interval, status, amount, current_period_end, created.
        #[arg(long)]
        sort: Option<String>,
        #[arg(long)]
        desc: bool,
        /// Rows to print; 0 prints every row that matches.
        #[arg(long, default_value_t = 0)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// PlatformAccess rows.
    List {
        /// ACTIVE, PAST_DUE or CANCELED.
        #[arg(long)]
        status: Option<String>,
        /// A price id or lookup key.
        #[arg(long)]
        plan: Option<String>,
        /// Only rows that ended (`--ended true`) or that run on (`--ended false`).
        #[arg(long)]
        ended: Option<bool>,
    },
    /// An organization: its subscriptions, access with history, timeline and entitlements.
    Show { org: String },
    /// Compares the store with Stripe now; exits 1 when anything differs.
    Drift,
    /// Reads an organization's customers and subscriptions from Stripe again.
    Resync { org: String },
    /// Grants ACTIVE access to a plan, whatever Stripe says, until cleared.
    Grant {
        org: String,
        plan: String,
        #[arg(long)]
        reason: String,
    },
    /// Revokes access to a plan (CANCELED), whatever Stripe says, until cleared.
    Revoke {
        org: String,
        plan: String,
        #[arg(long)]
        reason: String,
    },
    /// Removes a manual grant or revoke: access follows Stripe again.
    Clear {
        org: String,
        plan: String,
        #[arg(long)]
        reason: String,
    },
}

fn opt_ts(t: Option<i64>) -> String {
    t.map(chrono_like).unwrap_or_default()
}

pub async fn sync(console: &Console, f: Format, full: bool, status: bool) -> Result<(), ErrorBody> {
    let mut incomplete: Option<ErrorBody> = None;
    if !status {
        let op = "cli-sync";
        let r = with_progress(console, op, console.sync(full, Some(op))).await?;
        // A sync that left objects out ends 1, so a script can tell; each is listed below.
        incomplete = (r.skipped > 0).then(|| {
            ErrorBody::new(
                ErrorCode::SyncIncomplete,
                format!(
                    "{} object{} could not be read and {} left out of the mirror (each named above, and by `tollgate sync --status`); the next sync tries them again",
                    r.skipped,
                    if r.skipped == 1 { "" } else { "s" },
                    if r.skipped == 1 { "is" } else { "are" }
                ),
            )
        });
        if f == Format::Json {
            emit(f, &r, &[], vec![])?;
            return incomplete.map_or(Ok(()), Err);
        }
        if let Some(who) = &r.waited_for {
            println!(
                "waited for another sync of this store, {who}{}",
                if r.joined {
                    "; it had just read everything, so this run only read the events since"
                } else {
                    ""
                }
            );
        }
        if let Some(b) = &r.backfill {
            println!(
                "backfill{}: {} customers, {} subscriptions, {} one-time purchases{}",
                if b.resumed { " (resumed)" } else { "" },
                b.customers,
                b.subscriptions,
                b.purchases,
                if b.cancelled {
                    " — cancelled, the next run resumes"
                } else {
                    ""
                }
            );
        }
        if let Some(c) = &r.cursor {
            println!(
                "events: {} listed since {} (with a {} s overlap), {} new, {} already recorded",
                c.read,
                chrono_like(c.from),
                tollgate_core::sync::cursor::OVERLAP_SECONDS,
                c.new,
                c.duplicate
            );
            if let Some(w) = &c.warning {
                eprintln!("warning: {w}");
            }
        }
        let s = &r.settle;
        println!(
            "objects read from Stripe: {} ({} older than the store, {} gone); still to confirm: {}",
            s.confirmed, s.stale, s.gone, s.remaining
        );
        if let Some(why) = &s.offline {
            eprintln!("warning: Stripe could not be read ({why}); {} objects were updated from event payloads and stay marked until a read confirms them", s.from_payload);
        }
        println!("done in {} ms", r.elapsed_ms);
    }
    let st = console.sync_state().await?;
    if f == Format::Json {
        return emit(f, &st, &[], vec![]);
    }
    if status {
        println!(
            "events cursor: {}",
            st.checkpoint
                .map(chrono_like)
                .unwrap_or_else(|| "none yet: run `tollgate sync --full`".into())
        );
        if let Some(c) = st.checkpoint {
            if let Some(w) = tollgate_core::sync::cursor::retention_warning(
                c,
                tollgate_core::store::now_seconds(),
            ) {
                eprintln!("warning: {w}");
            }
        }
        println!("last sync: {}", opt_ts(st.last_sync_at));
        println!(
            "ledger: {} events; awaiting a read from Stripe: {}",
            st.events, st.dirty
        );
        println!(
            "organizations: {}, subscriptions: {}",
            st.organizations, st.subscriptions
        );
        if st.backfill_pending {
            println!("a backfill was interrupted: the next `tollgate sync` resumes it");
        }
    }
    for i in &st.issues {
        eprintln!("issue: {} {}: {}", i.kind, i.object_id, i.detail);
    }
    incomplete.map_or(Ok(()), Err)
}

pub async fn webhooks(console: &Console, f: Format, c: WebhooksCommand) -> Result<(), ErrorBody> {
    let port = match c {
        WebhooksCommand::Serve { port } => port,
        WebhooksCommand::History { limit, run } => {
            return crate::cli_testfire::history(console, f, limit, run).await
        }
        WebhooksCommand::Show { id } => return crate::cli_testfire::show(console, f, id).await,
        WebhooksCommand::Replay { id } => return crate::cli_testfire::replay(console, f, id).await,
    };
    let status = console.receiver_start(port).await?;
    eprintln!(
        "receiving Stripe webhooks at {} with {} signing secret(s); Ctrl-C stops",
        status.url.unwrap_or_default(),
        status.secrets
    );
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))?;
    if let Some(s) = console.receiver_status().await.stats {
        eprintln!(
            "received {}, recorded {}, duplicates {}, rejected {}, failed {}",
            s.received, s.recorded, s.duplicates, s.rejected, s.failed
        );
    }
    console.receiver_stop().await;
    Ok(())
}

pub async fn subscriptions(
    console: &Console,
    f: Format,
    c: SubscriptionsCommand,
) -> Result<(), ErrorBody> {
    let SubscriptionsCommand::List {
        status,
        tier,
        interval,
        currency,
        search,
        sort,
        desc,
        limit,
    } = c;
    let q = SubscriptionQuery {
        status,
        tier,
        interval,
        currency,
        search,
        sort,
        desc,
        offset: 0,
        limit,
    };
    if f == Format::Csv {
        print!("{}", console.subscriptions_csv(&q).await?);
        return Ok(());
    }
    let rows = if limit == 0 {
        console.subscriptions_all(&q).await?
    } else {
        console.subscriptions(&q).await?.rows
    };
    let table = rows
        .iter()
        .map(|r| {
            vec![
                r.org_name
                    .clone()
                    .unwrap_or_else(|| format!("(unknown customer {})", r.customer_id)),
                r.email.clone().unwrap_or_default(),
                r.tier.clone().unwrap_or_default(),
                r.interval.clone().unwrap_or_default(),
                r.status.clone(),
                r.amount_text(),
                opt_ts(r.current_period_end),
                if r.cancel_at_period_end {
                    "yes".into()
                } else {
                    String::new()
                },
                r.subscription_id.clone(),
            ]
        })
        .collect();
    emit(
        f,
        &rows,
        &[
            "organization",
            "email",
            "tier",
            "interval",
            "status",
            "amount",
            "period_end",
            "cancels",
            "subscription",
        ],
        table,
    )
}

pub async fn access(console: &Console, f: Format, c: AccessCommand) -> Result<(), ErrorBody> {
    let show = |d: &tollgate_core::store::sync_views::OrgDetail| -> Result<(), ErrorBody> {
        if f == Format::Json {
            return emit(f, d, &[], vec![]);
        }
        println!(
            "{} ({}){}",
            d.name,
            d.org_id,
            d.email
                .as_ref()
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default()
        );
        println!("customers: {}", d.customer_ids.join(", "));
        println!(
            "entitlements claim: [{}]",
            d.claim
                .iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for a in &d.access {
            println!(
                "access {} {}: {} since {}{}{}",
                a.plan_label.as_deref().unwrap_or(""),
                a.plan_id,
                a.status,
                chrono_like(a.started_at),
                a.ended_at
                    .map(|t| format!(", ended {}", chrono_like(t)))
                    .unwrap_or_default(),
                a.override_reason
                    .as_ref()
                    .map(|r| format!(" (manual: {r})"))
                    .unwrap_or_default()
            );
        }
        for s in &d.subscriptions {
            println!(
                "subscription {} {} {} {}",
                s.subscription_id,
                s.status,
                s.price_id.as_deref().unwrap_or(""),
                s.amount_text()
            );
        }
        for t in d.timeline.iter().take(20) {
            println!("  {} {} {}", chrono_like(t.at), t.kind, t.title);
        }
        Ok(())
    };
    match c {
        AccessCommand::List {
            status,
            plan,
            ended,
        } => {
            let page = console
                .access(&AccessQuery {
                    status,
                    plan,
                    ended,
                    search: None,
                    offset: 0,
                    limit: 5000,
                })
                .await?;
            let rows = page
                .rows
                .iter()
                .map(|a| {
                    vec![
                        a.org_name.clone(),
                        a.org_id.clone(),
                        a.plan_label.clone().unwrap_or_else(|| a.plan_id.clone()),
                        a.status.clone(),
                        chrono_like(a.started_at),
                        opt_ts(a.ended_at),
                        a.source.clone(),
                    ]
                })
                .collect();
            emit(
                f,
                &page,
                &[
                    "organization",
                    "org_id",
                    "plan",
                    "status",
                    "started",
                    "ended",
                    "source",
                ],
                rows,
            )
        }
        AccessCommand::Show { org } => show(&console.org_detail(&org).await?),
        AccessCommand::Resync { org } => show(&console.resync_org(&org).await?),
        AccessCommand::Grant { org, plan, reason } => show(
            &console
                .access_override(&org, &plan, AccessAction::Grant, &reason)
                .await?,
        ),
        AccessCommand::Revoke { org, plan, reason } => show(
            &console
                .access_override(&org, &plan, AccessAction::Revoke, &reason)
                .await?,
        ),
        AccessCommand::Clear { org, plan, reason } => show(
            &console
                .access_override(&org, &plan, AccessAction::Clear, &reason)
                .await?,
        ),
        AccessCommand::Drift => {
            let op = "cli-drift";
            let report = with_progress(console, op, console.access_drift(Some(op))).await?;
            let rows = report
                .items
                .iter()
                .map(|i| {
                    vec![
                        i.org_name.clone().unwrap_or_default(),
                        i.object_id.clone(),
                        i.field.clone(),
                        i.store.clone().unwrap_or_else(|| "—".into()),
                        i.stripe.clone().unwrap_or_else(|| "—".into()),
                    ]
                })
                .collect();
            emit(
                f,
                &report,
                &["organization", "object", "what", "store", "stripe"],
                rows,
            )?;
            if report.items.is_empty() {
                eprintln!(
                    "no drift: {} subscriptions checked",
                    report.checked_subscriptions
                );
                Ok(())
            } else {
                Err(ErrorBody::new(ErrorCode::Internal, format!("{} differences between the store and Stripe; `tollgate access resync ORG` fixes one organization, `tollgate sync --full` all", report.items.len())))
            }
        }
    }
}
