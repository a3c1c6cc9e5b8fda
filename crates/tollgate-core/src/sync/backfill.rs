//! Backfill: list everything the projections need from Stripe and write it as Stripe's own
//! copy: the catalog, customers, subscriptions with `status=all` (canceled ones too), and
//! completed one-time Checkout Sessions. Each page commits with its resume point, so a run
//! killed half-way resumes where it stopped; nothing is lost or written twice.

use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use super::{Kind, Processor};
use crate::error::{ErrorBody, ErrorCode};
use crate::progress::Progress;
use crate::store::sync::{self as db, Stamp};
use crate::stripe::StripeGateway;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BackfillReport {
    #[ts(type = "number")]
    pub customers: u64,
    #[ts(type = "number")]
    pub subscriptions: u64,
    #[ts(type = "number")]
    pub purchases: u64,
    /// Appointment charges recorded in the commission ledger.
    #[ts(type = "number")]
    pub appointments: u64,
    /// A run that picked up where a killed or cancelled one stopped.
    pub resumed: bool,
    pub cancelled: bool,
}

const STAGES: [(&str, &str, Kind); 4] = [
    ("customers", "/customers", Kind::Customer),
    ("subscriptions", "/subscriptions", Kind::Subscription),
    (
        "checkout sessions",
        "/checkout/sessions",
        Kind::CheckoutSession,
    ),
    // After subscriptions: each appointment snapshots its organization's plan at the time.
    ("charges", "/charges", Kind::Charge),
];

const DONE: &str = "done";
/// The cursor row that records the last finished backfill.
pub const LAST_BACKFILL: &str = "last_backfill";

/// Stripe's notion of now: the newest event's `created`, else this machine's clock.
pub(crate) async fn stripe_now(gw: &StripeGateway) -> Result<i64, ErrorBody> {
    let page = gw.get_json("/events", &json!({"limit": 1})).await?;
    let local = crate::store::now_seconds();
    Ok(page["data"][0]["created"]
        .as_i64()
        .map_or(local, |c| c.max(local)))
}

pub async fn run(
    p: &Processor,
    gw: &StripeGateway,
    progress: &Progress,
) -> Result<BackfillReport, ErrorBody> {
    let store = p.store();
    let mut report = BackfillReport::default();
    let started = match db::cursor(store, "backfill:started").await? {
        Some((Some(at), _, _)) => {
            report.resumed = true;
            at
        }
        _ => {
            let at = stripe_now(gw).await?;
            let mut tx = store.write("backfill: start").await?;
            db::set_cursor(&mut tx, "backfill:started", Some(at), None)
                .await
                .map_err(|e| store.err(e))?;
            tx.commit().await?;
            at
        }
    };
    if db::cursor(store, "backfill:catalog").await?.is_none() {
        progress.phase("catalog", 1);
        p.reader.refresh_catalog(store).await.map_err(|e| match e {
            super::FetchError::Unreachable(m) => ErrorBody::new(ErrorCode::StripeUnreachable, m),
            super::FetchError::Failed(b) => b,
        })?;
        let mut tx = store.write("backfill: catalog").await?;
        // Rates first: the charges stage snapshots them.
        db::refresh_plan_columns(&mut tx)
            .await
            .map_err(|e| store.err(e))?;
        db::set_cursor(&mut tx, "backfill:catalog", None, Some(DONE))
            .await
            .map_err(|e| store.err(e))?;
        tx.commit().await?;
        progress.step();
    }
    for (name, path, kind) in STAGES {
        let key = format!("backfill:{name}");
        let after = match db::cursor(store, &key).await? {
            Some((_, Some(id), _)) if id == DONE => continue,
            Some((_, id, _)) => id,
            None => None,
        };
        progress.phase(name, 0);
        let query = match kind {
            Kind::Subscription => json!({"status": "all"}),
            Kind::CheckoutSession => json!({"status": "complete"}),
            Kind::Charge => json!({"expand": ["data.refunds"]}),
            _ => json!({}),
        };
        let mut pages = gw.pages(path, query, after);
        // Counted from where this run started (a resumed run says so in its report).
        let mut page = 0u64;
        loop {
            if progress.is_cancelled() {
                report.cancelled = true;
                return Ok(report);
            }
            let as_of_ms = db::now_ms();
            let Some(mut items) = pages.next().await? else {
                break;
            };
            page += 1;
            if kind == Kind::Subscription {
                // Read before the transaction, as the line items below are.
                for item in &mut items {
                    super::complete_items(gw, item).await?;
                }
            }
            if kind == Kind::CheckoutSession {
                // Only one-time payments give access; their prices are on the line items,
                // read before the transaction so no Stripe call holds the store's write lock.
                items.retain(|i| i["mode"] == "payment");
                for item in &mut items {
                    // Without line items the session's metadata still names the plan.
                    let _ = super::attach_line_items(gw, item).await;
                }
            }
            let stamp = Stamp::Confirmed {
                watermark: started,
                as_of_ms,
            };
            let mut tx = store.write("backfill: page").await?;
            for item in &items {
                let id = item["id"].as_str().unwrap_or_default();
                match p.write(&mut tx, kind, id, item, stamp, None).await {
                    Ok(_) => {}
                    Err(sqlx::Error::Protocol(why)) => {
                        // Where: which list and page, then the object and its field.
                        let why = format!("{name} page {page} (GET /v1{path}), {why}");
                        db::record_issue(&mut tx, id, "unreadable", &why, None)
                            .await
                            .map_err(|e| store.err(e))?;
                    }
                    Err(e) => return Err(store.err(e).into()),
                }
                match kind {
                    Kind::Customer => report.customers += 1,
                    Kind::Subscription => report.subscriptions += 1,
                    Kind::Charge => {
                        report.appointments += crate::ledger::Appointment::parse(item, &p.org_keys)
                            .is_ok_and(|a| a.is_some())
                            as u64
                    }
                    _ => report.purchases += super::objects::purchase(item, None).len() as u64,
                }
                progress.step();
            }
            let mark = if pages.is_done() {
                Some(DONE)
            } else {
                pages.after()
            };
            db::set_cursor(&mut tx, &key, None, mark)
                .await
                .map_err(|e| store.err(e))?;
            tx.commit().await?;
        }
    }
    // Done: the events cursor takes over from when the backfill began.
    let mut tx = store.write("backfill: finish").await?;
    db::refresh_plan_columns(&mut tx)
        .await
        .map_err(|e| store.err(e))?;
    if db::cursor(store, super::cursor::CURSOR)
        .await?
        .is_none_or(|c| c.0.is_none_or(|at| at < started))
    {
        db::set_cursor(&mut tx, super::cursor::CURSOR, Some(started), None)
            .await
            .map_err(|e| store.err(e))?;
    }
    db::delete_cursors(&mut tx, "backfill:")
        .await
        .map_err(|e| store.err(e))?;
    // When the last whole backfill finished (its updated_at): a run that waited for this one
    // joins it instead of listing everything again.
    db::set_cursor(&mut tx, LAST_BACKFILL, Some(started), None)
        .await
        .map_err(|e| store.err(e))?;
    tx.commit().await?;
    progress.finish();
    Ok(report)
}
