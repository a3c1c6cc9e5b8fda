//! A ledger that stays small. Every event Stripe sends is kept, for de-duplication and the
//! timeline, but its raw payload only for a retention window: the payloads are what settle
//! applies while Stripe cannot be read, and Stripe itself keeps events for 30 days. Past the
//! window (35 days by default, setting `ledger_retention_days`) a payload is dropped and the
//! row keeps its id, type, created, and the object, customer and subscription ids. An event
//! whose object is still dirty keeps its payload until a read confirms the object. On SQLite,
//! payloads inside the window are kept deflated (`payload_z`) once they are a day old: Stripe's
//! JSON shrinks about sevenfold, and settle's offline fallback inflates what it applies.
//!
//! Compaction goes in batches of [`BATCH`] rows, each its own write transaction (the door
//! goes first between two), so a kill at any point leaves whole batches done and the next run
//! goes on from there. SQLite then gives the freed pages back to the file system: the store
//! is created with `auto_vacuum = INCREMENTAL`; a store made before that is converted by one
//! full `VACUUM` on its first compaction. Postgres reuses the space itself (autovacuum).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Backend, Store, StoreError};
use crate::domain::InputError;

/// Stripe keeps events 30 days; five more so a month's close never misses one.
pub const DEFAULT_RETENTION_DAYS: u32 = 35;
pub const MAX_RETENTION_DAYS: u32 = 3650;
pub const RETENTION_KEY: &str = "ledger_retention_days";
/// When the last compaction finished (Unix seconds): the app compacts once a day.
pub const COMPACTED_AT_KEY: &str = "ledger_compacted_at";
/// Rows per transaction.
pub const BATCH: i64 = 2000;
/// SQLite: a payload this old (and inside the window) is kept compressed.
pub const PACK_AFTER_SECS: i64 = 86_400;

/// A payload, deflated (what SQLite keeps in `payload_z`).
pub fn pack(payload: &str) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(payload.as_bytes(), 6)
}

/// A payload from `payload_z`.
pub fn unpack(z: &[u8]) -> Result<String, String> {
    let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(z, 8 * 1024 * 1024)
        .map_err(|e| format!("a compressed payload could not be read: {e:?}"))?;
    String::from_utf8(bytes).map_err(|e| format!("a compressed payload is not UTF-8: {e}"))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CompactReport {
    pub retention_days: u32,
    /// Events created before this (Unix seconds) lost their payloads.
    #[ts(type = "number")]
    pub cutoff: i64,
    /// Payloads dropped by this run.
    #[ts(type = "number")]
    pub compacted: u64,
    /// SQLite: payloads inside the window, a day old or more, kept compressed by this run.
    #[ts(type = "number")]
    pub packed: u64,
    /// Events past the window that keep their payloads: their object is still dirty.
    #[ts(type = "number")]
    pub kept_for_dirty: u64,
    /// Events in the ledger, and how many of them are compacted.
    #[ts(type = "number")]
    pub events: u64,
    #[ts(type = "number")]
    pub events_compacted: u64,
    /// SQLite: the file's size before and after (bytes); Postgres: the table's.
    #[ts(type = "number")]
    pub bytes_before: u64,
    #[ts(type = "number")]
    pub bytes_after: u64,
    /// How the space went back: "incremental vacuum", "full vacuum (first compaction)",
    /// "autovacuum (Postgres)", or "nothing to give back".
    pub vacuum: String,
    /// Stopped between two batches (the rest is done by the next run).
    pub cancelled: bool,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

/// A retention setting as the user typed it.
pub fn check_retention(days: i64) -> Result<u32, InputError> {
    if !(1..=MAX_RETENTION_DAYS as i64).contains(&days) {
        return Err(InputError::new(
            "retention_days",
            format!(
                "must be a whole number of days from 1 to {MAX_RETENTION_DAYS} (Stripe keeps events 30 days; {DEFAULT_RETENTION_DAYS} is the default), got {days}"
            ),
        ));
    }
    Ok(days as u32)
}

impl Store {
    pub async fn retention_days(&self) -> Result<u32, StoreError> {
        let raw = super::setting(self.pool(), RETENTION_KEY)
            .await
            .map_err(|e| self.err(e))?;
        Ok(raw
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|d| check_retention(d).ok())
            .unwrap_or(DEFAULT_RETENTION_DAYS))
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.write("settings").await?;
        super::put_setting(&mut tx, key, value)
            .await
            .map_err(|e| self.err(e))?;
        tx.commit().await
    }

    /// Seconds since the last compaction finished, if any ran.
    pub async fn compacted_ago(&self) -> Result<Option<i64>, StoreError> {
        let raw = super::setting(self.pool(), COMPACTED_AT_KEY)
            .await
            .map_err(|e| self.err(e))?;
        Ok(raw
            .and_then(|v| v.parse::<i64>().ok())
            .map(|at| super::now_seconds() - at))
    }

    async fn ledger_bytes(&self) -> Result<u64, StoreError> {
        let e = |e| self.err(e);
        Ok(match self.backend() {
            Backend::Sqlite => {
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(self.pool())
                    .await
                    .map_err(e)?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(self.pool())
                    .await
                    .map_err(e)?;
                (pages * size) as u64
            }
            Backend::Postgres => sqlx::query_scalar::<_, i64>(
                "SELECT pg_total_relation_size('stripe_events')::BIGINT",
            )
            .fetch_one(self.pool())
            .await
            .map_err(e)? as u64,
        })
    }

    /// Drops the payloads of events older than `retention_days` (see the module's doc).
    pub async fn compact_ledger(
        &self,
        retention_days: u32,
        cancel: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<CompactReport, StoreError> {
        let started = std::time::Instant::now();
        let e = |e| self.err(e);
        let now = super::now_seconds();
        let mut report = CompactReport {
            retention_days,
            cutoff: now - retention_days as i64 * 86_400,
            bytes_before: self.ledger_bytes().await?,
            ..Default::default()
        };
        // Past the window, not compacted yet, and nothing it touches still awaits a read.
        let not_dirty = "NOT EXISTS (SELECT 1 FROM dirty_objects d WHERE d.object_id = e.object_id)
             AND NOT EXISTS (SELECT 1 FROM dirty_objects d WHERE d.object_id = e.customer_id)
             AND NOT EXISTS (SELECT 1 FROM dirty_objects d WHERE d.object_id = e.subscription_id)";
        loop {
            if cancel() {
                report.cancelled = true;
                break;
            }
            let mut tx = self.write("ledger: compact").await?;
            // (rows this batch took, payloads dropped, payloads deflated)
            let (done, compacted, packed) = match self.backend() {
                // MVCC rewrites the row either way.
                Backend::Postgres => {
                    let n = sqlx::query(&format!(
                        "UPDATE stripe_events SET payload = '', compacted_at = $2 WHERE event_id IN (
                           SELECT e.event_id FROM stripe_events e
                           WHERE e.created < $1 AND e.compacted_at IS NULL AND {not_dirty} LIMIT {BATCH})"
                    ))
                    .bind(report.cutoff)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?
                    .rows_affected();
                    (n, n, 0)
                }
                // SQLite shrinks a row in place and leaves its page as full as it was: the
                // rows are taken out (emptied pages merge and go to the free list, which the
                // incremental vacuum then gives back) and put back small, packed together.
                // SQLite also keeps the payloads inside the window compressed once they are a
                // day old (Postgres compresses large values itself, TOAST).
                Backend::Sqlite => {
                    let batch: Vec<(String, i64)> = sqlx::query_as(&format!(
                        "SELECT e.event_id, CASE WHEN e.created < $1 AND {not_dirty} THEN 1 ELSE 0 END FROM stripe_events e
                         WHERE e.compacted_at IS NULL
                           AND ((e.payload_z IS NULL AND e.created < $2) OR (e.created < $1 AND {not_dirty}))
                         LIMIT {BATCH}"
                    ))
                    .bind(report.cutoff)
                    .bind(now - PACK_AFTER_SECS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(e)?;
                    let drop: std::collections::HashSet<&str> = batch
                        .iter()
                        .filter(|(_, d)| *d == 1)
                        .map(|(id, _)| id.as_str())
                        .collect();
                    type Row = (
                        String,
                        String,
                        i64,
                        i64,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                        String,
                        String,
                        i64,
                        String,
                        Option<Vec<u8>>,
                    );
                    let mut rows: Vec<Row> = Vec::with_capacity(batch.len());
                    for ids in batch.chunks(500) {
                        let sql = format!(
                            "DELETE FROM stripe_events WHERE event_id IN ({})
                             RETURNING event_id, event_type, created, livemode, api_version, object_id, customer_id, subscription_id, source, outcome, received_at, payload, payload_z",
                            super::bind_list(Backend::Sqlite, 1, ids.len())
                        );
                        let mut q = sqlx::query_as(&sql);
                        for (id, _) in ids {
                            q = q.bind(id);
                        }
                        rows.extend(q.fetch_all(&mut *tx).await.map_err(e)?);
                    }
                    for chunk in rows.chunks(500) {
                        let sql = format!(
                            "INSERT INTO stripe_events (event_id, event_type, created, livemode, api_version, object_id, customer_id, subscription_id, source, outcome, received_at, payload, payload_z, compacted_at) VALUES {}",
                            super::values_rows(Backend::Sqlite, chunk.len(), 14)
                        );
                        let mut q = sqlx::query(&sql);
                        for r in chunk {
                            let dropped = drop.contains(r.0.as_str());
                            let packed = if dropped {
                                None
                            } else {
                                Some(r.12.clone().unwrap_or_else(|| pack(&r.11)))
                            };
                            q = q
                                .bind(&r.0)
                                .bind(&r.1)
                                .bind(r.2)
                                .bind(r.3)
                                .bind(&r.4)
                                .bind(&r.5)
                                .bind(&r.6)
                                .bind(&r.7)
                                .bind(&r.8)
                                .bind(&r.9)
                                .bind(r.10)
                                .bind("")
                                .bind(packed)
                                .bind(dropped.then_some(now));
                        }
                        q.execute(&mut *tx).await.map_err(e)?;
                    }
                    let n = rows.len() as u64;
                    (n, drop.len() as u64, n - drop.len() as u64)
                }
            };
            tx.commit().await?;
            report.compacted += compacted;
            report.packed += packed;
            if done < BATCH as u64 {
                break;
            }
        }
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(compacted_at), count(CASE WHEN compacted_at IS NULL AND created < $1 THEN 1 END) FROM stripe_events",
        )
        .bind(report.cutoff)
        .fetch_one(self.pool())
        .await
        .map_err(e)?;
        (
            report.events,
            report.events_compacted,
            report.kept_for_dirty,
        ) = (row.0 as u64, row.1 as u64, row.2 as u64);
        report.vacuum = match self.backend() {
            Backend::Postgres => "autovacuum (Postgres)".into(),
            Backend::Sqlite => self.give_space_back().await?,
        };
        report.bytes_after = self.ledger_bytes().await?;
        if !report.cancelled {
            self.set_setting(COMPACTED_AT_KEY, &super::now_seconds().to_string())
                .await?;
        }
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// SQLite: frees the pages compaction emptied, then checkpoints so the file shrinks.
    async fn give_space_back(&self) -> Result<String, StoreError> {
        let e = |e| self.err(e);
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(self.pool())
            .await
            .map_err(e)?;
        let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
            .fetch_one(self.pool())
            .await
            .map_err(e)?;
        let how = if mode == 2 {
            if free == 0 {
                "nothing to give back".to_owned()
            } else {
                // A write: in line with the others, so it never meets a lock error.
                let mut tx = self.write("ledger: incremental vacuum").await?;
                sqlx::query("PRAGMA incremental_vacuum")
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
                tx.commit().await?;
                "incremental vacuum".to_owned()
            }
        } else {
            // Made before incremental vacuum was Tollgate's default: convert it, once.
            sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
                .execute(self.pool())
                .await
                .map_err(e)?;
            sqlx::query("VACUUM")
                .execute(self.pool())
                .await
                .map_err(e)?;
            "full vacuum (first compaction)".to_owned()
        };
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(self.pool())
            .await
            .map_err(e)?;
        Ok(how)
    }
}
