//! The one way to write to the store: [`Store::write`] (and [`Store::append`]) hand out a
//! [`Tx`] that already holds the write lock, so a write never trips over another.
//!
//! - **SQLite** has one writer at a time. A deferred `BEGIN` that reads and then writes while
//!   another connection commits fails with `SQLITE_BUSY_SNAPSHOT` (517), which no busy timeout
//!   absorbs. So every write transaction begins `BEGIN IMMEDIATE`, and inside one process the
//!   writers queue on a fair async lock first (a waiter holds no connection and is woken the
//!   moment the lock is free, instead of sleeping in SQLite's busy handler, which backs off up
//!   to 100 ms a try). Another process holding the lock is waited for, never reported as an
//!   error, until [`MAX_WAIT`]. Reads never wait: the file is in WAL mode.
//! - **Postgres** writes rows concurrently; what must not interleave is a read-compare-write
//!   of mirrored state (two processes that both see a subscription as new both record its
//!   creation). A `write` takes a transaction-scoped advisory lock on the store (its schema)
//!   first, so mirror writes of several processes run one after another, as on SQLite; an
//!   `append` (the event door, the audit log, the test-fire history: inserts keyed by natural
//!   ids) takes none.
//!
//! Waiting longer than a second is logged with what held the lock: the label of the
//! transaction in this process, or the other session (Postgres tells its application name).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;

use super::{classify, Backend, Store, StoreError};

/// How long a write waits for another process before it says so as an error.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Waits longer than this are logged, with the holder.
pub const SLOW_WAIT: Duration = Duration::from_secs(1);
/// How long other writers let the door go first before they take a turn regardless (so a
/// steady stream of deliveries still lets settle write).
pub const MAX_DEFER: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Append,
    Write,
    First,
}

/// The first key of every advisory lock Tollgate takes on Postgres ("Toll").
pub(crate) const ADVISORY_NAMESPACE: i32 = 0x546f_6c6c;

/// This process's writers of one store, in line.
pub(crate) struct WriteQueue {
    /// Off only to measure the alternative (`TOLLGATE_SQLITE_WRITE_QUEUE=off`, make bench):
    /// every writer then waits in SQLite's busy handler.
    queued: bool,
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Door writers waiting for a turn.
    first_waiting: AtomicUsize,
    holder: Mutex<Option<(&'static str, Instant)>>,
    /// Writes that waited over [`SLOW_WAIT`], for the figures.
    slow: AtomicU64,
}

impl Default for WriteQueue {
    fn default() -> Self {
        WriteQueue {
            queued: std::env::var("TOLLGATE_SQLITE_WRITE_QUEUE").as_deref() != Ok("off"),
            turn: Default::default(),
            first_waiting: Default::default(),
            holder: Default::default(),
            slow: Default::default(),
        }
    }
}

impl WriteQueue {
    fn holder(&self) -> String {
        match *self.holder.lock().expect("holder lock") {
            Some((label, since)) => {
                format!("{label} (for {} ms)", since.elapsed().as_millis())
            }
            None => "nothing in this process (another process, or a commit just ending)".into(),
        }
    }
}

/// A write transaction holding the store's write lock. Derefs to the connection, so SQL runs
/// on `&mut *tx`; dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    // Declared first: dropped (rolled back) before the turn is given up.
    inner: sqlx::Transaction<'static, sqlx::Any>,
    turn: Turn,
    store: Store,
}

/// A writer's place at the head of the line; leaving it clears the holder.
struct Turn {
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    queue: Arc<WriteQueue>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Ok(mut h) = self.queue.holder.lock() {
            *h = None;
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        let Tx { inner, turn, store } = self;
        let r = inner.commit().await.map_err(|e| store.err(e));
        drop(turn);
        r
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }
}

/// SQLITE_BUSY and its extended codes (517 BUSY_SNAPSHOT, 261 BUSY_RECOVERY), or SQLITE_LOCKED.
pub(crate) fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        _ => false,
    }
}

impl Store {
    /// A write transaction that runs alone among this store's writers (every process).
    pub async fn write(&self, label: &'static str) -> Result<Tx, StoreError> {
        self.begin_write(label, Mode::Write).await
    }

    /// [`Store::write`] for the event door, whose acknowledgments wait on it: in this process
    /// it goes before other writers (they wait up to [`MAX_DEFER`] for it, between their
    /// transactions), so a burst of deliveries is not held up by settle writing what an
    /// earlier event touched.
    pub async fn write_first(&self, label: &'static str) -> Result<Tx, StoreError> {
        self.begin_write(label, Mode::First).await
    }

    /// A write transaction for inserts that are safe side by side (keyed by natural ids, with
    /// `ON CONFLICT`): on Postgres it takes no store lock; on SQLite it is [`Store::write`].
    pub async fn append(&self, label: &'static str) -> Result<Tx, StoreError> {
        self.begin_write(label, Mode::Append).await
    }

    /// Writes that waited longer than a second for the lock, since the store was opened.
    pub fn slow_writes(&self) -> u64 {
        self.writes.slow.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This process's turn at writing (the fair lock), the door first. Cancel-safe: a writer
    /// dropped while it waits gives up its place and its claim to go first.
    async fn take_turn(&self, label: &'static str, first: bool) -> OwnedMutexGuard<()> {
        /// Counts a door writer as waiting for as long as it waits, however that ends.
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let queue = &self.writes;
        let started = Instant::now();
        let _waiting = first.then(|| {
            queue.first_waiting.fetch_add(1, Ordering::SeqCst);
            Waiting(&queue.first_waiting)
        });
        let mut told = false;
        loop {
            // One place in line, kept while the wait is logged.
            let acquire = queue.turn.clone().lock_owned();
            tokio::pin!(acquire);
            let guard = if told {
                acquire.await
            } else {
                tokio::select! {
                    g = &mut acquire => g,
                    _ = tokio::time::sleep(SLOW_WAIT.saturating_sub(started.elapsed())) => {
                        told = true;
                        tracing::warn!(
                            waiting_for = label,
                            held_by = %queue.holder(),
                            store = %self.location,
                            "store write lock: waiting over a second"
                        );
                        acquire.await
                    }
                }
            };
            if !first
                && queue.first_waiting.load(Ordering::SeqCst) > 0
                && started.elapsed() < MAX_DEFER
            {
                // The door is in line behind: let it go first.
                drop(guard);
                tokio::task::yield_now().await;
                continue;
            }
            return guard;
        }
    }

    async fn begin_write(&self, label: &'static str, mode: Mode) -> Result<Tx, StoreError> {
        let started = Instant::now();
        let queue = self.writes.clone();
        let in_line = queue.queued && (self.backend == Backend::Sqlite || mode != Mode::Append);
        let turn = match in_line {
            true => Some(self.take_turn(label, mode == Mode::First).await),
            false => None,
        };
        let inner = match self.backend {
            Backend::Sqlite => self.begin_immediate(label, started).await?,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
                if mode != Mode::Append {
                    self.advisory_xact_lock(&mut tx, label).await?;
                }
                tx
            }
        };
        let waited = started.elapsed();
        if waited > SLOW_WAIT {
            queue.slow.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                label,
                waited_ms = waited.as_millis() as u64,
                store = %self.location,
                "store write lock: got it after waiting"
            );
        }
        if turn.is_some() {
            *queue.holder.lock().expect("holder lock") = Some((label, Instant::now()));
        }
        Ok(Tx {
            inner,
            turn: Turn {
                _guard: turn,
                queue,
            },
            store: self.clone(),
        })
    }

    /// `BEGIN IMMEDIATE`, waiting for another process however long it writes (up to
    /// [`MAX_WAIT`]): each try waits out the busy timeout inside SQLite.
    async fn begin_immediate(
        &self,
        label: &'static str,
        started: Instant,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let mut told = false;
        loop {
            match self.pool.begin_with("BEGIN IMMEDIATE").await {
                Ok(tx) => return Ok(tx),
                Err(e) if is_sqlite_busy(&e) => {
                    if started.elapsed() > MAX_WAIT {
                        return Err(StoreError::Busy {
                            location: self.location.clone(),
                            detail: format!(
                                "another process has held the write lock for over {} s",
                                MAX_WAIT.as_secs()
                            ),
                        });
                    }
                    if !told {
                        told = true;
                        tracing::warn!(
                            waiting_for = label,
                            store = %self.location,
                            "store write lock: another process is writing; waiting"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(classify(self.backend, &self.location, e)),
            }
        }
    }

    /// The store's advisory lock for this transaction; a wait over a second is logged with the
    /// session holding it.
    async fn advisory_xact_lock(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        label: &'static str,
    ) -> Result<(), StoreError> {
        let key = self.advisory_key("write");
        // The function returns `void`, which the Any driver cannot decode: count it instead.
        let lock = sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_xact_lock($1, $2)) AS l")
            .bind(ADVISORY_NAMESPACE)
            .bind(key)
            .execute(&mut **tx);
        tokio::pin!(lock);
        let r = match tokio::time::timeout(SLOW_WAIT, &mut lock).await {
            Ok(r) => r,
            Err(_) => {
                let holder = self.advisory_holder(key).await;
                tracing::warn!(
                    waiting_for = label,
                    held_by = %holder,
                    store = %self.location,
                    "store write lock: waiting over a second"
                );
                lock.await
            }
        };
        r.map(|_| ()).map_err(|e| self.err(e))
    }

    /// The second key of an advisory lock named `name` on this store: schemas of one database
    /// are separate stores (the tests run in one schema each).
    pub(crate) fn advisory_key(&self, name: &str) -> i32 {
        // FNV-1a over the schema and the name: stable across processes and builds.
        let mut h: u32 = 0x811c_9dc5;
        for b in self.schema.bytes().chain([b':']).chain(name.bytes()) {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
        h as i32
    }

    /// Who holds the advisory lock `(ADVISORY_NAMESPACE, key)`: its application name (Tollgate
    /// sets `tollgate USER@HOST pid N`), address and how long its transaction has run.
    pub(crate) async fn advisory_holder(&self, key: i32) -> String {
        let row: Result<Option<(Option<String>, Option<String>, Option<i64>)>, _> = sqlx::query_as(
            "SELECT a.application_name, a.client_addr::text, CAST(EXTRACT(EPOCH FROM (now() - a.xact_start)) * 1000 AS BIGINT)
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = CAST(CAST($1 AS BIGINT) AS OID) AND l.objid = CAST(CAST($2 AS BIGINT) AS OID) LIMIT 1",
        )
        .bind(ADVISORY_NAMESPACE as u32 as i64)
        .bind(key as u32 as i64)
        .fetch_optional(&self.pool)
        .await;
        match row {
            Ok(Some((app, addr, ms))) => format!(
                "{} from {} (transaction open {} ms)",
                app.filter(|a| !a.is_empty())
                    .unwrap_or_else(|| "a session".into()),
                addr.unwrap_or_else(|| "the local socket".into()),
                ms.unwrap_or(0)
            ),
            Ok(None) => "a session that has just let go".into(),
            Err(e) => format!("unknown ({e})"),
        }
    }
}
