//! The sync engine: one event processor that mirrors Stripe into the store, fed by three
//! sources (backfill, the events cursor, the webhook receiver) through one door.
//!
//! The door ([`Processor::ingest`]): an event goes into the ledger (a duplicate id is a no-op)
//! in the same transaction that marks the objects it touches as dirty. Nothing else is taken
//! from the event while Stripe can be read: [`Processor::settle`] reads each dirty object from
//! Stripe (after its last recorded event, API version pinned by the client) and writes that.
//! Only when Stripe cannot be reached does it apply the recorded payloads under the (created,
//! status rank) watermark, and the object stays dirty until a read confirms it.

pub mod backfill;
pub mod cursor;
pub mod door;
pub mod event;
pub mod lease;
pub mod objects;
pub mod receiver;
pub mod signature;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::error::ErrorBody;
use crate::store::sync::{self as db, Dirty, IngestCounts, Outcome, Stamp};
use crate::store::{SendFuture, Store, StoreError};
use crate::stripe::{GatewayError, StripeGateway};
pub use event::{Event, EventError, Kind};

/// The metadata keys that name a customer's organization, tried in order.
pub const DEFAULT_ORG_KEYS: [&str; 3] = ["organization_id", "organizationId", "companyId"];

/// A read of one object from Stripe.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Found(Value),
    /// Stripe answered 404: the object does not exist (or no longer).
    Gone,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Network, timeout, 429 or 5xx after the client's retries: fall back to payloads.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else (a revoked key, a bad request): stop and say so.
    #[error("{0}")]
    Failed(ErrorBody),
}

impl From<GatewayError> for FetchError {
    fn from(e: GatewayError) -> Self {
        match &e {
            GatewayError::Unreachable { .. } | GatewayError::Timeout { .. } => {
                FetchError::Unreachable(e.to_string())
            }
            GatewayError::Api { status, .. } if *status == 429 || *status >= 500 => {
                FetchError::Unreachable(e.to_string())
            }
            _ => FetchError::Failed(e.into()),
        }
    }
}

/// Where the processor reads Stripe's current objects. The app reads real Stripe (or the
/// sandbox) through async-stripe; property tests use a scripted one.
pub trait StripeReader: Send + Sync {
    fn read(&self, kind: Kind, id: &str) -> SendFuture<'_, Result<Fetched, FetchError>>;
    /// One page of Stripe's list of `kind` (newest first, 100 a page), after the object
    /// `after`, narrowed to objects created at or after `created_gte`. `None`: this reader
    /// does not list that kind (its dirty objects are read one by one).
    fn list<'a>(
        &'a self,
        _kind: Kind,
        _created_gte: Option<i64>,
        _after: Option<&'a str>,
    ) -> SendFuture<'a, Result<Option<ListPage>, FetchError>> {
        Box::pin(async { Ok(None) })
    }
    /// Re-reads the catalog into the store (products, prices, features).
    fn refresh_catalog<'a>(&'a self, store: &'a Store) -> SendFuture<'a, Result<(), FetchError>>;
}

/// A page of a list read.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<Value>,
    pub has_more: bool,
}

/// The async-stripe reader.
pub struct GatewayReader(pub Arc<StripeGateway>);

impl GatewayReader {
    async fn get(&self, path: &str, query: Value) -> Result<Fetched, FetchError> {
        match self.0.get_json(path, &query).await {
            Ok(v) => Ok(Fetched::Found(v)),
            Err(GatewayError::Api { status: 404, .. }) => Ok(Fetched::Gone),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_inner(&self, kind: Kind, id: &str) -> Result<Fetched, FetchError> {
        match kind {
            Kind::Subscription => {
                let mut found = self
                    .get(&format!("/subscriptions/{id}"), Value::Null)
                    .await?;
                if let Fetched::Found(sub) = &mut found {
                    complete_items(&self.0, sub).await?;
                }
                Ok(found)
            }
            Kind::Customer => self.get(&format!("/customers/{id}"), Value::Null).await,
            Kind::CheckoutSession => {
                let Fetched::Found(mut session) = self
                    .get(&format!("/checkout/sessions/{id}"), Value::Null)
                    .await?
                else {
                    return Ok(Fetched::Gone);
                };
                attach_line_items(&self.0, &mut session).await?;
                Ok(Fetched::Found(session))
            }
            Kind::Entitlements => {
                self.get(
                    "/entitlements/active_entitlements",
                    serde_json::json!({"customer": id, "limit": 100}),
                )
                .await
            }
            Kind::Catalog => Ok(Fetched::Gone),
            // Refunds are not on the charge unless asked for (API versions since 2022-11-15).
            Kind::Charge => {
                self.get(
                    &format!("/charges/{id}"),
                    serde_json::json!({"expand": ["refunds"]}),
                )
                .await
            }
        }
    }
}

impl StripeReader for GatewayReader {
    fn read(&self, kind: Kind, id: &str) -> SendFuture<'_, Result<Fetched, FetchError>> {
        let id = id.to_owned();
        Box::pin(async move { self.read_inner(kind, &id).await })
    }

    fn list<'a>(
        &'a self,
        kind: Kind,
        created_gte: Option<i64>,
        after: Option<&'a str>,
    ) -> SendFuture<'a, Result<Option<ListPage>, FetchError>> {
        Box::pin(async move {
            let (path, mut query) = match kind {
                // Every status: a canceled subscription is a change too.
                Kind::Subscription => ("/subscriptions", serde_json::json!({"status": "all"})),
                Kind::Customer => ("/customers", serde_json::json!({})),
                _ => return Ok(None),
            };
            query["limit"] = 100.into();
            if let Some(c) = created_gte {
                query["created"] = serde_json::json!({ "gte": c });
            }
            if let Some(a) = after {
                query["starting_after"] = a.into();
            }
            let page = self.0.get_json(path, &query).await?;
            let mut items = page["data"].as_array().cloned().unwrap_or_default();
            if kind == Kind::Subscription {
                for sub in &mut items {
                    complete_items(&self.0, sub).await?;
                }
            }
            Ok(Some(ListPage {
                has_more: page["has_more"].as_bool().unwrap_or(false) && !items.is_empty(),
                items,
            }))
        })
    }

    fn refresh_catalog<'a>(&'a self, store: &'a Store) -> SendFuture<'a, Result<(), FetchError>> {
        Box::pin(async move {
            crate::catalog::mirror::refresh(
                &self.0,
                store,
                &crate::progress::Progress::new(),
                false,
            )
            .await
            .map(|_| ())
            .map_err(|e| match e.code {
                crate::ErrorCode::StripeUnreachable
                | crate::ErrorCode::StripeApi
                | crate::ErrorCode::StripeRateLimited => FetchError::Unreachable(e.message),
                _ => FetchError::Failed(e),
            })
        })
    }
}

/// Stripe embeds a subscription's first ten items (`items.has_more`): read the rest from
/// `/v1/subscription_items`, so every item's price counts.
pub(crate) async fn complete_items(
    gw: &StripeGateway,
    sub: &mut Value,
) -> Result<(), GatewayError> {
    if sub["items"]["has_more"] != Value::Bool(true) {
        return Ok(());
    }
    let id = sub["id"].as_str().unwrap_or_default().to_owned();
    let mut all = Vec::new();
    let mut pages = gw.pages(
        "/subscription_items",
        serde_json::json!({"subscription": id}),
        None,
    );
    while let Some(items) = pages.next().await? {
        all.extend(items);
    }
    sub["items"]["data"] = Value::Array(all);
    sub["items"]["has_more"] = Value::Bool(false);
    Ok(())
}

/// A one-time Checkout Session carries its prices on its line items, which Stripe lists
/// apart: read them into `session["line_items"]` (subscription sessions need none).
pub(crate) async fn attach_line_items(
    gw: &StripeGateway,
    session: &mut Value,
) -> Result<(), GatewayError> {
    if session["mode"] != "payment" {
        return Ok(());
    }
    let id = session["id"].as_str().unwrap_or_default().to_owned();
    match gw
        .get_json(
            &format!("/checkout/sessions/{id}/line_items"),
            &serde_json::json!({"limit": 100}),
        )
        .await
    {
        Ok(lines) => {
            session["line_items"] = lines;
            Ok(())
        }
        Err(GatewayError::Api { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a caught panic said.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Objects written per settle transaction (see [`Processor::settle`]).
pub const SETTLE_TX_OBJECTS: usize = 8;

/// How a settle run went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SettleReport {
    /// Objects read from Stripe and written.
    #[ts(type = "number")]
    pub confirmed: u64,
    /// Objects whose payloads were applied because Stripe could not be read; still dirty.
    #[ts(type = "number")]
    pub from_payload: u64,
    /// Writes refused as older than what the store holds.
    #[ts(type = "number")]
    pub stale: u64,
    /// Objects Stripe says do not exist.
    #[ts(type = "number")]
    pub gone: u64,
    /// Still dirty after this run.
    #[ts(type = "number")]
    pub remaining: u64,
    /// Reads of one object each (`GET /v1/subscriptions/sub_…`).
    #[ts(type = "number")]
    pub object_reads: u64,
    /// Pages of Stripe's lists read instead, when a kind's dirty set was large enough that
    /// listing cost fewer requests (see [`Sweep`]).
    #[ts(type = "number")]
    pub list_pages: u64,
    /// Objects confirmed from those lists.
    #[ts(type = "number")]
    pub by_list: u64,
    /// Why Stripe could not be read, when it could not.
    pub offline: Option<String>,
}

/// How settle reads a kind's dirty objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sweep {
    /// Whichever costs fewer Stripe requests: one read per object, or Stripe's list of the
    /// kind (100 a page; narrowed to those created since the oldest dirty one when the store
    /// knows them all), and the rest one by one.
    #[default]
    ByCost,
    /// Always by list (tests: the result must be the same as reading each object).
    Always,
    /// Always one read per object.
    Never,
}

/// Fewer dirty objects of a kind than this are always read one by one.
pub const SWEEP_MIN_DIRTY: u64 = 4;

#[derive(Clone)]
pub struct Processor {
    store: Store,
    reader: Arc<dyn StripeReader>,
    org_keys: Arc<Vec<String>>,
    /// Reads in flight at once while settling.
    concurrency: usize,
    sweep: Sweep,
}

impl Processor {
    pub fn new(store: Store, reader: Arc<dyn StripeReader>, org_keys: Vec<String>) -> Self {
        Processor {
            store,
            reader,
            org_keys: Arc::new(org_keys),
            concurrency: 8,
            sweep: Sweep::default(),
        }
    }

    /// The same processor, settling by `sweep`.
    pub fn with_sweep(mut self, sweep: Sweep) -> Self {
        self.sweep = sweep;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The door: records events in the ledger and marks what they touch, in one transaction.
    pub fn ingest<'a>(
        &'a self,
        events: &'a [Event],
        source: &'static str,
    ) -> SendFuture<'a, Result<IngestCounts, StoreError>> {
        Box::pin(async move {
            let refs: Vec<&Event> = events.iter().collect();
            Ok(self.ingest_refs(&refs, source).await?.0)
        })
    }

    /// [`Processor::ingest`], also saying which event ids were new.
    pub(crate) async fn ingest_refs(
        &self,
        events: &[&Event],
        source: &'static str,
    ) -> Result<(IngestCounts, std::collections::HashSet<String>), StoreError> {
        // SQLite: the store's write lock, the door first. Postgres: no store lock, so door
        // groups (and other processes' doors) write side by side and a settle's mirror writes
        // do not hold acknowledgments up; a group is one statement (`db::ingest_pg`). That is
        // safe because the door only inserts events (`ON CONFLICT DO NOTHING`) and upserts
        // dirty marks, both in one global order (event id; kind, then object id), the order a
        // settle clears marks in, so row locks are always taken in one order and never
        // deadlock; and a confirmed watermark read while a settle writes it is either the old
        // one (one more read) or the new one (read after Stripe already had the event).
        match self.store.backend() {
            crate::store::Backend::Postgres => db::ingest_pg(&self.store, events, source).await,
            crate::store::Backend::Sqlite => {
                let mut tx = self.store.write_first("door: ingest").await?;
                let out = db::ingest_tx(&mut tx, events, source)
                    .await
                    .map_err(|e| self.store.err(e))?;
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// A door for a stream of pages (the events cursor): see [`Batch`].
    pub fn batch(&self, source: &'static str) -> Batch<'_> {
        Batch {
            processor: self,
            source,
            pending: Vec::new(),
            counts: IngestCounts::default(),
        }
    }

    /// Reads every dirty object from Stripe and writes it; falls back to payloads when Stripe
    /// cannot be reached. Stops early when `cancel` says so.
    pub fn settle<'a>(
        &'a self,
        cancel: &'a (dyn Fn() -> bool + Send + Sync),
    ) -> SendFuture<'a, Result<SettleReport, ErrorBody>> {
        Box::pin(self.settle_inner(cancel))
    }

    async fn settle_inner(
        &self,
        cancel: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<SettleReport, ErrorBody> {
        // One settle of this store at a time, across processes: two would read the same
        // objects from Stripe. The second waits, then finds what is left.
        let said = |h: &lease::Holder| tracing::info!(%h, "another process is reading this store's changed objects; waiting");
        let Some(lease) = lease::acquire(&self.store, lease::SETTLE, true, &said, cancel).await?
        else {
            return Ok(SettleReport {
                remaining: self.store.dirty_count().await?,
                ..Default::default()
            });
        };
        let result = self.settle_leased(cancel).await;
        lease.release().await;
        result
    }

    async fn settle_leased(
        &self,
        cancel: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<SettleReport, ErrorBody> {
        use futures_util::StreamExt;
        let mut report = SettleReport::default();
        let mut done_this_run = std::collections::HashSet::new();
        // The catalog first, once, so subscriptions find their prices' tiers.
        for d in db::dirty_of_kind(&self.store, Kind::Catalog).await? {
            match self.reader.refresh_catalog(&self.store).await {
                Ok(()) => {
                    let mut tx = self.store.write("settle: catalog").await?;
                    db::refresh_plan_columns(&mut tx)
                        .await
                        .map_err(|e| self.store.err(e))?;
                    db::clear_dirty(&mut tx, &d)
                        .await
                        .map_err(|e| self.store.err(e))?;
                    tx.commit().await?;
                    report.confirmed += 1;
                }
                Err(FetchError::Unreachable(why)) => {
                    db::dirty_failed(&self.store, &d, &why, false).await?;
                    done_this_run.insert((d.kind, d.object_id.clone()));
                    report.offline = Some(why);
                }
                Err(FetchError::Failed(e)) => return Err(e),
            }
        }
        // What is dirty is read once in this run, 256 at a time; a mark an event renews
        // meanwhile waits for the next run (the settle loop's debounce), so an object a burst
        // keeps touching is read once per run, not once per batch. Marks new to this run (a
        // customer a subscription named) are read in a further round.
        // The marks this run is for: those there when it began.
        let initial: std::collections::HashSet<(Kind, String)> =
            db::dirty_batch(&self.store, i64::MAX)
                .await?
                .into_iter()
                .map(|d| (d.kind, d.object_id))
                .collect();
        let mut round = 0;
        'run: loop {
            round += 1;
            if cancel() || report.offline.is_some() {
                break;
            }
            if round == 1 {
                // A kind with many dirty objects is read by list (customers first, so
                // subscriptions find their organizations).
                for kind in [Kind::Customer, Kind::Subscription] {
                    if cancel() || report.offline.is_some() {
                        break 'run;
                    }
                    self.sweep_kind(kind, &mut report, &mut done_this_run, cancel)
                        .await?;
                }
            }
            // Each object once per run: a list sweep or a read had it, or its payloads. The
            // first round reads what was dirty when the run began; later ones what this run's
            // own writes marked (a customer a subscription named: no event, no id).
            let marks: Vec<Dirty> = db::dirty_batch(&self.store, i64::MAX)
                .await?
                .into_iter()
                .filter(|d| {
                    let key = (d.kind, d.object_id.clone());
                    d.kind != Kind::Catalog
                        && !done_this_run.contains(&key)
                        && if round == 1 {
                            initial.contains(&key)
                        } else {
                            d.last_event_id.is_none()
                        }
                })
                .collect();
            if marks.is_empty() {
                break;
            }
            for objects in marks.chunks(256) {
                if cancel() {
                    break 'run;
                }
                let objects = objects.to_vec();
                done_this_run.extend(objects.iter().map(|d| (d.kind, d.object_id.clone())));
                report.object_reads += objects.len() as u64;
                let reads: Vec<(Dirty, i64, Result<Fetched, FetchError>)> =
                    futures_util::stream::iter(objects)
                        .map(|d| async move {
                            let as_of = db::now_ms();
                            let r = self.reader.read(d.kind, &d.object_id).await;
                            (d, as_of, r)
                        })
                        .buffered(self.concurrency)
                        .collect()
                        .await;
                // Written SETTLE_TX_OBJECTS to a transaction: the door waits for the write
                // lock at most that long (a whole batch of 256 held it 100-190 ms).
                let mut offline: Vec<Dirty> = Vec::new();
                let mut reads = reads.into_iter().peekable();
                while reads.peek().is_some() {
                    let mut tx = self.store.write("settle: batch").await?;
                    let mut cleared = Vec::new();
                    for (d, as_of, r) in reads.by_ref().take(SETTLE_TX_OBJECTS) {
                        match r {
                            Ok(fetched) => {
                                self.confirm(&mut tx, &d, fetched, as_of, &mut report)
                                    .await?;
                                cleared.push(d);
                            }
                            Err(FetchError::Unreachable(why)) => {
                                report.offline = Some(why);
                                offline.push(d);
                            }
                            Err(FetchError::Failed(e)) => {
                                db::clear_dirty_all(&mut tx, &mut cleared)
                                    .await
                                    .map_err(|e| self.store.err(e))?;
                                tx.commit().await?;
                                return Err(e);
                            }
                        }
                    }
                    db::clear_dirty_all(&mut tx, &mut cleared)
                        .await
                        .map_err(|e| self.store.err(e))?;
                    tx.commit().await?;
                }
                if !offline.is_empty() {
                    for d in &offline {
                        done_this_run.remove(&(d.kind, d.object_id.clone()));
                    }
                    break 'run;
                }
            }
        }
        if let Some(why) = report.offline.clone() {
            // Stripe could not be read (the catalog, a list, an object): what is dirty and
            // was not read gets its payloads.
            self.fall_back(&why, Vec::new(), &mut done_this_run, &mut report)
                .await?;
        }
        report.remaining = self.store.dirty_count().await?;
        Ok(report)
    }

    /// Stripe cannot be read: every dirty object gets its payloads applied under the
    /// watermark, and stays dirty until a read confirms it.
    async fn fall_back(
        &self,
        why: &str,
        failed: Vec<Dirty>,
        seen: &mut std::collections::HashSet<(Kind, String)>,
        report: &mut SettleReport,
    ) -> Result<(), ErrorBody> {
        let all = db::dirty_batch(&self.store, i64::MAX).await?;
        for d in all
            .into_iter()
            .chain(failed)
            .filter(|d| d.kind != Kind::Catalog)
        {
            if !seen.insert((d.kind, d.object_id.clone())) {
                continue;
            }
            let (applied, stale) = self.apply_payloads(&d).await?;
            report.from_payload += applied;
            report.stale += stale;
            db::dirty_failed(&self.store, &d, why, true).await?;
        }
        Ok(())
    }

    /// Writes what Stripe said of a dirty object (read at `as_of`), and counts it.
    async fn confirm(
        &self,
        tx: &mut db::Tx,
        d: &Dirty,
        fetched: Fetched,
        as_of: i64,
        report: &mut SettleReport,
    ) -> Result<(), ErrorBody> {
        let stamp = Stamp::Confirmed {
            watermark: d.last_event_created,
            as_of_ms: as_of,
        };
        match self.apply(tx, d, fetched, stamp).await {
            Ok(Some(Outcome::Applied)) => report.confirmed += 1,
            Ok(Some(Outcome::Stale)) => report.stale += 1,
            Ok(None) => report.gone += 1,
            // Stripe's copy could not be read as that object: report it, and do not let one
            // object hold up the rest.
            Err(sqlx::Error::Protocol(why)) => {
                let why = format!(
                    "read from Stripe ({} {}): {why}",
                    d.kind.as_str(),
                    d.object_id
                );
                db::record_issue(
                    tx,
                    &d.object_id,
                    "unreadable",
                    &why,
                    d.last_event_id.as_deref(),
                )
                .await
                .map_err(|e| self.store.err(e))?;
                report.gone += 1;
            }
            Err(e) => return Err(self.store.err(e).into()),
        }
        Ok(())
    }

    /// Reads a kind's dirty objects from Stripe's list when that costs fewer requests than
    /// one read each (see [`Sweep`]); what the list does not show (a deleted customer, an
    /// object created before the narrowing) stays dirty for the reads one by one. The same
    /// as reading each object: every mark was taken before the list was read, a page's
    /// objects are stamped with the time its read began, and a mark an event renewed during
    /// the sweep stays.
    async fn sweep_kind(
        &self,
        kind: Kind,
        report: &mut SettleReport,
        read: &mut std::collections::HashSet<(Kind, String)>,
        cancel: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<(), ErrorBody> {
        if self.sweep == Sweep::Never {
            return Ok(());
        }
        let Some(mut cost) = db::sweep_cost(&self.store, kind).await? else {
            return Ok(());
        };
        let mut dirty: std::collections::HashMap<String, Dirty> =
            db::dirty_of_kind(&self.store, kind)
                .await?
                .into_iter()
                .filter(|d| !read.contains(&(d.kind, d.object_id.clone())))
                .map(|d| (d.object_id.clone(), d))
                .collect();
        // What this run has not read yet.
        cost.dirty = dirty.len() as u64;
        cost.unknown = cost.unknown.min(cost.dirty);
        if cost.dirty == 0 {
            return Ok(());
        }
        let narrowed = cost
            .min_created
            .map(|m| (cost.narrowed_pages + cost.unknown, Some(m)));
        let full = (cost.full_pages, None);
        let (pages, created_gte) = match (self.sweep, narrowed) {
            (Sweep::Always, Some(n)) if cost.unknown == 0 => n,
            (Sweep::Always, _) => full,
            (_, Some(n)) if n.0 <= full.0 => n,
            _ => full,
        };
        if self.sweep == Sweep::ByCost && (cost.dirty < SWEEP_MIN_DIRTY || pages >= cost.dirty) {
            return Ok(());
        }
        tracing::info!(
            kind = kind.as_str(),
            dirty = cost.dirty,
            pages,
            created_gte,
            "settle: reading by list (fewer requests than one read per object)"
        );
        let mut after: Option<String> = None;
        while !dirty.is_empty() && !cancel() {
            let as_of = db::now_ms();
            let page = match self.reader.list(kind, created_gte, after.as_deref()).await {
                Ok(Some(p)) => p,
                Ok(None) => break,
                // Left to the reads one by one, which fall back to payloads if need be.
                Err(FetchError::Unreachable(why)) => {
                    tracing::warn!(kind = kind.as_str(), %why, "settle: list read failed");
                    break;
                }
                Err(FetchError::Failed(e)) => return Err(e),
            };
            report.list_pages += 1;
            after = page
                .items
                .last()
                .and_then(|i| i["id"].as_str())
                .map(str::to_owned);
            let mine: Vec<(Dirty, Value)> = page
                .items
                .into_iter()
                .filter_map(|v| {
                    let d = dirty.remove(v["id"].as_str()?)?;
                    Some((d, v))
                })
                .collect();
            for chunk in mine.chunks(SETTLE_TX_OBJECTS) {
                let mut tx = self.store.write("settle: list").await?;
                // What the list shows as the store has it is confirmed in one statement;
                // only the rest is written object by object.
                let parsed: Vec<(objects::Subscription, i64)> = chunk
                    .iter()
                    .filter(|(d, _)| d.kind == Kind::Subscription)
                    .filter_map(|(d, v)| {
                        Some((objects::Subscription::parse(v).ok()?, d.last_event_created))
                    })
                    .collect();
                let refs: Vec<(&objects::Subscription, i64)> =
                    parsed.iter().map(|(s, w)| (s, *w)).collect();
                let unchanged = db::confirm_unchanged_subscriptions(&mut tx, &refs, as_of)
                    .await
                    .map_err(|e| self.store.err(e))?;
                let mut cleared = Vec::with_capacity(chunk.len());
                for (d, v) in chunk {
                    if unchanged.contains(&d.object_id) {
                        report.confirmed += 1;
                    } else {
                        self.confirm(&mut tx, d, Fetched::Found(v.clone()), as_of, report)
                            .await?;
                    }
                    report.by_list += 1;
                    read.insert((d.kind, d.object_id.clone()));
                    cleared.push(d.clone());
                }
                db::clear_dirty_all(&mut tx, &mut cleared)
                    .await
                    .map_err(|e| self.store.err(e))?;
                tx.commit().await?;
            }
            if !page.has_more || after.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Writes Stripe's copy of a dirty object. `None`: Stripe says it is gone.
    async fn apply(
        &self,
        tx: &mut db::Tx,
        d: &Dirty,
        fetched: Fetched,
        stamp: Stamp,
    ) -> Result<Option<Outcome>, sqlx::Error> {
        let event = d.last_event_id.as_deref();
        let v = match fetched {
            Fetched::Found(v) => v,
            Fetched::Gone => {
                let what = match d.kind {
                    Kind::Customer => "unknown_customer",
                    _ => "gone",
                };
                db::record_issue(
                    tx,
                    &d.object_id,
                    what,
                    &format!("Stripe has no {} {}", d.kind.as_str(), d.object_id),
                    event,
                )
                .await?;
                return Ok(None);
            }
        };
        self.write(tx, d.kind, &d.object_id, &v, stamp, event)
            .await
            .map(Some)
    }

    /// Writes one object of Stripe's, alone: inside a savepoint, so an object the store
    /// refuses (a constraint no real object breaks) or cannot read leaves nothing half
    /// written, comes back as `Protocol` (the callers record it as a sync issue) and never
    /// fails the rest of its page or batch.
    pub(crate) async fn write(
        &self,
        tx: &mut db::Tx,
        kind: Kind,
        id: &str,
        v: &Value,
        stamp: Stamp,
        event: Option<&str>,
    ) -> Result<Outcome, sqlx::Error> {
        db::savepoint(tx).await?;
        match self.write_object(tx, kind, id, v, stamp, event).await {
            Ok(outcome) => {
                db::release_savepoint(tx).await?;
                Ok(outcome)
            }
            Err(e) => {
                db::rollback_to_savepoint(tx).await?;
                Err(match e {
                    sqlx::Error::Database(d) if db::is_constraint(&*d) => {
                        sqlx::Error::Protocol(format!(
                            "{} {id}: the store refused it ({})",
                            kind.as_str(),
                            d.message()
                        ))
                    }
                    other => other,
                })
            }
        }
    }

    async fn write_object(
        &self,
        tx: &mut db::Tx,
        kind: Kind,
        id: &str,
        v: &Value,
        stamp: Stamp,
        event: Option<&str>,
    ) -> Result<Outcome, sqlx::Error> {
        let bad = |e: objects::ParseError| sqlx::Error::Protocol(e.to_string());
        Ok(match kind {
            Kind::Subscription => {
                let s = objects::Subscription::parse(v).map_err(bad)?;
                db::write_subscription(tx, &s, stamp, event).await?
            }
            Kind::Customer => {
                let c = objects::Customer::parse(v, &self.org_keys).map_err(bad)?;
                db::write_customer(tx, &c, stamp).await?
            }
            Kind::CheckoutSession => {
                for p in objects::purchase(v, None) {
                    db::write_purchase(tx, &p).await?;
                }
                Outcome::Applied
            }
            Kind::Entitlements => {
                db::write_entitlements(tx, id, &objects::entitlements(v), stamp.watermark()).await?
            }
            Kind::Catalog => Outcome::Applied,
            Kind::Charge => {
                let parsed = crate::ledger::Appointment::parse(v, &self.org_keys)
                    .map_err(|e| sqlx::Error::Protocol(format!("charge {id}: {e}")))?;
                if let Some(a) = parsed {
                    crate::store::ledger::write_appointment(tx, &a).await?;
                }
                Outcome::Applied
            }
        })
    }

    /// Stripe cannot be read: apply the object's recorded payloads under the watermark.
    async fn apply_payloads(&self, d: &Dirty) -> Result<(u64, u64), ErrorBody> {
        if !matches!(
            d.kind,
            Kind::Subscription | Kind::Customer | Kind::Entitlements
        ) {
            return Ok((0, 0)); // an invoice or a session says nothing of the subscription's state
        }
        let payloads = db::payloads_for(&self.store, d.kind, &d.object_id).await?;
        let mut tx = self.store.write("settle: payloads").await?;
        let (mut applied, mut stale) = (0, 0);
        for (raw, created, received) in payloads {
            let object = event::payload_object(&raw);
            let stamp = Stamp::Payload {
                created,
                as_of_ms: received,
            };
            match self
                .write(&mut tx, d.kind, &d.object_id, &object, stamp, None)
                .await
            {
                Ok(Outcome::Applied) => applied = 1,
                Ok(Outcome::Stale) => stale += 1,
                Err(sqlx::Error::Protocol(why)) => {
                    tracing::warn!(object = %d.object_id, %why, "payload not applied")
                }
                Err(e) => return Err(self.store.err(e).into()),
            }
        }
        tx.commit().await?;
        Ok((applied, stale))
    }
}

/// Events bound for the door, committed [`Batch::SIZE`] at a time. Each transaction writes
/// every index page it touched to the WAL, and a page of 100 random event ids touches nearly as
/// many index pages (ledger id, customer, object; dirty marks) as a thousand do: committing
/// each of Stripe's pages of 100 wrote those pages ten times over (100,000 events took 5 s in
/// pages and 3.5 s in thousands). Events are recorded only on [`Batch::push`] reaching the size
/// or on [`Batch::finish`]; a run cut short in between records them on its next read.
pub struct Batch<'a> {
    processor: &'a Processor,
    source: &'static str,
    pending: Vec<Event>,
    counts: IngestCounts,
}

impl Batch<'_> {
    pub const SIZE: usize = 1000;

    /// Adds a page; returns how many events were committed by this call (0 or the batch).
    pub async fn push(&mut self, events: Vec<Event>) -> Result<u64, StoreError> {
        self.pending.extend(events);
        if self.pending.len() >= Self::SIZE {
            self.commit().await
        } else {
            Ok(0)
        }
    }

    /// Commits what is pending; returns how many events that was, and the run's counts.
    pub async fn finish(mut self) -> Result<(u64, IngestCounts), StoreError> {
        let n = self.commit().await?;
        Ok((n, self.counts))
    }

    async fn commit(&mut self) -> Result<u64, StoreError> {
        if self.pending.is_empty() {
            return Ok(0);
        }
        let c = self.processor.ingest(&self.pending, self.source).await?;
        self.counts.new += c.new;
        self.counts.duplicate += c.duplicate;
        self.counts.recorded_only += c.recorded_only;
        let n = self.pending.len() as u64;
        self.pending.clear();
        Ok(n)
    }
}
