//! The local mirror: SQLite (one file per environment, the default) or Postgres (team mode),
//! both through sqlx's `Any` driver so each repository is written once. SQL here uses `$n`
//! placeholders, which both dialects accept; migrations live in `migrations/{sqlite,postgres}/`
//! with the same numbered sequence.

pub mod audit;
pub mod catalog;
pub mod compact;
pub mod lease;
pub mod ledger;
pub mod sync;
pub mod sync_views;
pub mod testfire;
pub mod tx;

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use ts_rs::TS;

use crate::domain::DatabaseUrl;
use crate::error::{ErrorBody, ErrorCode};

pub use audit::{AuditEntry, NewAuditEntry};
pub use catalog::{
    CatalogSnapshot, CatalogView, FeatureRow, PriceRow, ProductFeatureRow, ProductRow,
};
pub use tx::Tx;

/// A boxed future that is `Send`. The store's public async methods return this: built where
/// every lifetime is concrete, it spares callers rustc's "Send is not general enough" on sqlx
/// futures nested in Tauri commands (rust-lang/rust#102211).
pub type SendFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a connection speaks.
    pub(crate) fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == "SQLite" {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    pub fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Where to open the store.
#[derive(Debug, Clone)]
pub enum StoreTarget {
    SqliteFile(PathBuf),
    Url(DatabaseUrl),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the database at {location} is damaged or is not a Tollgate database ({detail}); move it aside and Tollgate will start a new one, or restore a backup")]
    Corrupt { location: String, detail: String },
    #[error("the database at {location} is read-only ({detail}); Tollgate can show what it holds but cannot record anything until it is writable")]
    ReadOnly { location: String, detail: String },
    #[error("the database at {location} cannot be reached ({detail})")]
    Unavailable { location: String, detail: String },
    #[error("the database at {location} has migrations this version does not know (applied {applied}, this build knows up to {known}); use a newer Tollgate")]
    TooNew {
        location: String,
        applied: i64,
        known: i64,
    },
    #[error("the database at {location} stayed locked ({detail}); nothing was written")]
    Busy { location: String, detail: String },
    #[error("database error at {location}: {detail}")]
    Other { location: String, detail: String },
}

impl From<StoreError> for ErrorBody {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Corrupt { .. } => ErrorCode::DatabaseCorrupt,
            StoreError::ReadOnly { .. } => ErrorCode::DatabaseReadOnly,
            StoreError::Unavailable { .. } => ErrorCode::DatabaseUnavailable,
            StoreError::Busy { .. } => ErrorCode::DatabaseUnavailable,
            StoreError::TooNew { .. } | StoreError::Other { .. } => ErrorCode::Internal,
        };
        ErrorBody::new(code, e.to_string())
    }
}

/// Sorts a sqlx error into what a user can act on.
fn classify(backend: Backend, location: &str, e: sqlx::Error) -> StoreError {
    let location = location.to_owned();
    let detail = e.to_string();
    match (&e, backend) {
        (sqlx::Error::Database(db), Backend::Sqlite) => {
            let primary = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            match primary {
                Some(11) | Some(26) => StoreError::Corrupt { location, detail }, // CORRUPT, NOTADB
                Some(8) => StoreError::ReadOnly { location, detail },            // READONLY
                Some(5) | Some(6) => StoreError::Busy { location, detail },      // BUSY, LOCKED
                Some(14) | Some(23) => StoreError::Unavailable { location, detail }, // CANTOPEN, AUTH
                _ => StoreError::Other { location, detail },
            }
        }
        (sqlx::Error::Database(db), Backend::Postgres) => match db.code().as_deref() {
            Some("25006") => StoreError::ReadOnly { location, detail }, // read_only_sql_transaction
            Some(c)
                if c.starts_with("08") || c.starts_with("28") || c == "3D000" || c == "57P03" =>
            {
                StoreError::Unavailable { location, detail }
            }
            _ => StoreError::Other { location, detail },
        },
        (
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed,
            _,
        ) => StoreError::Unavailable { location, detail },
        (sqlx::Error::Configuration(_), _) => StoreError::Unavailable { location, detail },
        _ => StoreError::Other { location, detail },
    }
}

/// What `tollgate db status` and the Settings screen show.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct DbStatus {
    pub backend: Backend,
    /// The file path, or the URL with its password masked.
    pub location: String,
    /// The newest migration applied to this database.
    #[ts(type = "number")]
    pub schema_version: i64,
    /// The newest migration this build carries.
    #[ts(type = "number")]
    pub latest_version: i64,
    /// Opened read-only: it can be read, nothing can be recorded.
    pub read_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct MigrationReport {
    pub backend: Backend,
    pub location: String,
    /// Versions applied by this run (empty when the schema was already current).
    #[ts(type = "Array<number>")]
    pub applied: Vec<i64>,
    #[ts(type = "number")]
    pub schema_version: i64,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    location: String,
    /// Postgres: the schema the store lives in (its advisory locks are per schema).
    schema: String,
    /// This process's writers, in line (see [`tx`]).
    writes: std::sync::Arc<tx::WriteQueue>,
    /// Opened read-only (the file or its folder cannot be written): it shows what it holds.
    read_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?} at {})", self.backend, self.location)
    }
}

fn sqlite_url(path: &Path, read_only: bool) -> String {
    let mut s = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => s.push_str("%25"),
            '?' => s.push_str("%3F"),
            '#' => s.push_str("%23"),
            ' ' => s.push_str("%20"),
            c => s.push(c),
        }
    }
    s.push_str(if read_only { "?mode=ro" } else { "?mode=rwc" });
    s
}

impl Store {
    /// Opens (and for a SQLite file, creates) the store, and checks it can be read. It does not
    /// migrate: call [`Store::migrate`].
    pub fn open(target: &StoreTarget) -> SendFuture<'_, Result<Store, StoreError>> {
        Box::pin(Self::open_inner(target))
    }

    async fn open_inner(target: &StoreTarget) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let (url, backend, location) = match target {
            StoreTarget::SqliteFile(path) => {
                let location = path.display().to_string();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
                        location: location.clone(),
                        detail: format!("cannot create folder {}: {e}", dir.display()),
                    })?;
                }
                (sqlite_url(path, false), Backend::Sqlite, location)
            }
            StoreTarget::Url(DatabaseUrl::Sqlite(u)) => {
                let mut url = u.clone();
                if !url.contains("mode=") {
                    url.push_str(if url.contains('?') {
                        "&mode=rwc"
                    } else {
                        "?mode=rwc"
                    });
                }
                (
                    url,
                    Backend::Sqlite,
                    u.trim_start_matches("sqlite:")
                        .trim_start_matches("//")
                        .to_owned(),
                )
            }
            StoreTarget::Url(u @ DatabaseUrl::Postgres(raw)) => {
                (raw.clone(), Backend::Postgres, u.masked().0)
            }
        };
        match Self::connect(&url, backend, location.clone()).await {
            // A file Tollgate may not write (a read-only folder or file, a copy on a read-only
            // share): read it as it is, without the WAL's side files, and say so; writes are
            // then refused as read-only, never half done.
            Err(e @ (StoreError::ReadOnly { .. } | StoreError::Unavailable { .. }))
                if backend == Backend::Sqlite
                    && url.contains("mode=rwc")
                    && Path::new(location.split('?').next().unwrap_or_default()).is_file() =>
            {
                let file = location.split('?').next().unwrap_or_default();
                // Read-only through SQLite's locks first (another process may be writing it);
                // where even the WAL's side files cannot be made (a read-only folder), as an
                // immutable file: only when no WAL holds changes the file lacks, which an
                // immutable read would miss.
                let mut tries = vec![url.replace("mode=rwc", "mode=ro")];
                let wal_pending =
                    std::fs::metadata(format!("{file}-wal")).is_ok_and(|m| m.len() > 0);
                if !wal_pending {
                    tries.push(url.replace("mode=rwc", "mode=ro&immutable=1"));
                }
                for ro in tries {
                    if let Ok(mut store) = Self::connect(&ro, backend, location.clone()).await {
                        tracing::warn!(%location, error = %e, "the store cannot be written: opened read-only");
                        store.read_only = true;
                        return Ok(store);
                    }
                }
                Err(match (wal_pending, e) {
                    (true, StoreError::ReadOnly { location, detail } | StoreError::Unavailable { location, detail }) => {
                        StoreError::ReadOnly {
                            location: location.clone(),
                            detail: format!(
                                "{detail}; its {location}-wal file holds changes that can only be read where the folder is writable"
                            ),
                        }
                    }
                    (_, e) => e,
                })
            }
            Ok(mut store) => {
                store.read_only = url.contains("mode=ro");
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }

    async fn connect(url: &str, backend: Backend, location: String) -> Result<Store, StoreError> {
        let options: AnyConnectOptions =
            url.parse().map_err(|e| classify(backend, &location, e))?;
        let application_name = crate::who::application_name();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let application_name = application_name.clone();
                Box::pin(async move {
                    if conn.backend_name() != "SQLite" {
                        // A wait on one of this session's locks can then say whose it is.
                        let set = format!(
                            "SET application_name = '{}'",
                            application_name.replace('\'', "")
                        );
                        let _ = conn.execute(set.as_str()).await;
                    }
                    if conn.backend_name() == "SQLite" {
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                        // A new store gives pages that compaction frees back to the file
                        // system (store::compact); on an existing one this changes nothing.
                        let _ = conn.execute("PRAGMA auto_vacuum = INCREMENTAL;").await;
                        // Fails harmlessly on a read-only file; the check below reports that.
                        let _ = conn.execute("PRAGMA journal_mode = WAL;").await;
                        // WAL makes NORMAL safe against a crash of the app (not of the
                        // machine's power): a commit is one write, not two fsyncs.
                        let _ = conn.execute("PRAGMA synchronous = NORMAL;").await;
                        // 64 MiB of page cache (the default is 2): the ledger's and the
                        // Subscriptions list's indexes stay in memory at 100,000 orgs.
                        let _ = conn.execute("PRAGMA cache_size = -65536;").await;
                        // Checkpoint every ~40 MB of WAL instead of ~4: a page rewritten
                        // by many commits is copied back once, with one fsync.
                        let _ = conn.execute("PRAGMA wal_autocheckpoint = 10000;").await;
                        // No memory map: with the file out of the page cache, faulting pages
                        // in through one read ahead far more than a query needs (a flagged-only
                        // year over a million ledger rows: 323 ms mapped, 18 ms read).
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| classify(backend, &location, e))?;

        let mut store = Store {
            pool,
            backend,
            location,
            schema: String::new(),
            writes: Default::default(),
            read_only: false,
        };
        // A file that is not a database opens fine and fails on first read: read now.
        let probe = match backend {
            Backend::Sqlite => "SELECT count(*) FROM sqlite_master",
            Backend::Postgres => "SELECT count(*) FROM pg_catalog.pg_tables",
        };
        sqlx::query_scalar::<_, i64>(probe)
            .fetch_one(&store.pool)
            .await
            .map_err(|e| store.err(e))?;
        if backend == Backend::Postgres {
            store.schema = sqlx::query_scalar::<_, String>(
                "SELECT CAST(COALESCE(current_schema(), '') AS TEXT)",
            )
            .fetch_one(&store.pool)
            .await
            .map_err(|e| store.err(e))?;
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
    pub fn location(&self) -> &str {
        &self.location
    }
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        classify(self.backend, &self.location, e)
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let exists: i64 = match self.backend {
            Backend::Sqlite => sqlx::query_scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
            Backend::Postgres => sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            ),
        }
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = $1 ORDER BY version",
        )
        .bind(true)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    pub fn status(&self) -> SendFuture<'_, Result<DbStatus, StoreError>> {
        Box::pin(self.status_inner())
    }

    async fn status_inner(&self) -> Result<DbStatus, StoreError> {
        let applied = self.applied_versions().await?;
        Ok(DbStatus {
            backend: self.backend,
            location: self.location.clone(),
            schema_version: applied.last().copied().unwrap_or(0),
            latest_version: latest_version(self.backend),
            read_only: self.read_only,
        })
    }

    /// Applies every pending migration, each in its own transaction.
    pub fn migrate(&self) -> SendFuture<'_, Result<MigrationReport, StoreError>> {
        Box::pin(self.migrate_inner())
    }

    async fn migrate_inner(&self) -> Result<MigrationReport, StoreError> {
        // Two processes opening a new store at once must not both run migration 1. sqlx locks
        // a Postgres database itself (an advisory lock); a SQLite file gets a lock file beside
        // it, held while migrating (the OS frees it if the process dies).
        let _lock = match self.backend {
            Backend::Sqlite => self.migration_lock().await,
            Backend::Postgres => None,
        };
        let before = self.applied_versions().await?;
        let known = latest_version(self.backend);
        if let Some(&newest) = before.last() {
            if newest > known {
                return Err(StoreError::TooNew {
                    location: self.location.clone(),
                    applied: newest,
                    known,
                });
            }
        }
        self.backend
            .migrator()
            .run(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => self.err(e),
                other => StoreError::Other {
                    location: self.location.clone(),
                    detail: other.to_string(),
                },
            })?;
        let after = self.applied_versions().await?;
        Ok(MigrationReport {
            backend: self.backend,
            location: self.location.clone(),
            applied: after
                .iter()
                .filter(|v| !before.contains(v))
                .copied()
                .collect(),
            schema_version: after.last().copied().unwrap_or(0),
        })
    }

    /// `<file>.migrate-lock`, locked exclusively; None where it cannot be made (a read-only
    /// folder: nothing can be migrated there anyway).
    async fn migration_lock(&self) -> Option<std::fs::File> {
        let path = format!("{}.migrate-lock", self.location.split('?').next()?);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        let started = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Some(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if started.elapsed() > Duration::from_secs(120) {
                        tracing::warn!(%path, "another process has been migrating for 2 minutes; going on");
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    tracing::warn!(%path, error = %e, "migration lock unavailable");
                    return None;
                }
            }
        }
    }

    /// Checkpoints the WAL into the file (SQLite) and closes every connection, so the file
    /// alone is the whole store: copied without its `-wal`, it is not missing anything.
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite && !self.read_only {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, store = %self.location, "WAL not checkpointed on close");
            }
        }
        self.pool.close().await;
    }

    /// A consistent copy of the whole store in a new SQLite file (`VACUUM INTO`), taken while
    /// others read and write. Postgres: `pg_dump` is the tool, and the error says how.
    pub async fn backup(&self, to: &Path) -> Result<u64, StoreError> {
        if self.backend == Backend::Postgres {
            return Err(StoreError::Other {
                location: self.location.clone(),
                detail: format!(
                    "a team database is backed up with Postgres's own tool: pg_dump --format=custom --file {} '{}'",
                    to.display(),
                    self.location
                ),
            });
        }
        sqlx::query("VACUUM INTO $1")
            .bind(to.display().to_string())
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
    }
}

pub fn latest_version(backend: Backend) -> i64 {
    backend
        .migrator()
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// `$from, $from+1, …`: `n` numbered placeholders, for an IN list.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` placeholders for values bound in order, the first being bind number `from`: `$from,
/// $from+1, …` on Postgres, plain `?`s on SQLite. SQLite finds a numbered placeholder's position
/// by its name, and sqlx asks for every one (`sqlite3_bind_parameter_name` walks a list), so
/// binding costs grow with the square of the count: the ledger's 768-value insert spent most of
/// its time there. A statement built with these must not mix in numbered placeholders.
pub(crate) fn bind_list(backend: Backend, from: usize, n: usize) -> String {
    match backend {
        Backend::Sqlite => vec!["?"; n].join(", "),
        Backend::Postgres => placeholders(from, n),
    }
}

/// `rows` rows of a multi-row VALUES of `cols` values each, bound row by row (see
/// [`bind_list`]).
pub(crate) fn values_rows(backend: Backend, rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", bind_list(backend, r * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value of `settings` (report time zone, ledger retention, …), if set.
pub(crate) async fn setting<'c, E>(conn: E, key: &str) -> Result<Option<String>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// Sets a value of `settings`, inside the caller's write transaction.
pub(crate) async fn put_setting(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now_seconds())
    .execute(conn)
    .await
    .map(|_| ())
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_carry_the_same_migration_sequence() {
        let names = |b: Backend| {
            b.migrator()
                .iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(!names(Backend::Sqlite).is_empty());
        assert_eq!(names(Backend::Sqlite), names(Backend::Postgres));
    }

    #[test]
    fn sqlite_urls_escape_awkward_paths() {
        let u = sqlite_url(Path::new("/tmp/a b/50%?x#y.db"), false);
        assert_eq!(u, "sqlite:///tmp/a%20b/50%25%3Fx%23y.db?mode=rwc");
    }
}
