//! The sync engine's tables: the event ledger and dirty marks (the one door), the mirrored
//! customers, subscriptions, purchases and entitlements, and PlatformAccess derived from them.
//! Every write here runs inside a transaction the processor owns, so an event's ledger row and
//! its effects commit together or not at all.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;

use super::{now_seconds, Store, StoreError};
use crate::access::{self, Access, AccessSource, AccessStatus};
use crate::sync::event::{Event, Kind};
use crate::sync::objects::{is_terminal, status_rank, Customer, Purchase, Subscription};

pub(crate) use super::tx::Tx;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where a write's data came from, for the ordering rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Stripe's own copy, read at local time `as_of_ms`, reflecting events up to `watermark`.
    Confirmed { watermark: i64, as_of_ms: i64 },
    /// An event payload (Stripe unreachable): the event's `created`, and when it was received.
    Payload { created: i64, as_of_ms: i64 },
}

impl Stamp {
    fn confirmed(self) -> bool {
        matches!(self, Stamp::Confirmed { .. })
    }
    pub(crate) fn watermark(self) -> i64 {
        match self {
            Stamp::Confirmed { watermark, .. } => watermark,
            Stamp::Payload { created, .. } => created,
        }
    }
    fn as_of(self) -> i64 {
        match self {
            Stamp::Confirmed { as_of_ms, .. } | Stamp::Payload { as_of_ms, .. } => as_of_ms,
        }
    }
}

/// What a mirrored row had, for the ordering decision.
struct Held {
    confirmed: bool,
    watermark: i64,
    as_of_ms: Option<i64>,
    rank: i64,
    terminal: bool,
}

/// Whether a write may replace what the store holds.
fn wins(held: &Held, stamp: Stamp, rank: i64, terminal: bool) -> bool {
    if held.terminal && !terminal {
        return false; // canceled and incomplete_expired are absorbing
    }
    match stamp {
        // Stripe's copy replaces anything written before the read began.
        Stamp::Confirmed { as_of_ms, .. } => held.as_of_ms.is_none_or(|h| as_of_ms >= h),
        Stamp::Payload { created, .. } => {
            if held.confirmed {
                created > held.watermark
            } else {
                (created, rank) > (held.watermark, held.rank)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestCounts {
    pub new: u64,
    pub duplicate: u64,
    /// Recorded and acknowledged, but nothing mirrored depends on them.
    pub recorded_only: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirty {
    pub object_id: String,
    pub kind: Kind,
    pub generation: i64,
    pub last_event_id: Option<String>,
    pub last_event_created: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Older than what the store holds, or out of a terminal state: left as is.
    Stale,
}

/// Events once each, in id order: two transactions inserting the same events wait for each
/// other's rows in one order (see `Processor::ingest_refs`); the marks follow in (kind, id)
/// order. Also the number of repeats dropped.
fn unique_by_id<'e>(events: &[&'e Event]) -> (Vec<&'e Event>, u64) {
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<&Event> = events
        .iter()
        .copied()
        .filter(|e| seen.insert(e.id.as_str()))
        .collect();
    unique.sort_by(|a, b| a.id.cmp(&b.id));
    let repeats = (events.len() - unique.len()) as u64;
    (unique, repeats)
}

fn outcome_of(e: &Event) -> &'static str {
    if e.is_recorded_only() {
        "ignored"
    } else {
        "recorded"
    }
}

/// Events in one Postgres statement (a door group is at most 512; a page batch 1,000).
pub(crate) const PG_EVENTS_PER_STATEMENT: usize = 1000;

/// Postgres: the ledger insert plus the dirty marks in one statement, so a door group that
/// fits ([`PG_EVENTS_PER_STATEMENT`]) is one round trip and its own transaction (no BEGIN, no
/// COMMIT: on a busy machine each round trip to the server costs more than the writing).
/// Larger batches run one statement per chunk in one `append` transaction. Same rules as
/// [`ingest_tx`]: only new events mark; each object is marked once, at its newest new event
/// (the larger id on a tie); no mark when the object's confirmed copy is newer; marks upserted
/// in (kind, id) order.
pub(crate) async fn ingest_pg(
    store: &Store,
    events: &[&Event],
    source: &str,
) -> Result<(IngestCounts, std::collections::HashSet<String>), StoreError> {
    let (unique, repeats) = unique_by_id(events);
    let received = now_ms();
    let mut inserted = std::collections::HashSet::new();
    if unique.len() <= PG_EVENTS_PER_STATEMENT {
        if !unique.is_empty() {
            inserted = ingest_pg_statement(store.pool(), &unique, source, received)
                .await
                .map_err(|e| store.err(e))?;
        }
    } else {
        let mut tx = store.append("door: ingest").await?;
        for chunk in unique.chunks(PG_EVENTS_PER_STATEMENT) {
            inserted.extend(
                ingest_pg_statement(&mut *tx, chunk, source, received)
                    .await
                    .map_err(|e| store.err(e))?,
            );
        }
        tx.commit().await?;
    }
    Ok((counts_of(&unique, repeats, &inserted), inserted))
}

/// New, duplicate (repeated in the batch, or in the ledger already) and recorded-only.
fn counts_of(
    unique: &[&Event],
    repeats: u64,
    inserted: &std::collections::HashSet<String>,
) -> IngestCounts {
    let new: Vec<&&Event> = unique.iter().filter(|e| inserted.contains(&e.id)).collect();
    IngestCounts {
        new: new.len() as u64,
        duplicate: repeats + (unique.len() - new.len()) as u64,
        recorded_only: new.iter().filter(|e| e.is_recorded_only()).count() as u64,
    }
}

/// A mark `n` (object_id, kind, created) is not needed when Stripe's copy was read after a
/// newer event: it already reflects this one (the cursor's overlap re-reads the seconds
/// before a backfill).
const MARK_UNLESS_CONFIRMED_NEWER: &str = "NOT (n.kind = 'subscription' AND EXISTS (SELECT 1 FROM org_subscriptions s
        WHERE s.stripe_subscription_id = n.object_id AND s.confirmed = 1 AND n.created < s.watermark))
    AND NOT (n.kind = 'customer' AND EXISTS (SELECT 1 FROM customers c
        WHERE c.stripe_id = n.object_id AND c.confirmed = 1 AND n.created < c.watermark))";

/// A mark already there: one more generation, and the newer event.
const MARK_UPSERT: &str =
    "ON CONFLICT (object_id, kind) DO UPDATE SET generation = dirty_objects.generation + 1,
      last_event_id = CASE WHEN excluded.last_event_created >= dirty_objects.last_event_created
        THEN excluded.last_event_id ELSE dirty_objects.last_event_id END,
      last_event_created = CASE WHEN excluded.last_event_created > dirty_objects.last_event_created
        THEN excluded.last_event_created ELSE dirty_objects.last_event_created END";

/// The door's statement on Postgres. One text whatever the group's size (the events and what
/// they touch travel as two JSON arrays), so each connection prepares it once and Postgres
/// keeps its plan.
static PG_INGEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r#"WITH ev AS (
    SELECT * FROM json_to_recordset($1::json) AS e(event_id text, event_type text, created bigint,
        livemode bigint, api_version text, object_id text, customer_id text, subscription_id text,
        outcome text, payload text)),
  ins AS (
    INSERT INTO stripe_events (event_id, event_type, created, livemode, api_version, object_id,
        customer_id, subscription_id, source, outcome, payload, received_at)
    SELECT event_id, event_type, created, livemode, api_version, object_id, customer_id,
        subscription_id, $3::text, outcome, payload, $4::bigint
    FROM ev ORDER BY event_id COLLATE "C"
    ON CONFLICT (event_id) DO NOTHING RETURNING event_id),
  touch AS (
    SELECT * FROM json_to_recordset($2::json) AS t(event_id text, kind text, rank bigint, object_id text)),
  newest AS (
    SELECT DISTINCT ON (t.rank, t.object_id) t.rank, t.kind, t.object_id, ev.event_id, ev.created
    FROM touch t JOIN ins ON ins.event_id = t.event_id JOIN ev ON ev.event_id = t.event_id
    ORDER BY t.rank, t.object_id, ev.created DESC, ev.event_id COLLATE "C" DESC),
  marks AS (
    INSERT INTO dirty_objects (object_id, kind, generation, last_event_id, last_event_created, marked_at)
    SELECT n.object_id, n.kind, 1, n.event_id, n.created, $4::bigint FROM newest n
    WHERE {MARK_UNLESS_CONFIRMED_NEWER}
    ORDER BY n.rank, n.object_id COLLATE "C"
    {MARK_UPSERT})
SELECT event_id FROM ins"#
    )
});

async fn ingest_pg_statement<'c, E>(
    conn: E,
    events: &[&Event],
    source: &str,
    received: i64,
) -> Result<std::collections::HashSet<String>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let rows: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "event_id": e.id, "event_type": e.event_type, "created": e.created,
                "livemode": e.livemode as i64, "api_version": e.api_version,
                "object_id": e.object_id, "customer_id": e.customer,
                "subscription_id": e.subscription, "outcome": outcome_of(e), "payload": e.raw,
            })
        })
        .collect();
    // `rank` is the kind's place in `Kind`'s order, so marks are locked in the order a settle
    // clears them (`clear_dirty_all`).
    let touches: Vec<serde_json::Value> = events
        .iter()
        .flat_map(|e| {
            e.touches.iter().map(|(kind, id)| {
                serde_json::json!({
                    "event_id": e.id, "kind": kind.as_str(), "rank": *kind as i64, "object_id": id,
                })
            })
        })
        .collect();
    let rows = sqlx::query_scalar::<_, String>(&PG_INGEST)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(serde_json::Value::Array(touches).to_string())
        .bind(source)
        .bind(received)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// SQLite: the ledger insert plus dirty marks for one batch; the caller commits. Also returns
/// the ids this call inserted (the rest were in the ledger already, or twice in `events`).
pub(crate) async fn ingest_tx(
    tx: &mut Tx,
    events: &[&Event],
    source: &str,
) -> Result<(IngestCounts, std::collections::HashSet<String>), sqlx::Error> {
    let received = now_ms();
    let backend = super::Backend::of(tx);
    let (unique, repeats) = unique_by_id(events);
    let mut inserted: std::collections::HashSet<String> = Default::default();
    for chunk in unique.chunks(500) {
        let sql = format!(
            "INSERT INTO stripe_events (event_id, event_type, created, livemode, api_version, object_id, customer_id, subscription_id, source, outcome, payload, received_at)
             VALUES {} ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            super::values_rows(backend, chunk.len(), 12)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(&e.id)
                .bind(&e.event_type)
                .bind(e.created)
                .bind(e.livemode as i64)
                .bind(e.api_version.clone())
                .bind(e.object_id.clone())
                .bind(e.customer.clone())
                .bind(e.subscription.clone())
                .bind(source)
                .bind(outcome_of(e))
                .bind(&e.raw)
                .bind(received);
        }
        for row in q.fetch_all(&mut **tx).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }
    // One dirty mark per object, at its newest event.
    let mut marks: BTreeMap<(Kind, String), (i64, String)> = BTreeMap::new();
    for e in unique.iter().filter(|e| inserted.contains(&e.id)) {
        for (kind, id) in &e.touches {
            let m = marks
                .entry((*kind, id.clone()))
                .or_insert((e.created, e.id.clone()));
            if e.created >= m.0 {
                *m = (e.created, e.id.clone());
            }
        }
    }
    // One statement per chunk: the marks, less those whose confirmed copy is newer.
    let marks: Vec<((Kind, String), (i64, String))> = marks.into_iter().collect();
    for chunk in marks.chunks(1000) {
        let sql = format!(
            "WITH n (object_id, kind, event_id, created) AS (VALUES {})
             INSERT INTO dirty_objects (object_id, kind, generation, last_event_id, last_event_created, marked_at)
             SELECT n.object_id, n.kind, 1, n.event_id, n.created, {} FROM n WHERE {MARK_UNLESS_CONFIRMED_NEWER}
             {MARK_UPSERT}",
            super::values_rows(backend, chunk.len(), 4),
            super::bind_list(backend, chunk.len() * 4 + 1, 1),
        );
        let mut q = sqlx::query(&sql);
        for ((kind, id), (created, event_id)) in chunk {
            q = q.bind(id).bind(kind.as_str()).bind(event_id).bind(*created);
        }
        q.bind(received).execute(&mut **tx).await?;
    }
    Ok((counts_of(&unique, repeats, &inserted), inserted))
}

/// One object's writes, undone alone on failure (both backends speak SAVEPOINT; after an
/// error Postgres needs the rollback before the transaction can go on).
pub(crate) async fn savepoint(tx: &mut Tx) -> Result<(), sqlx::Error> {
    sqlx::query("SAVEPOINT tollgate_object")
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

pub(crate) async fn release_savepoint(tx: &mut Tx) -> Result<(), sqlx::Error> {
    sqlx::query("RELEASE SAVEPOINT tollgate_object")
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

pub(crate) async fn rollback_to_savepoint(tx: &mut Tx) -> Result<(), sqlx::Error> {
    sqlx::query("ROLLBACK TO SAVEPOINT tollgate_object")
        .execute(&mut **tx)
        .await?;
    release_savepoint(tx).await
}

/// A row the schema refuses (CHECK, NOT NULL, UNIQUE, FOREIGN KEY): the object is bad, not
/// the store.
pub(crate) fn is_constraint(e: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::error::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::CheckViolation
            | ErrorKind::NotNullViolation
            | ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
    )
}

pub(crate) async fn mark_dirty(
    tx: &mut Tx,
    kind: Kind,
    id: &str,
    watermark: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dirty_objects (object_id, kind, generation, last_event_id, last_event_created, marked_at) VALUES ($1, $2, 1, NULL, $3, $4)
         ON CONFLICT (object_id, kind) DO UPDATE SET generation = dirty_objects.generation + 1",
    )
    .bind(id)
    .bind(kind.as_str())
    .bind(watermark)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn dirty_batch(store: &Store, limit: i64) -> Result<Vec<Dirty>, StoreError> {
    let rows = sqlx::query(
        "SELECT object_id, kind, generation, last_event_id, last_event_created FROM dirty_objects ORDER BY kind = 'customer' DESC, marked_at, object_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    rows.iter()
        .map(dirty_from)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

fn dirty_from(r: &sqlx::any::AnyRow) -> Result<Dirty, sqlx::Error> {
    Ok(Dirty {
        object_id: r.try_get(0)?,
        kind: Kind::parse(&r.try_get::<String, _>(1)?).unwrap_or(Kind::Subscription),
        generation: r.try_get(2)?,
        last_event_id: r.try_get(3)?,
        last_event_created: r.try_get(4)?,
    })
}

/// Every dirty mark of one kind (a list sweep reads them all at once).
pub(crate) async fn dirty_of_kind(store: &Store, kind: Kind) -> Result<Vec<Dirty>, StoreError> {
    let rows = sqlx::query(
        "SELECT object_id, kind, generation, last_event_id, last_event_created FROM dirty_objects WHERE kind = $1",
    )
    .bind(kind.as_str())
    .fetch_all(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    rows.iter()
        .map(dirty_from)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| store.err(e))
}

/// What reading one kind's dirty objects would cost: one read each, or Stripe's list (100 a
/// page) of every object, or of those created since the oldest dirty one the store knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepCost {
    pub dirty: u64,
    /// Dirty objects the store does not hold yet (their creation time is unknown).
    pub unknown: u64,
    /// The oldest creation time among the dirty objects the store holds.
    pub min_created: Option<i64>,
    /// Pages to list every object of the kind the store holds (and one more).
    pub full_pages: u64,
    /// Pages to list those created at or after `min_created`.
    pub narrowed_pages: u64,
}

/// The table and columns a kind's list sweep is costed against.
fn sweep_table(kind: Kind) -> Option<(&'static str, &'static str)> {
    match kind {
        Kind::Subscription => Some(("org_subscriptions", "stripe_subscription_id")),
        Kind::Customer => Some(("customers", "stripe_id")),
        _ => None,
    }
}

pub(crate) async fn sweep_cost(store: &Store, kind: Kind) -> Result<Option<SweepCost>, StoreError> {
    let Some((table, id)) = sweep_table(kind) else {
        return Ok(None);
    };
    let e = |e| store.err(e);
    let row = sqlx::query(&format!(
        "SELECT count(*), count(t.{id}), min(t.created) FROM dirty_objects d LEFT JOIN {table} t ON t.{id} = d.object_id WHERE d.kind = $1"
    ))
    .bind(kind.as_str())
    .fetch_one(store.pool())
    .await
    .map_err(e)?;
    let dirty: i64 = row.try_get(0).map_err(e)?;
    let known: i64 = row.try_get(1).map_err(e)?;
    let min_created: Option<i64> = row.try_get(2).map_err(e)?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .map_err(e)?;
    let narrowed: i64 = match min_created {
        Some(m) => sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE created >= $1"))
            .bind(m)
            .fetch_one(store.pool())
            .await
            .map_err(e)?,
        None => 0,
    };
    let pages = |n: i64| n as u64 / 100 + 1;
    Ok(Some(SweepCost {
        dirty: dirty as u64,
        unknown: (dirty - known) as u64,
        min_created,
        full_pages: pages(total),
        narrowed_pages: pages(narrowed),
    }))
}

/// The sync issues that are objects left out of the mirror: what could not be read, or came
/// with a value Tollgate does not know.
pub const SKIPPED_KINDS: [&str; 2] = ["unreadable", "unknown_value"];

impl Store {
    /// Objects the mirror left out, now (see [`SKIPPED_KINDS`]).
    pub async fn skipped_count(&self) -> Result<u64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sync_issues WHERE kind IN ($1, $2)")
            .bind(SKIPPED_KINDS[0])
            .bind(SKIPPED_KINDS[1])
            .fetch_one(self.pool())
            .await
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Objects still waiting for a read from Stripe.
    pub async fn dirty_count(&self) -> Result<u64, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dirty_objects")
            .fetch_one(self.pool())
            .await
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }
}

/// Clears marks, in the door's order (kind, then id), so the rows of a settle and of a door
/// group are always locked in one order.
pub(crate) async fn clear_dirty_all(tx: &mut Tx, marks: &mut [Dirty]) -> Result<(), sqlx::Error> {
    marks.sort_by(|a, b| (a.kind, &a.object_id).cmp(&(b.kind, &b.object_id)));
    for d in marks.iter() {
        clear_dirty(tx, d).await?;
    }
    Ok(())
}

/// Clears a mark if no event arrived since the read began.
pub(crate) async fn clear_dirty(tx: &mut Tx, d: &Dirty) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM dirty_objects WHERE object_id = $1 AND kind = $2 AND generation = $3")
        .bind(&d.object_id)
        .bind(d.kind.as_str())
        .bind(d.generation)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) async fn dirty_failed(
    store: &Store,
    d: &Dirty,
    error: &str,
    count_attempt: bool,
) -> Result<(), StoreError> {
    let mut tx = store.append("settle: failed read").await?;
    sqlx::query("UPDATE dirty_objects SET attempts = attempts + $1, last_error = $2 WHERE object_id = $3 AND kind = $4")
        .bind(count_attempt as i64)
        .bind(error)
        .bind(&d.object_id)
        .bind(d.kind.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| store.err(e))?;
    tx.commit().await
}

/// The recorded payloads of an object's events, oldest first, for applying while offline.
pub(crate) async fn payloads_for(
    store: &Store,
    kind: Kind,
    id: &str,
) -> Result<Vec<(String, i64, i64)>, StoreError> {
    // A subscription's own events (customer.subscription.*) carry it as their object.
    let col = match kind {
        Kind::Customer | Kind::Entitlements => "customer_id",
        _ => "object_id",
    };
    let sql = format!("SELECT payload, created, received_at, event_type, payload_z FROM stripe_events WHERE {col} = $1 AND compacted_at IS NULL ORDER BY created, event_id");
    let rows = sqlx::query(&sql)
        .bind(id)
        .fetch_all(store.pool())
        .await
        .map_err(|e| store.err(e))?;
    let mut out = Vec::new();
    for r in rows {
        let t: String = r.try_get(3).map_err(|e| store.err(e))?;
        let wanted = match kind {
            Kind::Subscription => t.starts_with("customer.subscription."),
            Kind::Customer => {
                t.starts_with("customer.") && !t.starts_with("customer.subscription.")
            }
            Kind::Entitlements => t.starts_with("entitlements.active_entitlement_summary."),
            _ => false,
        };
        if wanted {
            // Kept deflated on SQLite once a day old (store::compact).
            let z: Option<Vec<u8>> = r.try_get(4).map_err(|e| store.err(e))?;
            let payload = match z {
                Some(z) => super::compact::unpack(&z).map_err(|detail| StoreError::Other {
                    location: store.location().to_owned(),
                    detail,
                })?,
                None => r.try_get(0).map_err(|e| store.err(e))?,
            };
            out.push((
                payload,
                r.try_get(1).map_err(|e| store.err(e))?,
                r.try_get(2).map_err(|e| store.err(e))?,
            ));
        }
    }
    Ok(out)
}

pub(crate) async fn record_issue(
    tx: &mut Tx,
    object_id: &str,
    kind: &str,
    detail: &str,
    event_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_seconds();
    sqlx::query(
        "INSERT INTO sync_issues (object_id, kind, detail, event_id, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (object_id) DO UPDATE SET kind = excluded.kind, detail = excluded.detail, event_id = COALESCE(excluded.event_id, sync_issues.event_id), last_seen = excluded.last_seen",
    )
    .bind(object_id)
    .bind(kind)
    .bind(detail)
    .bind(event_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a panic caught in the receiver or the settle task as a sync issue (one row per
/// place, its count in the detail), so the screen shows it; the task goes on.
pub async fn record_panic(store: &Store, place: &str, detail: &str) -> Result<(), StoreError> {
    let mut tx = store.append("sync issue: panic").await?;
    record_issue(&mut tx, &format!("panic:{place}"), "panic", detail, None)
        .await
        .map_err(|e| store.err(e))?;
    tx.commit().await
}

pub(crate) async fn resolve_issue(tx: &mut Tx, object_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sync_issues WHERE object_id = $1")
        .bind(object_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn search_text(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|s| s.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a customer and the organization it bills for; relinks its subscriptions.
pub(crate) async fn write_customer(
    tx: &mut Tx,
    c: &Customer,
    stamp: Stamp,
) -> Result<Outcome, sqlx::Error> {
    let held = sqlx::query(
        "SELECT confirmed, watermark, fetched_ms, org_id FROM customers WHERE stripe_id = $1",
    )
    .bind(&c.id)
    .fetch_optional(&mut **tx)
    .await?;
    let mut previous_org: Option<String> = None;
    if let Some(r) = &held {
        let h = Held {
            confirmed: r.try_get::<i64, _>(0)? == 1,
            watermark: r.try_get(1)?,
            as_of_ms: r.try_get(2)?,
            rank: 0,
            terminal: false,
        };
        if !wins(&h, stamp, 0, false) {
            return Ok(Outcome::Stale);
        }
        previous_org = r.try_get(3)?;
    }
    let now = now_seconds();
    let org = c.org_id().to_owned();
    let name = c
        .name
        .clone()
        .or_else(|| c.email.clone())
        .unwrap_or_else(|| c.id.clone());
    sqlx::query("UPDATE organizations SET stripe_customer_id = NULL WHERE stripe_customer_id = $1 AND id <> $2")
        .bind(&c.id)
        .bind(&org)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO organizations (id, name, email, stripe_customer_id, org_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, stripe_customer_id = COALESCE(organizations.stripe_customer_id, excluded.stripe_customer_id), org_key = excluded.org_key, updated_at = excluded.updated_at",
    )
    .bind(&org)
    .bind(&name)
    .bind(c.email.clone())
    .bind(&c.id)
    .bind(c.org.as_ref().map(|(_, k)| k.clone()))
    .bind(if c.created > 0 { c.created } else { now })
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO customers (stripe_id, org_id, name, email, metadata, deleted, livemode, created, confirmed, watermark, fetched_ms, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (stripe_id) DO UPDATE SET org_id = excluded.org_id, name = excluded.name, email = excluded.email, metadata = excluded.metadata, deleted = excluded.deleted,
           confirmed = excluded.confirmed, watermark = CASE WHEN excluded.watermark > customers.watermark THEN excluded.watermark ELSE customers.watermark END, fetched_ms = excluded.fetched_ms, updated_at = excluded.updated_at",
    )
    .bind(&c.id)
    .bind(&org)
    .bind(c.name.clone())
    .bind(c.email.clone())
    .bind(&c.metadata)
    .bind(c.deleted as i64)
    .bind(c.livemode as i64)
    .bind(c.created)
    .bind(stamp.confirmed() as i64)
    .bind(stamp.watermark())
    .bind(stamp.as_of())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    resolve_issue(tx, &c.id).await?;
    // Subscriptions of this customer follow it to its organization.
    let subs = sqlx::query("SELECT stripe_subscription_id, stripe_price_id, stripe_product_id FROM org_subscriptions WHERE stripe_customer_id = $1")
        .bind(&c.id)
        .fetch_all(&mut **tx)
        .await?;
    for r in subs {
        let (sid, price, product): (String, Option<String>, Option<String>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        sqlx::query("UPDATE org_subscriptions SET org_id = $1, org_name = $2, email = $3, search = $4 WHERE stripe_subscription_id = $5")
            .bind(&org)
            .bind(&name)
            .bind(c.email.clone())
            .bind(search_text(&[Some(&name), c.email.as_deref(), Some(&sid), Some(&c.id), price.as_deref(), product.as_deref(), Some(&org)]))
            .bind(&sid)
            .execute(&mut **tx)
            .await?;
        resolve_issue(tx, &sid).await?;
    }
    recompute_access(tx, &org, None).await?;
    if let Some(prev) = previous_org.filter(|p| *p != org) {
        recompute_access(tx, &prev, None).await?;
    }
    Ok(Outcome::Applied)
}

/// The prices of a subscription's items, from the `items` column (`[{"price", "quantity"}]`).
pub(crate) fn item_prices(items: Option<&str>) -> Vec<String> {
    items
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|v| {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|i| i["price"].as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Subscriptions of Stripe's, each read back at `as_of` after events up to its watermark, that
/// the store already holds as they are (its copy confirmed, the same [`Subscription::digest`],
/// and the read would win): their watermarks and read time move, in one statement, and
/// nothing else is written (no timeline entry, no access to derive again). A settle after a
/// burst of events that changed nothing the store keeps (invoice events, Stripe's repeats)
/// is then one small write per transaction. Returns their ids; the others go through
/// [`write_subscription`].
pub(crate) async fn confirm_unchanged_subscriptions(
    tx: &mut Tx,
    subs: &[(&Subscription, i64)],
    as_of: i64,
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    if subs.is_empty() {
        return Ok(Default::default());
    }
    let backend = super::Backend::of(tx);
    let sql = format!(
        "SELECT stripe_subscription_id, confirmed, watermark, fetched_ms, status_rank, subscription_status, digest
         FROM org_subscriptions WHERE stripe_subscription_id IN ({})",
        super::bind_list(backend, 1, subs.len())
    );
    let mut q = sqlx::query(&sql);
    for (s, _) in subs {
        q = q.bind(&s.id);
    }
    let by_id: HashMap<&str, (&Subscription, i64)> = subs
        .iter()
        .map(|(s, w)| (s.id.as_str(), (*s, *w)))
        .collect();
    let mut rows: Vec<(String, i64)> = Vec::new();
    for r in q.fetch_all(&mut **tx).await? {
        let id: String = r.try_get(0)?;
        let Some(&(s, watermark)) = by_id.get(id.as_str()) else {
            continue;
        };
        let (held, _, digest) = held_subscription(&r, 1)?;
        let stamp = Stamp::Confirmed {
            watermark,
            as_of_ms: as_of,
        };
        if reads_unchanged(&held, digest.as_deref(), s, &s.digest(), stamp) {
            rows.push((id, watermark));
        }
    }
    move_watermarks(tx, &rows, as_of).await?;
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}

/// A mirrored subscription row's ordering state, its status and its digest, read from the
/// columns `confirmed, watermark, fetched_ms, status_rank, subscription_status, digest`
/// starting at `at`.
fn held_subscription(
    r: &sqlx::any::AnyRow,
    at: usize,
) -> Result<(Held, String, Option<String>), sqlx::Error> {
    let status: String = r.try_get(at + 4)?;
    let held = Held {
        confirmed: r.try_get::<i64, _>(at)? == 1,
        watermark: r.try_get(at + 1)?,
        as_of_ms: r.try_get(at + 2)?,
        rank: r.try_get(at + 3)?,
        terminal: is_terminal(&status),
    };
    Ok((held, status, r.try_get(at + 5)?))
}

/// Stripe's copy, read under `stamp`, is what the store holds: the held row is confirmed,
/// the digests are equal, and the read would win.
fn reads_unchanged(
    held: &Held,
    held_digest: Option<&str>,
    s: &Subscription,
    digest: &str,
    stamp: Stamp,
) -> bool {
    held.confirmed
        && stamp.confirmed()
        && held_digest == Some(digest)
        && wins(held, stamp, status_rank(&s.status), is_terminal(&s.status))
}

/// Moves the watermarks of unchanged subscriptions (id, newest event) and their read time.
async fn move_watermarks(
    tx: &mut Tx,
    rows: &[(String, i64)],
    as_of: i64,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = super::Backend::of(tx);
    let sql = format!(
        "WITH v (id, w) AS (VALUES {})
         UPDATE org_subscriptions SET fetched_ms = {},
           watermark = CASE WHEN v.w > org_subscriptions.watermark THEN v.w ELSE org_subscriptions.watermark END
         FROM v WHERE org_subscriptions.stripe_subscription_id = v.id",
        super::values_rows(backend, rows.len(), 2),
        super::bind_list(backend, rows.len() * 2 + 1, 1)
    );
    let mut q = sqlx::query(&sql);
    for (id, w) in rows {
        q = q.bind(id).bind(*w);
    }
    q.bind(as_of).execute(&mut **tx).await?;
    Ok(())
}

/// Writes a subscription under the ordering rules; records what changed in the org's timeline
/// and re-derives the org's access. A copy the store already holds only moves the watermark
/// (see [`confirm_unchanged_subscriptions`]).
pub(crate) async fn write_subscription(
    tx: &mut Tx,
    s: &Subscription,
    stamp: Stamp,
    event_id: Option<&str>,
) -> Result<Outcome, sqlx::Error> {
    let rank = status_rank(&s.status);
    let digest = s.digest();
    let held = sqlx::query("SELECT confirmed, watermark, fetched_ms, status_rank, subscription_status, digest, stripe_price_id, cancel_at_period_end, org_id FROM org_subscriptions WHERE stripe_subscription_id = $1")
        .bind(&s.id)
        .fetch_optional(&mut **tx)
        .await?;
    let mut before: Option<(String, Option<String>, bool, Option<String>)> = None;
    if let Some(r) = &held {
        let (h, status, held_digest) = held_subscription(r, 0)?;
        if !wins(&h, stamp, rank, is_terminal(&s.status)) {
            return Ok(Outcome::Stale);
        }
        if reads_unchanged(&h, held_digest.as_deref(), s, &digest, stamp) {
            move_watermarks(tx, &[(s.id.clone(), stamp.watermark())], stamp.as_of()).await?;
            return Ok(Outcome::Applied);
        }
        before = Some((
            status,
            r.try_get(6)?,
            r.try_get::<i64, _>(7)? == 1,
            r.try_get(8)?,
        ));
    }
    let customer = sqlx::query("SELECT c.org_id, o.name, c.email FROM customers c JOIN organizations o ON o.id = c.org_id WHERE c.stripe_id = $1")
        .bind(&s.customer)
        .fetch_optional(&mut **tx)
        .await?;
    let (org, org_name, email): (Option<String>, Option<String>, Option<String>) = match &customer {
        Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
        None => (None, None, None),
    };
    let item = s.price();
    let price_id = item.map(|i| i.price.clone());
    let plan = match &price_id {
        Some(p) => sqlx::query("SELECT tier, plan_type, commission_rate_bps, product_id FROM prices WHERE stripe_id = $1")
            .bind(p)
            .fetch_optional(&mut **tx)
            .await?,
        None => None,
    };
    let (tier, plan_type, bps, catalog_product): (
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    ) = match &plan {
        Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?),
        None => (None, None, None, None),
    };
    let product = item.and_then(|i| i.product.clone()).or(catalog_product);
    let items = serde_json::Value::Array(
        s.items
            .iter()
            .map(|i| serde_json::json!({"price": i.price, "quantity": i.quantity}))
            .collect(),
    )
    .to_string();
    let search = search_text(&[
        org_name.as_deref(),
        email.as_deref(),
        Some(&s.id),
        Some(&s.customer),
        price_id.as_deref(),
        product.as_deref(),
        org.as_deref(),
    ]);
    let now = now_seconds();
    sqlx::query(
        "INSERT INTO org_subscriptions (stripe_subscription_id, stripe_customer_id, org_id, org_name, email, stripe_price_id, stripe_product_id, items, tier, plan_type, billing_interval, interval_count, amount, currency, commission_rate_bps,
            subscription_status, status_rank, current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end, start_date, created, metadata, livemode, search, confirmed, watermark, fetched_ms, updated_at, digest)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33)
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET stripe_customer_id = excluded.stripe_customer_id, org_id = excluded.org_id, org_name = excluded.org_name, email = excluded.email,
            stripe_price_id = excluded.stripe_price_id, stripe_product_id = excluded.stripe_product_id, items = excluded.items, tier = excluded.tier, plan_type = excluded.plan_type,
            billing_interval = excluded.billing_interval, interval_count = excluded.interval_count, amount = excluded.amount, currency = excluded.currency, commission_rate_bps = excluded.commission_rate_bps,
            subscription_status = excluded.subscription_status, status_rank = excluded.status_rank, current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
            cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at, ended_at = excluded.ended_at, trial_end = excluded.trial_end, start_date = excluded.start_date,
            metadata = excluded.metadata, search = excluded.search, confirmed = excluded.confirmed,
            watermark = CASE WHEN excluded.watermark > org_subscriptions.watermark THEN excluded.watermark ELSE org_subscriptions.watermark END,
            fetched_ms = excluded.fetched_ms, updated_at = excluded.updated_at, digest = excluded.digest",
    )
    .bind(&s.id)
    .bind(&s.customer)
    .bind(org.clone())
    .bind(org_name)
    .bind(email)
    .bind(price_id.clone())
    .bind(product)
    .bind(items)
    .bind(tier)
    .bind(plan_type)
    .bind(item.and_then(|i| i.interval.clone()))
    .bind(item.and_then(|i| i.interval_count))
    .bind(s.amount())
    .bind(item.and_then(|i| i.currency.clone()))
    .bind(bps)
    .bind(&s.status)
    .bind(rank)
    .bind(s.current_period_start)
    .bind(s.current_period_end)
    .bind(s.cancel_at_period_end as i64)
    .bind(s.canceled_at)
    .bind(s.ended_at)
    .bind(s.trial_end)
    .bind(s.start_date)
    .bind(s.created)
    .bind(&s.metadata)
    .bind(s.livemode as i64)
    .bind(search)
    .bind(stamp.confirmed() as i64)
    .bind(stamp.watermark())
    .bind(stamp.as_of())
    .bind(now)
    .bind(digest)
    .execute(&mut **tx)
    .await?;
    // The timeline: what changed, not which event said so.
    let mut changes: Vec<(
        &str,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )> = Vec::new();
    match &before {
        None => changes.push((
            "created",
            None,
            Some(s.status.clone()),
            None,
            price_id.clone(),
        )),
        Some((status, price, cape, _)) => {
            if *status != s.status {
                changes.push((
                    "status",
                    Some(status.clone()),
                    Some(s.status.clone()),
                    None,
                    None,
                ));
            }
            if *price != price_id {
                changes.push(("plan", None, None, price.clone(), price_id.clone()));
            }
            if *cape != s.cancel_at_period_end {
                changes.push((
                    "cancel_at_period_end",
                    None,
                    Some(s.cancel_at_period_end.to_string()),
                    None,
                    None,
                ));
            }
        }
    }
    for (change, ps, ns, pp, np) in changes {
        // Learned twice (two processes, a re-read), a change is still one row.
        sqlx::query("INSERT INTO subscription_events (org_id, stripe_customer_id, stripe_subscription_id, stripe_event_id, change, previous_status, new_status, previous_price, new_price, occurred_at, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT DO NOTHING")
            .bind(org.clone())
            .bind(&s.customer)
            .bind(&s.id)
            .bind(event_id)
            .bind(change)
            .bind(ps)
            .bind(ns)
            .bind(pp)
            .bind(np)
            .bind(if change == "created" { s.created } else { stamp.watermark().max(s.created) })
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    match &org {
        Some(o) => {
            resolve_issue(tx, &s.id).await?;
            if !crate::sync::objects::is_known_status(&s.status) {
                // Kept as it came; what it means for access is not guessed.
                record_issue(
                    tx,
                    &s.id,
                    "unknown_value",
                    &format!(
                        "subscription {} has status {:?}, which this version of Tollgate does not know: it is stored and shown as it came, and its PlatformAccess is left as it was",
                        s.id, s.status
                    ),
                    event_id,
                )
                .await?;
            }
            recompute_access(tx, o, event_id).await?;
        }
        None => {
            // Read the customer, to place the subscription under its organization.
            mark_dirty(tx, Kind::Customer, &s.customer, stamp.watermark()).await?;
            record_issue(
                tx,
                &s.id,
                "unknown_customer",
                &format!(
                    "subscription {} belongs to customer {}, which the store does not know",
                    s.id, s.customer
                ),
                event_id,
            )
            .await?;
        }
    }
    if let Some((_, _, _, Some(prev))) = before.filter(|b| b.3 != org) {
        recompute_access(tx, &prev, event_id).await?;
    }
    Ok(Outcome::Applied)
}

pub(crate) async fn write_purchase(tx: &mut Tx, p: &Purchase) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO purchases (checkout_session_id, stripe_customer_id, stripe_price_id, amount, currency, completed_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
         ON CONFLICT (checkout_session_id) DO NOTHING",
    )
    .bind(&p.session)
    .bind(&p.customer)
    .bind(&p.price)
    .bind(p.amount)
    .bind(p.currency.clone())
    .bind(p.completed_at)
    .bind(now_seconds())
    .execute(&mut **tx)
    .await?;
    let org: Option<String> =
        sqlx::query_scalar("SELECT org_id FROM customers WHERE stripe_id = $1")
            .bind(&p.customer)
            .fetch_optional(&mut **tx)
            .await?;
    match org {
        Some(org) => recompute_access(tx, &org, None).await?,
        // Read the customer; writing it places the purchase under its organization.
        None => mark_dirty(tx, Kind::Customer, &p.customer, p.completed_at).await?,
    }
    Ok(())
}

/// Replaces a customer's active entitlements with Stripe's list, unless a newer one is held.
pub(crate) async fn write_entitlements(
    tx: &mut Tx,
    customer: &str,
    list: &[(String, String)],
    watermark: i64,
) -> Result<Outcome, sqlx::Error> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT max(watermark) FROM customer_entitlements WHERE stripe_customer_id = $1",
    )
    .bind(customer)
    .fetch_one(&mut **tx)
    .await?;
    if held.is_some_and(|h| h > watermark) {
        return Ok(Outcome::Stale);
    }
    sqlx::query("DELETE FROM customer_entitlements WHERE stripe_customer_id = $1")
        .bind(customer)
        .execute(&mut **tx)
        .await?;
    for (feature, key) in list {
        sqlx::query("INSERT INTO customer_entitlements (stripe_customer_id, feature_id, lookup_key, watermark) VALUES ($1, $2, $3, $4) ON CONFLICT (stripe_customer_id, feature_id) DO NOTHING")
            .bind(customer)
            .bind(feature)
            .bind(key)
            .bind(watermark)
            .execute(&mut **tx)
            .await?;
    }
    Ok(Outcome::Applied)
}

/// Re-derives an organization's PlatformAccess rows from its current rows; appends history
/// for each row that changed.
pub(crate) async fn recompute_access(
    tx: &mut Tx,
    org: &str,
    cause: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut subs = Vec::new();
    for r in sqlx::query("SELECT stripe_subscription_id, stripe_price_id, subscription_status, start_date, ended_at, canceled_at, items FROM org_subscriptions WHERE org_id = $1 AND stripe_price_id IS NOT NULL")
        .bind(org)
        .fetch_all(&mut **tx)
        .await?
    {
        let s = access::SubFacts { id: r.try_get(0)?, price: r.try_get(1)?, status: r.try_get(2)?, start_date: r.try_get(3)?, ended_at: r.try_get(4)?, canceled_at: r.try_get(5)? };
        subs.extend(access::per_item(&s, &item_prices(r.try_get::<Option<String>, _>(6)?.as_deref())));
    }
    let purchases = sqlx::query("SELECT p.stripe_price_id, p.completed_at FROM purchases p JOIN customers c ON c.stripe_id = p.stripe_customer_id WHERE c.org_id = $1")
        .bind(org)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok(access::PurchaseFacts { price: r.try_get(0)?, completed_at: r.try_get(1)? }))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let overrides =
        sqlx::query("SELECT plan_id, status, at FROM access_overrides WHERE org_id = $1")
            .bind(org)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| {
                Ok(access::Override {
                    plan: r.try_get(0)?,
                    status: AccessStatus::parse(&r.try_get::<String, _>(1)?)
                        .unwrap_or(AccessStatus::Canceled),
                    at: r.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let held: HashMap<String, Access> = sqlx::query("SELECT plan_id, status, started_at, ended_at, stripe_subscription_id, source FROM platform_access WHERE org_id = $1")
        .bind(org)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| {
            let plan: String = r.try_get(0)?;
            Ok((
                plan.clone(),
                Access {
                    plan,
                    status: AccessStatus::parse(&r.try_get::<String, _>(1)?).unwrap_or(AccessStatus::Canceled),
                    started_at: r.try_get(2)?,
                    ended_at: r.try_get(3)?,
                    subscription: r.try_get(4)?,
                    source: AccessSource::parse(&r.try_get::<String, _>(5)?),
                },
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let kept: Vec<Access> = held.values().cloned().collect();
    let want: HashMap<String, Access> =
        access::derive_keeping(&subs, &purchases, &overrides, &kept)
            .into_iter()
            .map(|a| (a.plan.clone(), a))
            .collect();
    let now = now_seconds();
    for (plan, a) in &want {
        if held.get(plan) == Some(a) {
            continue;
        }
        sqlx::query(
            "INSERT INTO platform_access (org_id, plan_id, status, started_at, ended_at, stripe_subscription_id, source, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
             ON CONFLICT (org_id, plan_id) DO UPDATE SET status = excluded.status, started_at = excluded.started_at, ended_at = excluded.ended_at, stripe_subscription_id = excluded.stripe_subscription_id, source = excluded.source, updated_at = excluded.updated_at",
        )
        .bind(org)
        .bind(plan)
        .bind(a.status.as_str())
        .bind(a.started_at)
        .bind(a.ended_at)
        .bind(a.subscription.clone())
        .bind(a.source.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if held.get(plan).map(|h| (h.status, h.ended_at, h.source))
            != Some((a.status, a.ended_at, a.source))
        {
            history(
                tx,
                org,
                plan,
                Some(a.status),
                a.ended_at,
                Some(a.source),
                cause,
                now,
            )
            .await?;
        }
    }
    for plan in held.keys().filter(|p| !want.contains_key(*p)) {
        sqlx::query("DELETE FROM platform_access WHERE org_id = $1 AND plan_id = $2")
            .bind(org)
            .bind(plan)
            .execute(&mut **tx)
            .await?;
        history(tx, org, plan, None, None, None, cause, now).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn history(
    tx: &mut Tx,
    org: &str,
    plan: &str,
    status: Option<AccessStatus>,
    ended_at: Option<i64>,
    source: Option<AccessSource>,
    cause: Option<&str>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO platform_access_history (org_id, plan_id, status, ended_at, source, cause, at) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING")
        .bind(org)
        .bind(plan)
        .bind(status.map(AccessStatus::as_str))
        .bind(ended_at)
        .bind(source.map(AccessSource::as_str))
        .bind(cause)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Sets or clears a manual override; the caller writes the audit entry.
pub(crate) async fn set_override(
    tx: &mut Tx,
    org: &str,
    plan: &str,
    status: Option<AccessStatus>,
    reason: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    match status {
        Some(s) => {
            sqlx::query(
                "INSERT INTO access_overrides (org_id, plan_id, status, reason, actor, at) VALUES ($1,$2,$3,$4,$5,$6)
                 ON CONFLICT (org_id, plan_id) DO UPDATE SET status = excluded.status, reason = excluded.reason, actor = excluded.actor, at = excluded.at",
            )
            .bind(org)
            .bind(plan)
            .bind(s.as_str())
            .bind(reason)
            .bind(actor)
            .bind(now_seconds())
            .execute(&mut **tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM access_overrides WHERE org_id = $1 AND plan_id = $2")
                .bind(org)
                .bind(plan)
                .execute(&mut **tx)
                .await?;
        }
    }
    recompute_access(tx, org, Some(&format!("manual: {reason}"))).await
}

/// Re-derives every organization's access and every subscription's plan columns (after a
/// backfill, or a catalog change that gave prices their tiers).
pub(crate) async fn refresh_plan_columns(tx: &mut Tx) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE org_subscriptions SET tier = (SELECT tier FROM prices WHERE prices.stripe_id = org_subscriptions.stripe_price_id),
           plan_type = (SELECT plan_type FROM prices WHERE prices.stripe_id = org_subscriptions.stripe_price_id),
           commission_rate_bps = (SELECT commission_rate_bps FROM prices WHERE prices.stripe_id = org_subscriptions.stripe_price_id)
         WHERE stripe_price_id IN (SELECT stripe_id FROM prices)",
    )
    .execute(&mut **tx)
    .await?;
    // A plan type and tier seen for the first time takes its price's commission rate.
    super::ledger::seed_rates(tx).await?;
    Ok(())
}

pub(crate) async fn cursor(
    store: &Store,
    name: &str,
) -> Result<Option<(Option<i64>, Option<String>, i64)>, StoreError> {
    let r = sqlx::query(
        "SELECT last_event_created, last_event_id, updated_at FROM sync_cursors WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(store.pool())
    .await
    .map_err(|e| store.err(e))?;
    r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
        .map_err(|e: sqlx::Error| store.err(e))
}

pub(crate) async fn set_cursor(
    tx: &mut Tx,
    name: &str,
    created: Option<i64>,
    id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sync_cursors (name, last_event_created, last_event_id, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET last_event_created = excluded.last_event_created, last_event_id = excluded.last_event_id, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(created)
    .bind(id)
    .bind(now_seconds())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn delete_cursors(tx: &mut Tx, prefix: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sync_cursors WHERE name LIKE $1")
        .bind(format!("{prefix}%"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
