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
