//! The console's sync, subscriptions and access services: what the Subscriptions and Access
//! screens and `tollgate sync|subscriptions|access|webhooks` call.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use ts_rs::TS;

use super::Console;
use crate::access::{self, AccessStatus};
use crate::domain::InputError;
use crate::error::{ErrorBody, ErrorCode};
use crate::store::sync as db;
use crate::store::sync_views::{
    AccessPage, AccessQuery, OrgDetail, SubscriptionPage, SubscriptionQuery, SubscriptionRow,
    SyncState,
};
use crate::store::Store;
use crate::stripe::StripeGateway;
use crate::sync::backfill::BackfillReport;
use crate::sync::cursor::CursorReport;
use crate::sync::receiver::{Receiver, ReceiverStats};
use crate::sync::{GatewayReader, Kind, Processor, SettleReport, DEFAULT_ORG_KEYS};

/// The progress id of the app's scheduled sync, for the screens to show it.
pub const SCHEDULED_SYNC_OP: &str = "scheduled-sync";

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
pub struct SyncReport {
    /// This run waited for another sync of the store: whose.
    pub waited_for: Option<String>,
    /// It then skipped its own backfill: the one it waited for had just listed everything.
    pub joined: bool,
    /// Objects the mirror leaves out after this run (unreadable, or with a value Tollgate
    /// does not know): each is a sync issue, and the next sync tries it again.
    #[ts(type = "number")]
    pub skipped: u64,
    pub backfill: Option<BackfillReport>,
    pub cursor: Option<CursorReport>,
    pub settle: SettleReport,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DriftItem {
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    /// The subscription (or, for access, the plan) that differs.
    pub object_id: String,
    /// `status`, `price`, `missing_in_store`, `missing_in_stripe` or `access`.
    pub field: String,
    pub store: Option<String>,
    pub stripe: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DriftReport {
    #[ts(type = "number")]
    pub checked_subscriptions: u64,
    pub items: Vec<DriftItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ReceiverStatus {
    pub running: bool,
    pub url: Option<String>,
    #[ts(type = "number")]
    pub secrets: u64,
    pub stats: Option<ReceiverStats>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    Grant,
    Revoke,
    /// Removes a manual override: access follows Stripe again.
    Clear,
}

/// The receiver the app runs, with the settle task its events wake.
pub(crate) struct RunningReceiver {
    receiver: Receiver,
    settler: tokio::task::JoinHandle<()>,
    settle: Arc<SettleStats>,
    gateway: Arc<StripeGateway>,
}

/// How the settle task has fared, for the receiver's status.
#[derive(Default)]
pub struct SettleStats {
    runs: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
    panics: std::sync::atomic::AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl SettleStats {
    fn fold_into(&self, s: &mut ReceiverStats) {
        use std::sync::atomic::Ordering::Relaxed;
        s.settle_runs = self.runs.load(Relaxed);
        s.settle_failures = self.failures.load(Relaxed);
        s.panics += self.panics.load(Relaxed);
        s.settle_last_error = self.last_error.lock().expect("settle stats").clone();
    }

    fn failed(&self, why: String) {
        self.failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.last_error.lock().expect("settle stats") = Some(why);
    }
}

impl Console {
    /// The customer metadata keys that name an organization: `TOLLGATE_ORG_METADATA_KEYS`
    /// (comma-separated, tried in order), else `organization_id, organizationId, companyId`.
    pub fn org_keys(&self) -> Vec<String> {
        std::env::var("TOLLGATE_ORG_METADATA_KEYS")
            .ok()
            .map(|v| {
                v.split(',')
                    .map(|k| k.trim().to_owned())
                    .filter(|k| !k.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_ORG_KEYS.iter().map(|k| k.to_string()).collect())
    }

    pub async fn processor(&self) -> Result<Processor, ErrorBody> {
        Ok(self.processor_and_gateway().await?.0)
    }

    /// The processor and the gateway it reads through, one HTTP client for both.
    async fn processor_and_gateway(&self) -> Result<(Processor, Arc<StripeGateway>), ErrorBody> {
        self.processor_waiting(crate::stripe::Patience::interactive())
            .await
    }

    /// The same, its Stripe reads waiting and retrying as `patience` says.
    async fn processor_waiting(
        &self,
        patience: crate::stripe::Patience,
    ) -> Result<(Processor, Arc<StripeGateway>), ErrorBody> {
        let store = self.store().await?;
        let gw = Arc::new(self.gateway()?.with_patience(patience));
        let p = Processor::new(store, Arc::new(GatewayReader(gw.clone())), self.org_keys());
        Ok((p, gw))
    }

    /// `full`, or no checkpoint yet: backfill first. Then the events cursor, then reads of
    /// everything the events touched.
    pub async fn sync(&self, full: bool, op: Option<&str>) -> Result<SyncReport, ErrorBody> {
        let _one_at_a_time = self.syncing.lock().await;
        // None: cancelled while it waited for another process's sync.
        Ok(self.sync_locked(full, op, true).await?.unwrap_or_default())
    }

    /// The app's scheduled run of the events cursor. Skips its turn (None) while another sync
    /// runs (in this process or another: it never waits, so a sync the user asks for never
    /// queues behind a timer's), without a Stripe key, and before the first sync: a full
    /// backfill of a real account is the user's decision, not a timer's. Progress under
    /// [`SCHEDULED_SYNC_OP`].
    pub async fn sync_scheduled(&self) -> Option<Result<SyncReport, ErrorBody>> {
        let _one_at_a_time = self.syncing.try_lock().ok()?;
        self.stripe_key().ok()?;
        let state = self.sync_state().await.ok()?;
        if state.checkpoint.is_none() || state.backfill_pending {
            return None;
        }
        self.sync_locked(false, Some(SCHEDULED_SYNC_OP), false)
            .await
            .transpose()
    }

    /// `Ok(None)`: not run (cancelled while waiting for another process's sync, or, with
    /// `wait` false, another is running).
    async fn sync_locked(
        &self,
        full: bool,
        op: Option<&str>,
        wait: bool,
    ) -> Result<Option<SyncReport>, ErrorBody> {
        let start = std::time::Instant::now();
        let progress = self.progress_for(op);
        // 429s never end a sync: it waits (the progress says so) until Cancel.
        let (p, gw) = self
            .processor_waiting(crate::stripe::Patience::sync(Arc::new(progress.clone())))
            .await?;
        let mut report = SyncReport::default();
        let asked_at = crate::store::now_seconds();
        // One backfill-and-cursor run of this store at a time, across processes.
        let said = |h: &crate::sync::lease::Holder| {
            progress.phase(
                format!("waiting: another sync of this store is running, {h}"),
                0,
            )
        };
        let is_cancelled = || progress.is_cancelled();
        let lease = match crate::sync::lease::acquire(
            p.store(),
            crate::sync::lease::SYNC,
            wait,
            &said,
            &is_cancelled,
        )
        .await
        {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                progress.finish();
                return Ok(None);
            }
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        };
        report.waited_for = lease.waited_for.as_ref().map(|h| h.to_string());
        let waited = lease.waited_for.is_some();
        let listed = self
            .backfill_and_cursor(&p, &gw, full, asked_at, waited, &progress, &mut report)
            .await;
        lease.release().await;
        // Reading what changed holds a lease of its own (Processor::settle), so another
        // process's sync can list events meanwhile.
        let result = match listed {
            Ok(true) => {
                progress.phase("reading changed objects", 0);
                let pr = progress.clone();
                p.settle(&move || pr.is_cancelled()).await.map(|s| {
                    tracing::info!(
                        confirmed = s.confirmed,
                        ms = start.elapsed().as_millis() as u64,
                        "sync: changed objects read"
                    );
                    report.settle = s;
                })
            }
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        progress.finish();
        result?;
        report.skipped = p.store().skipped_count().await?;
        report.elapsed_ms = start.elapsed().as_millis() as u64;
        Ok(Some(report))
    }

    /// The backfill (when `full`, or none has finished) and the events cursor, under the sync
    /// lease. False when cancelled.
    #[allow(clippy::too_many_arguments)]
    async fn backfill_and_cursor(
        &self,
        p: &Processor,
        gw: &StripeGateway,
        full: bool,
        asked_at: i64,
        waited: bool,
        progress: &crate::progress::Progress,
        report: &mut SyncReport,
    ) -> Result<bool, ErrorBody> {
        let start = std::time::Instant::now();
        let state = p.store().sync_state().await?;
        // The run this one waited for listed everything after it was asked for: join it.
        report.joined = waited
            && !state.backfill_pending
            && db::cursor(p.store(), crate::sync::backfill::LAST_BACKFILL)
                .await?
                .is_some_and(|(_, _, finished)| finished >= asked_at);
        // Each step's end is logged with its time, so a sync that stalls says where.
        if !report.joined && (full || state.checkpoint.is_none() || state.backfill_pending) {
            tracing::info!(full, "sync: backfill started");
            let b = match crate::sync::backfill::run(p, gw, progress).await {
                // Cancelled while waiting for Stripe (its rate limit, a retry): where it got
                // to is kept, and the next run resumes there.
                Err(e) if e.code == ErrorCode::Cancelled => crate::sync::backfill::BackfillReport {
                    cancelled: true,
                    ..Default::default()
                },
                r => r?,
            };
            tracing::info!(
                customers = b.customers,
                subscriptions = b.subscriptions,
                ms = start.elapsed().as_millis() as u64,
                "sync: backfill done"
            );
            let cancelled = b.cancelled;
            report.backfill = Some(b);
            if cancelled {
                return Ok(false);
            }
        }
        let c = match crate::sync::cursor::run(p, gw, progress).await {
            Err(e) if e.code == ErrorCode::Cancelled => crate::sync::cursor::CursorReport {
                cancelled: true,
                ..Default::default()
            },
            r => r?,
        };
        tracing::info!(
            read = c.read,
            new = c.new,
            ms = start.elapsed().as_millis() as u64,
            "sync: events cursor done"
        );
        let cancelled = c.cancelled;
        report.cursor = Some(c);
        Ok(!cancelled)
    }

    pub async fn sync_state(&self) -> Result<SyncState, ErrorBody> {
        Ok(self.store().await?.sync_state().await?)
    }

    pub async fn subscriptions(
        &self,
        q: &SubscriptionQuery,
    ) -> Result<SubscriptionPage, ErrorBody> {
        check_query(q)?;
        Ok(self.store().await?.subscriptions_page(q).await?)
    }

    /// The filtered, sorted view as CSV.
    /// Every row the filter matches, sorted (export, and the CLI without `--limit`).
    pub async fn subscriptions_all(
        &self,
        q: &SubscriptionQuery,
    ) -> Result<Vec<SubscriptionRow>, ErrorBody> {
        check_query(q)?;
        Ok(self.store().await?.subscriptions_all(q).await?)
    }

    pub async fn subscriptions_csv(&self, q: &SubscriptionQuery) -> Result<String, ErrorBody> {
        Ok(subscriptions_csv(&self.subscriptions_all(q).await?))
    }

    /// Writes the CSV into the downloads folder (else the home folder); returns the path.
    pub async fn subscriptions_export(&self, q: &SubscriptionQuery) -> Result<String, ErrorBody> {
        let csv = self.subscriptions_csv(q).await?;
        let dir = dirs::download_dir()
            .or_else(dirs::home_dir)
            .unwrap_or_else(std::env::temp_dir);
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let path = dir.join(format!(
            "tollgate-subscriptions-{}-{stamp}.csv",
            self.environment().as_str()
        ));
        std::fs::write(&path, csv).map_err(|e| {
            ErrorBody::new(
                ErrorCode::Internal,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        Ok(path.display().to_string())
    }

    pub async fn org_detail(&self, org: &str) -> Result<OrgDetail, ErrorBody> {
        self.store()
            .await?
            .org_detail(org)
            .await?
            .ok_or_else(|| no_org(org))
    }

    pub async fn access(&self, q: &AccessQuery) -> Result<AccessPage, ErrorBody> {
        if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
            if AccessStatus::parse(&s.to_uppercase()).is_none() {
                return Err(
                    InputError::new("status", "must be ACTIVE, PAST_DUE or CANCELED").into(),
                );
            }
        }
        Ok(self.store().await?.access_page(q).await?)
    }

    /// A manual grant or revoke (or clearing one), with the reason in the audit log.
    pub async fn access_override(
        &self,
        org: &str,
        plan: &str,
        action: AccessAction,
        reason: &str,
    ) -> Result<OrgDetail, ErrorBody> {
        let reason = reason.trim();
        if reason.chars().count() < 3 {
            return Err(
                InputError::new("reason", "is required: say why (at least 3 characters)").into(),
            );
        }
        if !plan.starts_with("price_") {
            return Err(InputError::new("plan", "must be a Stripe price id (price_…)").into());
        }
        let store = self.store().await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_optional(store.pool())
            .await
            .map_err(|e| store.err(e))?;
        if known.is_none() {
            return Err(no_org(org));
        }
        let status = match action {
            AccessAction::Grant => Some(AccessStatus::Active),
            AccessAction::Revoke => Some(AccessStatus::Canceled),
            AccessAction::Clear => None,
        };
        let mut tx = store.write("access override").await?;
        db::set_override(&mut tx, org, plan, status, reason, &self.os_user)
            .await
            .map_err(|e| store.err(e))?;
        tx.commit().await?;
        let name = match action {
            AccessAction::Grant => "access.grant",
            AccessAction::Revoke => "access.revoke",
            AccessAction::Clear => "access.clear_override",
        };
        self.audit(
            name,
            Some(format!("{org} / {plan}")),
            json!({"org": org, "plan": plan, "reason": reason}),
            vec![plan.to_owned()],
        )
        .await;
        self.org_detail(org).await
    }

    /// Compares the store with Stripe now: every subscription's status and price, and access
    /// that Stripe's state would not give.
    pub async fn access_drift(&self, op: Option<&str>) -> Result<DriftReport, ErrorBody> {
        let progress = self.progress_for(op);
        let store = self.store().await?;
        let gw = self
            .gateway()?
            .with_patience(crate::stripe::Patience::sync(Arc::new(progress.clone())));
        progress.phase("listing subscriptions", 0);
        let mut stripe: HashMap<String, crate::sync::objects::Subscription> = HashMap::new();
        let mut pages = gw.pages("/subscriptions", json!({"status": "all"}), None);
        loop {
            if progress.is_cancelled() {
                progress.finish();
                return Err(ErrorBody::new(ErrorCode::Internal, "drift check cancelled"));
            }
            let Some(items) = pages.next().await? else {
                break;
            };
            for mut it in items {
                // Every item, as the store has them (Stripe lists the first ten).
                crate::sync::complete_items(&gw, &mut it).await?;
                if let Ok(s) = crate::sync::objects::Subscription::parse(&it) {
                    stripe.insert(s.id.clone(), s);
                    progress.step();
                }
            }
        }
        progress.finish();
        let items = drift(&store, &stripe).await?;
        Ok(DriftReport {
            checked_subscriptions: stripe.len() as u64,
            items,
        })
    }

    /// Marks an organization's customers and subscriptions dirty and reads them again.
    pub async fn resync_org(&self, org: &str) -> Result<OrgDetail, ErrorBody> {
        let (p, gw) = self.processor_and_gateway().await?;
        let store = p.store();
        let e = |e| store.err(e);
        let customers: Vec<String> =
            sqlx::query_scalar("SELECT stripe_id FROM customers WHERE org_id = $1")
                .bind(org)
                .fetch_all(store.pool())
                .await
                .map_err(e)?;
        if customers.is_empty() {
            return Err(no_org(org));
        }
        let mut subs: std::collections::BTreeSet<String> = sqlx::query_scalar(
            "SELECT stripe_subscription_id FROM org_subscriptions WHERE org_id = $1",
        )
        .bind(org)
        .fetch_all(store.pool())
        .await
        .map_err(e)?
        .into_iter()
        .collect();
        // Subscriptions the store may not have yet, too; read before the transaction, so no
        // Stripe call holds the store's write lock.
        for c in &customers {
            let mut pages = gw.pages(
                "/subscriptions",
                json!({"customer": c, "status": "all"}),
                None,
            );
            while let Some(items) = pages.next().await? {
                subs.extend(
                    items
                        .iter()
                        .filter_map(|s| s["id"].as_str().map(str::to_owned)),
                );
            }
        }
        let mut tx = store.write("resync organization").await?;
        for c in &customers {
            db::mark_dirty(&mut tx, Kind::Customer, c, 0)
                .await
                .map_err(e)?;
            db::mark_dirty(&mut tx, Kind::Entitlements, c, 0)
                .await
                .map_err(e)?;
        }
        for id in &subs {
            db::mark_dirty(&mut tx, Kind::Subscription, id, 0)
                .await
                .map_err(e)?;
        }
        tx.commit().await?;
        p.settle(&|| false).await?;
        self.audit(
            "sync.resync_org",
            Some(org.to_owned()),
            json!({"customers": customers}),
            customers.clone(),
        )
        .await;
        self.org_detail(org).await
    }

    // ---- webhook receiver --------------------------------------------------------------

    /// Starts (or restarts on another port) the app's receiver, with a task that reads what
    /// each recorded event touched.
    pub async fn receiver_start(&self, port: u16) -> Result<ReceiverStatus, ErrorBody> {
        self.receiver_stop().await;
        let secrets: Vec<_> = self
            .webhook_secrets()?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        if secrets.is_empty() {
            return Err(InputError::new("webhook_secret", "add a webhook signing secret (whsec_…) in Settings first: without one no delivery can be verified").into());
        }
        let (p, gw) = self
            .processor_waiting(crate::stripe::Patience::settle())
            .await?;
        let notify = Arc::new(tokio::sync::Notify::new());
        let receiver = Receiver::start(p.clone(), secrets, port, notify.clone())
            .await
            .map_err(|e| ErrorBody {
                code: ErrorCode::InvalidInput,
                message: format!("cannot listen on 127.0.0.1:{port}: {e}"),
                field: Some("port".into()),
            })?;
        let settle = Arc::new(SettleStats::default());
        let settler = tokio::spawn(settle_loop(p, notify, settle.clone()));
        *self.receiver.lock().await = Some(RunningReceiver {
            receiver,
            settler,
            settle,
            gateway: gw,
        });
        Ok(self.receiver_status().await)
    }

    pub async fn receiver_stop(&self) {
        if let Some(r) = self.receiver.lock().await.take() {
            r.settler.abort();
            r.receiver.stop().await;
        }
    }

    pub async fn receiver_status(&self) -> ReceiverStatus {
        let secrets = self.webhook_secrets().map(|s| s.len() as u64).unwrap_or(0);
        match &*self.receiver.lock().await {
            Some(r) => ReceiverStatus {
                running: true,
                url: Some(format!("http://{}/webhook", r.receiver.addr)),
                secrets,
                stats: Some({
                    let mut s = r.receiver.stats();
                    r.settle.fold_into(&mut s);
                    s.stripe_rate = Some(r.gateway.rate_status());
                    s
                }),
            },
            None => ReceiverStatus {
                running: false,
                url: None,
                secrets,
                stats: None,
            },
        }
    }
}

/// After an event, settle waits this long for the stream to pause…
pub const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_millis(200);
/// …but never longer than this after the first event it waits for, so a steady stream settles.
pub const SETTLE_MAX_DELAY: std::time::Duration = std::time::Duration::from_millis(1000);

/// Reads what recorded events touched, each time the receiver records one, and every 30 s so
/// an offline stretch is retried. Coalesced: after an event it waits for a pause in the stream
/// ([`SETTLE_QUIET`], at most [`SETTLE_MAX_DELAY`]), so an object many events of a burst touch
/// is read once, after them. A failed run is counted and retried on the next; a panic in a run
/// is caught, counted and recorded as a sync issue, and the loop goes on.
pub async fn settle_loop(p: Processor, notify: Arc<tokio::sync::Notify>, stats: Arc<SettleStats>) {
    use futures_util::FutureExt;
    use std::sync::atomic::Ordering::Relaxed;
    loop {
        let woken =
            tokio::time::timeout(std::time::Duration::from_secs(30), notify.notified()).await;
        if woken.is_ok() {
            let first = std::time::Instant::now();
            loop {
                let left = SETTLE_MAX_DELAY.saturating_sub(first.elapsed());
                if left.is_zero()
                    || tokio::time::timeout(SETTLE_QUIET.min(left), notify.notified())
                        .await
                        .is_err()
                {
                    break;
                }
            }
        }
        stats.runs.fetch_add(1, Relaxed);
        match std::panic::AssertUnwindSafe(p.settle(&|| false))
            .catch_unwind()
            .await
        {
            Ok(Ok(r)) if r.offline.is_some() => {
                tracing::warn!(offline = ?r.offline, "Stripe unreachable: payloads applied under the watermark")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e.message, "settle failed");
                stats.failed(e.message);
            }
            Err(panic) => {
                let why = crate::sync::panic_message(&*panic);
                tracing::error!(%why, "settle: panic caught");
                stats.panics.fetch_add(1, Relaxed);
                stats.failed(format!("panic: {why}"));
                let detail = format!("reading changed objects panicked: {why}");
                if let Err(e) = db::record_panic(p.store(), "settle", &detail).await {
                    tracing::error!(error = %e, "the panic could not be recorded as a sync issue");
                }
                // The dirty marks are still there: the next run tries them again.
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn no_org(org: &str) -> ErrorBody {
    InputError::new("org", format!("no organization {org:?} in the store")).into()
}

fn check_query(q: &SubscriptionQuery) -> Result<(), ErrorBody> {
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        if !crate::sync::objects::STATUSES.contains(&s) {
            return Err(InputError::new(
                "status",
                format!(
                    "must be one of {}",
                    crate::sync::objects::STATUSES.join(", ")
                ),
            )
            .into());
        }
    }
    if let Some(sort) = q.sort.as_deref().filter(|s| !s.is_empty()) {
        if !crate::store::sync_views::sort_columns().any(|c| c == sort) {
            return Err(InputError::new(
                "sort",
                format!(
                    "{sort:?} is not a column to sort by: use one of {}",
                    crate::store::sync_views::sort_columns()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into());
        }
    }
    if let Some(i) = q.interval.as_deref().filter(|s| !s.is_empty()) {
        if !["day", "week", "month", "year"].contains(&i) {
            return Err(InputError::new("interval", "must be day, week, month or year").into());
        }
    }
    if let Some(c) = q.currency.as_deref().filter(|s| !s.is_empty()) {
        crate::domain::Currency::parse("currency", c)?;
    }
    if q.limit < 0 || q.offset < 0 {
        return Err(InputError::new(
            if q.limit < 0 { "limit" } else { "offset" },
            "must not be negative",
        )
        .into());
    }
    Ok(())
}

pub fn subscriptions_csv(rows: &[SubscriptionRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "organization_id",
        "organization",
        "email",
        "customer_id",
        "subscription_id",
        "price_id",
        "tier",
        "plan_type",
        "interval",
        "status",
        "amount_minor",
        "currency",
        "amount",
        "current_period_end",
        "cancel_at_period_end",
        "entitlements",
    ]);
    for r in rows {
        let period_end = r
            .current_period_end
            .map(crate::domain::iso_utc)
            .unwrap_or_default();
        let _ = w.write_record([
            r.org_id.clone().unwrap_or_default(),
            r.org_name.clone().unwrap_or_default(),
            r.email.clone().unwrap_or_default(),
            r.customer_id.clone(),
            r.subscription_id.clone(),
            r.price_id.clone().unwrap_or_default(),
            r.tier.clone().unwrap_or_default(),
            r.plan_type.clone().unwrap_or_default(),
            r.interval.clone().unwrap_or_default(),
            r.status.clone(),
            r.amount.map(|a| a.to_string()).unwrap_or_default(),
            r.currency.clone().unwrap_or_default().to_uppercase(),
            r.amount_text(),
            period_end,
            r.cancel_at_period_end.to_string(),
            r.entitlements.join(" "),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

async fn drift(
    store: &Store,
    stripe: &HashMap<String, crate::sync::objects::Subscription>,
) -> Result<Vec<DriftItem>, ErrorBody> {
    let e = |x| store.err(x);
    let mut items = Vec::new();
    let rows = sqlx::query("SELECT stripe_subscription_id, subscription_status, stripe_price_id, org_id, org_name FROM org_subscriptions").fetch_all(store.pool()).await.map_err(e)?;
    let mut held: HashMap<String, (String, Option<String>, Option<String>, Option<String>)> =
        HashMap::new();
    for r in rows {
        held.insert(
            r.try_get(0).map_err(e)?,
            (
                r.try_get(1).map_err(e)?,
                r.try_get(2).map_err(e)?,
                r.try_get(3).map_err(e)?,
                r.try_get(4).map_err(e)?,
            ),
        );
    }
    let customers: HashMap<String, (String, String)> = sqlx::query("SELECT c.stripe_id, c.org_id, o.name FROM customers c JOIN organizations o ON o.id = c.org_id")
        .fetch_all(store.pool())
        .await
        .map_err(e)?
        .iter()
        .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(e)?;
    let item = |org: Option<&(String, String)>,
                object: &str,
                field: &str,
                store: Option<String>,
                stripe: Option<String>| DriftItem {
        org_id: org.map(|o| o.0.clone()),
        org_name: org.map(|o| o.1.clone()),
        object_id: object.to_owned(),
        field: field.to_owned(),
        store,
        stripe,
    };
    for (id, s) in stripe {
        let org = customers.get(&s.customer);
        let price = s.price().map(|i| i.price.clone());
        match held.get(id) {
            None => items.push(item(
                org,
                id,
                "missing_in_store",
                None,
                Some(s.status.clone()),
            )),
            Some((status, p, _, _)) => {
                if *status != s.status {
                    items.push(item(
                        org,
                        id,
                        "status",
                        Some(status.clone()),
                        Some(s.status.clone()),
                    ));
                }
                if *p != price {
                    items.push(item(org, id, "price", p.clone(), price.clone()));
                }
            }
        }
    }
    for (id, (status, _, org, name)) in &held {
        if !stripe.contains_key(id) {
            let o = org.clone().zip(name.clone());
            items.push(item(
                o.as_ref(),
                id,
                "missing_in_stripe",
                Some(status.clone()),
                None,
            ));
        }
    }
    // Access as Stripe's state gives it, against the store's rows.
    let mut subs_by_org: BTreeMap<String, Vec<access::SubFacts>> = BTreeMap::new();
    // Plans whose access a status this version does not know leaves as it was: not compared.
    let mut unknown: std::collections::BTreeSet<(String, String)> = Default::default();
    for s in stripe.values() {
        if let (Some((org, _)), Some(item)) = (customers.get(&s.customer), s.price()) {
            let facts = access::SubFacts {
                id: s.id.clone(),
                price: item.price.clone(),
                status: s.status.clone(),
                start_date: s.start_date,
                ended_at: s.ended_at,
                canceled_at: s.canceled_at,
            };
            let prices: Vec<String> = s.items.iter().map(|i| i.price.clone()).collect();
            let facts = access::per_item(&facts, &prices);
            if !crate::sync::objects::is_known_status(&s.status) {
                unknown.extend(facts.iter().map(|f| (org.clone(), f.price.clone())));
                continue;
            }
            subs_by_org.entry(org.clone()).or_default().extend(facts);
        }
    }
    let mut purchases: BTreeMap<String, Vec<access::PurchaseFacts>> = BTreeMap::new();
    for r in sqlx::query("SELECT c.org_id, p.stripe_price_id, p.completed_at FROM purchases p JOIN customers c ON c.stripe_id = p.stripe_customer_id").fetch_all(store.pool()).await.map_err(e)? {
        purchases.entry(r.try_get(0).map_err(e)?).or_default().push(access::PurchaseFacts { price: r.try_get(1).map_err(e)?, completed_at: r.try_get(2).map_err(e)? });
    }
    let mut overrides: BTreeMap<String, Vec<access::Override>> = BTreeMap::new();
    for r in sqlx::query("SELECT org_id, plan_id, status, at FROM access_overrides")
        .fetch_all(store.pool())
        .await
        .map_err(e)?
    {
        overrides
            .entry(r.try_get(0).map_err(e)?)
            .or_default()
            .push(access::Override {
                plan: r.try_get(1).map_err(e)?,
                status: AccessStatus::parse(&r.try_get::<String, _>(2).map_err(e)?)
                    .unwrap_or(AccessStatus::Canceled),
                at: r.try_get(3).map_err(e)?,
            });
    }
    let mut held_access: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for r in sqlx::query("SELECT a.org_id, a.plan_id, a.status, o.name FROM platform_access a JOIN organizations o ON o.id = a.org_id").fetch_all(store.pool()).await.map_err(e)? {
        held_access.insert((r.try_get(0).map_err(e)?, r.try_get(1).map_err(e)?), (r.try_get(2).map_err(e)?, r.try_get(3).map_err(e)?));
    }
    let orgs: std::collections::BTreeSet<String> = subs_by_org
        .keys()
        .chain(purchases.keys())
        .chain(overrides.keys())
        .cloned()
        .chain(held_access.keys().map(|k| k.0.clone()))
        .collect();
    let names: HashMap<&String, &String> = customers.values().map(|(o, n)| (o, n)).collect();
    for org in orgs {
        let want = access::derive(
            subs_by_org.get(&org).map(Vec::as_slice).unwrap_or(&[]),
            purchases.get(&org).map(Vec::as_slice).unwrap_or(&[]),
            overrides.get(&org).map(Vec::as_slice).unwrap_or(&[]),
        );
        let mut plans: std::collections::BTreeSet<String> =
            want.iter().map(|a| a.plan.clone()).collect();
        plans.extend(
            held_access
                .keys()
                .filter(|k| k.0 == org)
                .map(|k| k.1.clone()),
        );
        for plan in plans {
            if unknown.contains(&(org.clone(), plan.clone())) {
                continue;
            }
            let w = want
                .iter()
                .find(|a| a.plan == plan)
                .map(|a| a.status.as_str().to_owned());
            let h = held_access
                .get(&(org.clone(), plan.clone()))
                .map(|x| x.0.clone());
            if w != h {
                let o = names.get(&org).map(|n| (org.clone(), (*n).clone()));
                items.push(item(o.as_ref(), &plan, "access", h, w));
            }
        }
    }
    items.sort_by(|a, b| {
        (&a.org_name, &a.object_id, &a.field).cmp(&(&b.org_name, &b.object_id, &b.field))
    });
    Ok(items)
}
