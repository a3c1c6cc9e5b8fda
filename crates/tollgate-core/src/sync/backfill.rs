//! Backfill: list everything the projections need from Stripe and write it as Stripe's own
//! copy: the catalog, customers, subscriptions with `status=all` (canceled ones too), and
//! completed one-time Checkout Sessions. Each page commits with its resume point, so a run
//! killed half-way resumes where it stopped; nothing is lost or written twice.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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
    /// A run that picked up where a killed or cancelled one stopped.
    pub resumed: bool,
    pub cancelled: bool,
}

const STAGES: [(&str, &str, Kind); 3] = [
    ("customers", "/customers", Kind::Customer),
    ("subscriptions", "/subscriptions", Kind::Subscription),
    (
        "checkout sessions",
        "/checkout/sessions",
        Kind::CheckoutSession,
    ),
];

const DONE: &str = "done";

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
            let mut tx = store.pool().begin().await.map_err(|e| store.err(e))?;
            db::set_cursor(&mut tx, "backfill:started", Some(at), None)
                .await
                .map_err(|e| store.err(e))?;
            tx.commit().await.map_err(|e| store.err(e))?;
            at
        }
    };
    if db::cursor(store, "backfill:catalog").await?.is_none() {
        progress.phase("catalog", 1);
        p.reader.refresh_catalog(store).await.map_err(|e| match e {
            super::FetchError::Unreachable(m) => ErrorBody::new(ErrorCode::StripeUnreachable, m),
            super::FetchError::Failed(b) => b,
        })?;
        let mut tx = store.pool().begin().await.map_err(|e| store.err(e))?;
        db::set_cursor(&mut tx, "backfill:catalog", None, Some(DONE))
            .await
            .map_err(|e| store.err(e))?;
        tx.commit().await.map_err(|e| store.err(e))?;
        progress.step();
    }
    for (name, path, kind) in STAGES {
        let key = format!("backfill:{name}");
        let mut after = match db::cursor(store, &key).await? {
            Some((_, Some(id), _)) if id == DONE => continue,
            Some((_, id, _)) => id,
            None => None,
        };
        progress.phase(name, 0);
        loop {
            if progress.is_cancelled() {
                report.cancelled = true;
                return Ok(report);
            }
            let mut q = json!({"limit": 100});
            match kind {
                Kind::Subscription => q["status"] = json!("all"),
                Kind::CheckoutSession => q["status"] = json!("complete"),
                _ => {}
            }
            if let Some(a) = &after {
                q["starting_after"] = json!(a);
            }
            let as_of_ms = db::now_ms();
            let page = gw.get_json(path, &q).await?;
            let items: Vec<Value> = page["data"].as_array().cloned().unwrap_or_default();
            let stamp = Stamp::Confirmed {
                watermark: started,
                as_of_ms,
            };
            let mut tx = store.pool().begin().await.map_err(|e| store.err(e))?;
            for item in &items {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                let mut v = item.clone();
                if kind == Kind::CheckoutSession {
                    if item["mode"] != "payment" {
                        continue;
                    }
                    let lines = gw
                        .get_json(
                            &format!("/checkout/sessions/{id}/line_items"),
                            &json!({"limit": 100}),
                        )
                        .await;
                    if let Ok(lines) = lines {
                        v["line_items"] = lines;
                    }
                }
                match p.write(&mut tx, kind, &id, &v, stamp, None).await {
                    Ok(_) => {}
                    Err(sqlx::Error::Protocol(why)) => {
                        db::record_issue(&mut tx, &id, "unreadable", &why, None)
                            .await
                            .map_err(|e| store.err(e))?;
                    }
                    Err(e) => return Err(store.err(e).into()),
                }
                match kind {
                    Kind::Customer => report.customers += 1,
                    Kind::Subscription => report.subscriptions += 1,
                    _ => report.purchases += super::objects::purchase(&v, None).len() as u64,
                }
                progress.step();
            }
            let more = page["has_more"].as_bool().unwrap_or(false) && !items.is_empty();
            after = items
                .last()
                .and_then(|i| i["id"].as_str())
                .map(str::to_owned);
            let mark = if more { after.as_deref() } else { Some(DONE) };
            db::set_cursor(&mut tx, &key, None, mark)
                .await
                .map_err(|e| store.err(e))?;
            tx.commit().await.map_err(|e| store.err(e))?;
            if !more {
                break;
            }
        }
    }
    // Done: the events cursor takes over from when the backfill began.
    let mut tx = store.pool().begin().await.map_err(|e| store.err(e))?;
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
    tx.commit().await.map_err(|e| store.err(e))?;
    progress.finish();
    Ok(report)
}
