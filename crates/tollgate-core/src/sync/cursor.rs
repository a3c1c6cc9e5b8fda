//! The events cursor: `GET /v1/events` from the last processed position, so missed webhooks
//! are picked up. It reads with an overlap (`created` from the checkpoint minus a margin, each
//! event deduplicated by id in the ledger), because Stripe stamps whole seconds and an event
//! of an already-read second can become visible late. Events go through the same door as
//! webhooks, oldest first; the checkpoint advances only after they are recorded.

use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use super::{Event, Processor};
use crate::error::{ErrorBody, ErrorCode};
use crate::progress::Progress;
use crate::store::sync as db;
use crate::stripe::StripeGateway;

pub const CURSOR: &str = "events";
/// How far before the checkpoint each read starts.
pub const OVERLAP_SECONDS: i64 = 300;
/// Stripe lists events of the last 30 days; warn well before the cursor falls out of them.
pub const RETENTION_SECONDS: i64 = 30 * 86400;
pub const WARN_AFTER_SECONDS: i64 = 25 * 86400;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CursorReport {
    /// Events listed in the window (overlap included).
    #[ts(type = "number")]
    pub read: u64,
    #[ts(type = "number")]
    pub new: u64,
    #[ts(type = "number")]
    pub duplicate: u64,
    /// The checkpoint before and after, Stripe seconds.
    #[ts(type = "number")]
    pub from: i64,
    #[ts(type = "number")]
    pub to: i64,
    pub warning: Option<String>,
    pub cancelled: bool,
}

/// What the checkpoint's age means against Stripe's 30-day retention.
pub fn retention_warning(checkpoint: i64, now: i64) -> Option<String> {
    let age = now.saturating_sub(checkpoint);
    let days = age / 86400;
    if age > RETENTION_SECONDS {
        Some(format!("the events cursor is {days} days old, beyond the 30 days Stripe keeps events: events may have been missed; run `tollgate sync --full`"))
    } else if age > WARN_AFTER_SECONDS {
        Some(format!("the events cursor is {days} days old; Stripe keeps events for 30 days, so sync within {} days or run `tollgate sync --full`", (RETENTION_SECONDS - age) / 86400))
    } else {
        None
    }
}

pub async fn run(
    p: &Processor,
    gw: &StripeGateway,
    progress: &Progress,
) -> Result<CursorReport, ErrorBody> {
    let store = p.store();
    let Some((Some(checkpoint), _, _)) = db::cursor(store, CURSOR).await? else {
        return Err(ErrorBody::new(
            ErrorCode::NotFound,
            "no events checkpoint yet: run a full sync (`tollgate sync --full`) first",
        ));
    };
    let from = checkpoint.saturating_sub(OVERLAP_SECONDS);
    let mut report = CursorReport {
        from: checkpoint,
        to: checkpoint,
        ..Default::default()
    };
    progress.phase("events", 0);
    // Pages go through the door as they arrive, a thousand events to a transaction (see
    // `Batch`): a run holds at most that many in memory, however long the app was away.
    // Stripe lists newest first; the checkpoint moves only after the last page, so a run cut
    // short is read again whole and its duplicates are no-ops.
    let mut newest: Option<(i64, String)> = None;
    let mut door = p.batch("cursor");
    let mut pages = gw.pages("/events", json!({"created": {"gte": from}}), None);
    loop {
        if progress.is_cancelled() {
            // What was read is recorded; the checkpoint stays.
            let (_, c) = door.finish().await?;
            report.new += c.new;
            report.duplicate += c.duplicate;
            report.cancelled = true;
            return Ok(report);
        }
        let Some(items) = pages.next().await? else {
            break;
        };
        let mut events: Vec<Event> = Vec::with_capacity(items.len());
        for item in &items {
            match Event::from_value(item, item.to_string()) {
                Ok(e) => events.push(e),
                Err(e) => tracing::warn!(error = %e, "listed event not recorded"),
            }
        }
        // Same-second ties in id order, so reruns write identically.
        events.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        report.read += events.len() as u64;
        progress.set_total(report.read);
        if let Some(last) = events.last() {
            if newest
                .as_ref()
                .is_none_or(|(t, id)| (last.created, &last.id) > (*t, id))
            {
                newest = Some((last.created, last.id.clone()));
            }
        }
        for _ in 0..door.push(events).await? {
            progress.step();
        }
    }
    let (n, c) = door.finish().await?;
    for _ in 0..n {
        progress.step();
    }
    report.new += c.new;
    report.duplicate += c.duplicate;
    report.to = newest
        .as_ref()
        .map_or(checkpoint, |(n, _)| (*n).max(checkpoint));
    let mut tx = store.write("events cursor: checkpoint").await?;
    db::set_cursor(
        &mut tx,
        CURSOR,
        Some(report.to),
        newest.as_ref().map(|(_, id)| id.as_str()),
    )
    .await
    .map_err(|e| store.err(e))?;
    tx.commit().await?;
    // Stripe's clock: the newest event, else this machine's (the sandbox's may run ahead).
    let local = crate::store::now_seconds();
    report.warning = retention_warning(checkpoint, newest.map_or(local, |(n, _)| n.max(local)));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_warns_before_stripe_forgets() {
        let day = 86400;
        assert_eq!(retention_warning(0, 10 * day), None);
        assert!(retention_warning(0, 26 * day)
            .unwrap()
            .contains("within 4 days"));
        assert!(retention_warning(0, 31 * day)
            .unwrap()
            .contains("may have been missed"));
    }
}
