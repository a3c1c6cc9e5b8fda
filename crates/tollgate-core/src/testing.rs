//! Test support, behind the `test-support` feature: a private Postgres schema per test, temp SQLite files, unique keyring
//! service names. Nothing here touches the real app-data folder or the user's keyring.
use std::sync::atomic::{AtomicU32, Ordering};

use crate::domain::DatabaseUrl;
use crate::store::{Store, StoreTarget};

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn postgres_base_url() -> String {
    std::env::var("TOLLGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema in the test database, dropped when the guard goes.
pub struct PgSchema {
    pub name: String,
    pub url: String,
}

impl PgSchema {
    pub async fn new() -> PgSchema {
        let base = postgres_base_url();
        let name = unique("t");
        let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
            panic!("Postgres at {base} is required for the store tests (make test starts it): {e}")
        });
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await
            .expect("create schema");
        pool.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let base = postgres_base_url();
        let name = self.name.clone();
        // Best effort, on a thread of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

pub enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

/// Opens a fresh, unmigrated store on the given backend.
pub async fn fresh_store(postgres: bool) -> (Store, Backing) {
    if postgres {
        let schema = PgSchema::new().await;
        let store = Store::open(&StoreTarget::Url(DatabaseUrl::parse(&schema.url).unwrap()))
            .await
            .expect("open postgres");
        (store, Backing::Postgres(schema))
    } else {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreTarget::SqliteFile(dir.path().join("test.sqlite3")))
            .await
            .expect("open sqlite");
        (store, Backing::Sqlite(dir))
    }
}

/// A sandbox on a free port and a temp SQLite store, with consoles that use them and nothing
/// of the machine's (keyring service, app-data folder).
pub struct SandboxFixture {
    pub sandbox: tollgate_sandbox::RunningSandbox,
    _dir: tempfile::TempDir,
    pub db_url: String,
}

impl SandboxFixture {
    pub async fn start(seed: tollgate_sandbox::Seed) -> SandboxFixture {
        let sandbox = tollgate_sandbox::start(tollgate_sandbox::SandboxConfig {
            seed,
            ..Default::default()
        })
        .await
        .expect("the sandbox starts");
        let dir = tempfile::tempdir().expect("a temp dir");
        let db_url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        SandboxFixture {
            sandbox,
            _dir: dir,
            db_url,
        }
    }

    /// A console with this key, API base and webhook secrets (comma-separated).
    pub fn console_with(
        &self,
        key: &str,
        base: &str,
        webhook_secrets: Option<&str>,
    ) -> crate::Console {
        use crate::console::{Overrides, SecretSource};
        crate::Console::new(
            crate::Environment::Test,
            "cli",
            &unique("dev.tollgate.test"),
            Overrides {
                stripe_secret_key: Some(key.to_owned()),
                webhook_secrets: webhook_secrets.map(str::to_owned),
                database_url: Some((self.db_url.clone(), SecretSource::Flag)),
                stripe_api_base: Some(base.to_owned()),
            },
        )
    }

    /// A console on the sandbox with its key.
    pub fn console(&self) -> crate::Console {
        self.console_with(
            tollgate_sandbox::DEFAULT_SECRET_KEY,
            &self.sandbox.base_url(),
            None,
        )
    }
}

/// Columns whose value depends on when or by whom a row was written, not on what Stripe holds:
/// left out when two stores are compared.
pub const VOLATILE_COLUMNS: &[&str] = &[
    "id",
    "updated_at",
    "recorded_at",
    "received_at",
    "fetched_ms",
    "marked_at",
    "created_at",
    "at",
    "watermark",
    "first_seen",
    "last_seen",
    "last_event_created",
    "last_event_id",
    "generation",
    "holder",
    "host",
    "pid",
    "token",
    "started_at",
    "heartbeat_at",
    "installed_on",
    "execution_time",
    "checksum",
];

/// Every table of the store, as the sorted text of its rows (volatile columns left out), so
/// two stores can be compared table by table. `id` is kept where it is a Stripe id (text).
pub async fn table_digest(store: &Store) -> std::collections::BTreeMap<String, Vec<String>> {
    use crate::store::Backend;
    let pool = store.pool();
    let tables: Vec<String> = match store.backend() {
        Backend::Sqlite => sqlx::query_scalar(
            // Not the full-text index over org_subscriptions (its rows are that table's, keyed
            // by rowids that differ from store to store).
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%fts%' ORDER BY name",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
        ),
    }
    .fetch_all(pool)
    .await
    .expect("list tables");
    let mut out = std::collections::BTreeMap::new();
    for table in tables {
        let sql = match store.backend() {
            Backend::Sqlite => format!(
                "SELECT name, lower(type) FROM pragma_table_info('{table}') ORDER BY cid"
            ),
            Backend::Postgres => format!(
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
            ),
        };
        let cols: Vec<(String, String)> = sqlx::query_as(&sql)
            .fetch_all(pool)
            .await
            .expect("list columns");
        let keep: Vec<String> = cols
            .iter()
            .filter(|(c, ty)| {
                let integer_id = c == "id" && (ty.contains("int") || ty.contains("serial"));
                !(VOLATILE_COLUMNS.contains(&c.as_str()) && (c != "id" || integer_id))
            })
            .map(|(c, _)| format!("COALESCE(CAST({c} AS TEXT), '∅')"))
            .collect();
        let rows: Vec<String> = if keep.is_empty() {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(pool)
                .await
                .expect("count");
            (0..n).map(|_| String::new()).collect()
        } else {
            sqlx::query_scalar(&format!("SELECT {} FROM {table}", keep.join(" || '|' || ")))
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("read {table}: {e}"))
        };
        let mut rows = rows;
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// Asserts two stores hold the same rows, table by table, saying which rows differ.
pub fn assert_same_tables(
    label: &str,
    single: &std::collections::BTreeMap<String, Vec<String>>,
    other: &std::collections::BTreeMap<String, Vec<String>>,
) {
    assert_eq!(
        single.keys().collect::<Vec<_>>(),
        other.keys().collect::<Vec<_>>(),
        "{label}: the same tables"
    );
    for (table, rows) in single {
        let theirs = &other[table];
        if rows != theirs {
            let count = |v: &Vec<String>| {
                let mut m = std::collections::BTreeMap::<String, i64>::new();
                for r in v {
                    *m.entry(r.clone()).or_default() += 1;
                }
                m
            };
            let (mine, other) = (count(rows), count(theirs));
            let diff = |a: &std::collections::BTreeMap<String, i64>,
                        b: &std::collections::BTreeMap<String, i64>| {
                a.iter()
                    .filter_map(|(r, n)| {
                        let d = n - b.get(r).copied().unwrap_or(0);
                        (d > 0).then(|| format!("{d}× {r}"))
                    })
                    .take(5)
                    .collect::<Vec<_>>()
            };
            let (extra, missing) = (diff(&other, &mine), diff(&mine, &other));
            panic!(
                "{label}: table {table} holds {} rows where one run wrote {}; beyond it: {extra:?}; lacking: {missing:?}",
                theirs.len(),
                rows.len()
            );
        }
    }
}

/// Stripe that cannot be reached, for stores filled through the door alone (and settle's
/// offline path): every read and the catalog answer `Unreachable`.
pub struct Offline;

impl crate::sync::StripeReader for Offline {
    fn read(
        &self,
        _: crate::sync::Kind,
        _: &str,
    ) -> crate::store::SendFuture<'_, Result<crate::sync::Fetched, crate::sync::FetchError>> {
        Box::pin(async { Err(crate::sync::FetchError::Unreachable("offline".into())) })
    }
    fn refresh_catalog<'a>(
        &'a self,
        _: &'a Store,
    ) -> crate::store::SendFuture<'a, Result<(), crate::sync::FetchError>> {
        Box::pin(async { Err(crate::sync::FetchError::Unreachable("offline".into())) })
    }
}
