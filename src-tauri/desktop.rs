//! What only the window does: the scheduled events cursor while the app runs, and opening
//! Stripe Dashboard pages in the browser.

use std::time::Duration;

use tauri::Manager;
use tollgate_core::{ErrorBody, ErrorCode};

use crate::AppState;

/// Seconds between two scheduled syncs: `TOLLGATE_SYNC_INTERVAL_SECS`, 60 by default; 0 turns
/// the schedule off.
fn sync_interval() -> Option<Duration> {
    let secs = std::env::var("TOLLGATE_SYNC_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(60);
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Reads Stripe's events from the checkpoint on a schedule, so webhooks that never arrived
/// are picked up while the app is open. A turn is skipped while another sync runs, without a
/// key, and before the first sync (see `Console::sync_scheduled`).
pub fn schedule_sync(app: &tauri::AppHandle) {
    let Some(every) = sync_interval() else {
        return;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate: the screens load first
        loop {
            tick.tick().await;
            let state = app.state::<AppState>();
            match state.console.sync_scheduled().await {
                Some(Ok(r)) => tracing::info!(
                    new_events = r.cursor.as_ref().map(|c| c.new).unwrap_or(0),
                    ms = r.elapsed_ms,
                    "scheduled sync"
                ),
                Some(Err(e)) => tracing::warn!(error = %e.message, "scheduled sync failed"),
                None => {}
            }
        }
    });
}

/// Compacts the event ledger once a day while the app runs (the first check a minute after
/// start, then hourly; it runs when the last compaction is a day old or more).
pub fn schedule_compaction(app: &tauri::AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let state = app.state::<AppState>();
            match state.console.db_compact_if_due().await {
                Some(Ok(r)) => tracing::info!(
                    compacted = r.compacted,
                    bytes_before = r.bytes_before,
                    bytes_after = r.bytes_after,
                    "daily ledger compaction"
                ),
                Some(Err(e)) => {
                    tracing::warn!(error = %e.message, "daily ledger compaction failed")
                }
                None => {}
            }
        }
    });
}

/// Opens `url` in the default browser if it is a Stripe Dashboard page; nothing else.
pub fn open_dashboard(url: &str) -> Result<(), ErrorBody> {
    if !url.starts_with("https://dashboard.stripe.com/") || url.chars().any(char::is_whitespace) {
        return Err(ErrorBody {
            code: ErrorCode::InvalidInput,
            message: "url: only https://dashboard.stripe.com/ pages are opened".into(),
            field: Some("url".into()),
        });
    }
    open::that_detached(url).map_err(|e| {
        ErrorBody::new(
            ErrorCode::Internal,
            format!("the browser could not be opened: {e}"),
        )
    })
}
