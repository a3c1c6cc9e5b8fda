//! The operations behind every screen and every CLI subcommand, written once. The Tauri
//! commands and `tollgate <subcommand>` are thin wrappers over these methods.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::create::NewPrice;
use crate::catalog::migration::{ApplyReport, MapPlan};
use crate::catalog::resolver::{PriceResolver, Resolution, ResolverStats, StripeSource};
use crate::catalog::verify::VerifyReport;
use crate::catalog::{self, Catalog, Plan};
use crate::domain::{
    DatabaseUrl, Environment, InputError, MaskedSecret, SecretKind, StripeSecretKey, WebhookSecret,
};
use crate::error::{ErrorBody, ErrorCode};
use crate::paths;
use crate::progress::{Operations, Progress, ProgressView};
use crate::secrets::{SecretStore, SecretsError};
use crate::store::AuditEntry;
use crate::store::{Backend, DbStatus, MigrationReport, NewAuditEntry, Store, StoreTarget};
use crate::stripe::{AccountSummary, StripeGateway, DEFAULT_API_BASE};

/// Where a secret in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// The OS keyring.
    Keyring,
    /// A `TOLLGATE_*` environment variable, which overrides the keyring.
    Environment,
    /// A command-line flag (`--database-url`).
    Flag,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SecretView {
    pub masked: MaskedSecret,
    pub source: SecretSource,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct KeyringState {
    pub available: bool,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Everything the Settings screen shows about one environment's secrets; masked only.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct SecretsStatus {
    pub environment: Environment,
    pub keyring: KeyringState,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_secret_key: Option<SecretView>,
    /// True for a restricted (`rk_`) key.
    pub restricted_key: bool,
    pub webhook_secrets: Vec<SecretView>,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<SecretView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub environment: Environment,
    pub stripe_api_base: String,
    /// The API base is a local emulator (`tollgate sandbox serve`), not Stripe.
    pub sandbox: bool,
    pub database_backend: Backend,
    pub database_location: String,
    /// The account behind the key, once a check has succeeded in this session.
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountSummary>,
}

/// Process-wide settings that override the keyring: flags first, then `TOLLGATE_*` variables.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub stripe_secret_key: Option<String>,
    pub webhook_secrets: Option<String>,
    pub database_url: Option<(String, SecretSource)>,
    pub stripe_api_base: Option<String>,
}

impl Overrides {
    /// Reads `TOLLGATE_STRIPE_SECRET_KEY`, `TOLLGATE_WEBHOOK_SECRET` (comma-separated for
    /// several), `TOLLGATE_DATABASE_URL` and `TOLLGATE_STRIPE_API_BASE`.
    pub fn from_process_env() -> Self {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        Overrides {
            stripe_secret_key: var("TOLLGATE_STRIPE_SECRET_KEY"),
            webhook_secrets: var("TOLLGATE_WEBHOOK_SECRET"),
            database_url: var("TOLLGATE_DATABASE_URL").map(|v| (v, SecretSource::Environment)),
            stripe_api_base: var("TOLLGATE_STRIPE_API_BASE"),
        }
    }
}

mod ledger_ops;
mod sync_ops;
mod testfire_ops;
pub use ledger_ops::{ExportResult, TimeZoneChange};
pub use sync_ops::{
    AccessAction, DriftItem, DriftReport, ReceiverStatus, SyncReport, SCHEDULED_SYNC_OP,
};
pub use testfire_ops::{
    BuiltEvent, DeliveryOptions, OutcomeCount, PrintedRequest, RunResult, ScenarioInput,
    TriggerInput,
};

pub struct Console {
    env: Mutex<Environment>,
    /// `desktop` or `cli`.
    surface: &'static str,
    /// The OS user, for the audit log.
    os_user: String,
    secrets: SecretStore,
    overrides: Overrides,
    stores: tokio::sync::Mutex<HashMap<Environment, Store>>,
    /// What opening each store migrated, until `db migrate` reports it.
    migrated_at_open: Mutex<HashMap<Environment, MigrationReport>>,
    accounts: Mutex<HashMap<Environment, AccountSummary>>,
    resolvers: Mutex<HashMap<Environment, std::sync::Arc<PriceResolver>>>,
    operations: Operations,
    /// Create-price requests in flight, by their content: a second identical request (a
    /// double click) waits for the first and gets its answer.
    creating: Mutex<
        HashMap<String, tokio::sync::watch::Receiver<Option<Result<CreatedPrice, ErrorBody>>>>,
    >,
    /// The webhook receiver the app runs, when switched on.
    receiver: tokio::sync::Mutex<Option<sync_ops::RunningReceiver>>,
    /// Held by a running sync: a second one waits (or, when scheduled, skips its turn).
    syncing: tokio::sync::Mutex<()>,
}

fn env_var_error(var: &'static str, e: InputError) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::InvalidInput,
        message: format!("{var} {}", e.rule),
        field: Some(var.to_owned()),
    }
}

impl Console {
    pub fn new(
        env: Environment,
        surface: &'static str,
        keyring_service: &str,
        overrides: Overrides,
    ) -> Self {
        Console {
            env: Mutex::new(env),
            surface,
            os_user: crate::who::os_user(),
            secrets: SecretStore::new(keyring_service),
            overrides,
            stores: tokio::sync::Mutex::new(HashMap::new()),
            migrated_at_open: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            resolvers: Mutex::new(HashMap::new()),
            operations: Operations::default(),
            creating: Mutex::new(HashMap::new()),
            receiver: tokio::sync::Mutex::new(None),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn environment(&self) -> Environment {
        *self.env.lock().expect("env lock")
    }

    pub fn set_environment(&self, env: Environment) {
        *self.env.lock().expect("env lock") = env;
    }

    pub fn stripe_api_base(&self) -> String {
        self.overrides
            .stripe_api_base
            .clone()
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned())
    }

    pub fn is_sandbox(&self) -> bool {
        let base = self.stripe_api_base();
        ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| base.starts_with(p))
    }

    // ---- secrets -------------------------------------------------------------------------

    /// The Stripe key in use: the environment variable if set, else the keyring.
    pub fn stripe_key(&self) -> Result<(StripeSecretKey, SecretSource), ErrorBody> {
        let env = self.environment();
        if let Some(raw) = &self.overrides.stripe_secret_key {
            let key = StripeSecretKey::parse_for(raw, env)
                .map_err(|e| env_var_error("TOLLGATE_STRIPE_SECRET_KEY", e))?;
            return Ok((key, SecretSource::Environment));
        }
        match self.secrets.stripe_key(env)? {
            Some(key) => Ok((key, SecretSource::Keyring)),
            None => Err(ErrorBody::new(
                ErrorCode::StripeKeyMissing,
                format!("no Stripe secret key is set for the {env} environment: add one in Settings or with `tollgate secrets set stripe-secret-key --env {env}`"),
            )),
        }
    }

    /// The signing secrets in use, oldest first.
    pub fn webhook_secrets(&self) -> Result<Vec<(WebhookSecret, SecretSource)>, ErrorBody> {
        if let Some(raw) = &self.overrides.webhook_secrets {
            return raw
                .split(',')
                .map(|s| {
                    WebhookSecret::parse(s)
                        .map(|w| (w, SecretSource::Environment))
                        .map_err(|e| env_var_error("TOLLGATE_WEBHOOK_SECRET", e))
                })
                .collect();
        }
        Ok(self
            .secrets
            .webhook_secrets(self.environment())?
            .into_iter()
            .map(|w| (w, SecretSource::Keyring))
            .collect())
    }

    fn database_url(&self) -> Result<Option<(DatabaseUrl, SecretSource)>, ErrorBody> {
        if let Some((raw, source)) = &self.overrides.database_url {
            let var = if *source == SecretSource::Flag {
                "--database-url"
            } else {
                "TOLLGATE_DATABASE_URL"
            };
            let url = DatabaseUrl::parse(raw).map_err(|e| env_var_error(var, e))?;
            return Ok(Some((url, *source)));
        }
        match self.secrets.database_url(self.environment()) {
            Ok(url) => Ok(url.map(|u| (u, SecretSource::Keyring))),
            // No keyring: use the local file. The mirror is rebuilt from Stripe, so nothing is
            // lost, and the Settings banner says why the team database is not in use.
            Err(e @ (SecretsError::Unavailable(_) | SecretsError::Locked(_))) => {
                tracing::warn!(error = %e, "keyring unreadable: using the local database file");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn secrets_status(&self) -> SecretsStatus {
        let environment = self.environment();
        let keyring = match self.secrets.probe() {
            Ok(()) => KeyringState {
                available: true,
                error: None,
            },
            Err(e) => KeyringState {
                available: false,
                error: Some(e.into()),
            },
        };
        let view = |masked: MaskedSecret, source| SecretView { masked, source };
        // With the keyring down, overrides still show; keyring-held values cannot.
        let key = self.stripe_key().ok();
        let webhook_secrets = self.webhook_secrets().unwrap_or_default();
        let database_url = self.database_url().ok().flatten();
        SecretsStatus {
            environment,
            keyring,
            restricted_key: key.as_ref().is_some_and(|(k, _)| k.is_restricted()),
            stripe_secret_key: key.map(|(k, s)| view(k.masked(), s)),
            webhook_secrets: webhook_secrets
                .into_iter()
                .map(|(w, s)| view(w.masked(), s))
                .collect(),
            database_url: database_url.map(|(u, s)| view(u.masked(), s)),
        }
    }

    /// Validates and stores a secret in the keyring. The value is parsed first, so a bad value
    /// changes nothing; a Stripe key of the other mode is refused.
    pub async fn set_secret(
        &self,
        kind: SecretKind,
        value: &str,
    ) -> Result<SecretsStatus, ErrorBody> {
        let env = self.environment();
        let masked = match kind {
            SecretKind::StripeSecretKey => {
                let key = StripeSecretKey::parse_for(value, env)?;
                self.secrets.set_stripe_key(env, &key)?;
                self.accounts.lock().expect("accounts lock").remove(&env);
                self.resolvers.lock().expect("resolvers lock").remove(&env);
                key.masked()
            }
            SecretKind::WebhookSecret => {
                let secret = WebhookSecret::parse(value)?;
                self.secrets.add_webhook_secret(env, &secret)?;
                secret.masked()
            }
            SecretKind::DatabaseUrl => {
                let url = DatabaseUrl::parse(value)?;
                // Connect and migrate first: a database that cannot be used is not stored.
                let store = Store::open(&StoreTarget::Url(url.clone())).await?;
                store.migrate().await?;
                self.secrets.set_database_url(env, &url)?;
                self.stores.lock().await.insert(env, store);
                url.masked()
            }
        };
        self.audit(
            "secret.set",
            Some(kind.as_str().to_owned()),
            serde_json::json!({ "masked": masked.0 }),
            Vec::new(),
        )
        .await;
        Ok(self.secrets_status())
    }

    /// Removes a secret from the keyring. For webhook secrets, `which` is the masked form of
    /// the one to remove; `None` removes all of that kind.
    pub async fn remove_secret(
        &self,
        kind: SecretKind,
        which: Option<&str>,
    ) -> Result<SecretsStatus, ErrorBody> {
        let env = self.environment();
        match (kind, which) {
            (SecretKind::WebhookSecret, Some(masked)) => {
                self.secrets.remove_webhook_secret(env, masked)?
            }
            _ => {
                if !self.secrets.remove(env, kind)? {
                    return Err(ErrorBody::new(
                        ErrorCode::NotFound,
                        format!(
                            "no {} is stored in the keyring for the {env} environment",
                            kind.label()
                        ),
                    ));
                }
            }
        }
        match kind {
            SecretKind::StripeSecretKey => {
                self.accounts.lock().expect("accounts lock").remove(&env);
                self.resolvers.lock().expect("resolvers lock").remove(&env);
            }
            SecretKind::DatabaseUrl => {
                self.stores.lock().await.remove(&env);
            }
            SecretKind::WebhookSecret => {}
        }
        self.audit(
            "secret.remove",
            Some(kind.as_str().to_owned()),
            serde_json::json!({ "which": which }),
            Vec::new(),
        )
        .await;
        Ok(self.secrets_status())
    }

    // ---- Stripe --------------------------------------------------------------------------

    pub fn gateway(&self) -> Result<StripeGateway, ErrorBody> {
        let (key, _) = self.stripe_key()?;
        Ok(StripeGateway::new(&self.stripe_api_base(), &key)?)
    }

    /// A real call to Stripe with the key in use: the account's name, or Stripe's exact error.
    pub async fn check_stripe(&self) -> Result<AccountSummary, ErrorBody> {
        let env = self.environment();
        let result = self.gateway()?.account().await;
        let mut accounts = self.accounts.lock().expect("accounts lock");
        match result {
            Ok(account) => {
                accounts.insert(env, account.clone());
                Ok(account)
            }
            Err(e) => {
                accounts.remove(&env);
                Err(e.into())
            }
        }
    }

    pub fn app_info(&self) -> AppInfo {
        let environment = self.environment();
        let (database_backend, database_location) = match self.store_target() {
            Ok(StoreTarget::SqliteFile(p)) => (Backend::Sqlite, p.display().to_string()),
            Ok(StoreTarget::Url(u @ DatabaseUrl::Postgres(_))) => (Backend::Postgres, u.masked().0),
            Ok(StoreTarget::Url(u)) => (Backend::Sqlite, u.masked().0),
            Err(e) => (Backend::Sqlite, format!("unknown: {}", e.message)),
        };
        AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            environment,
            stripe_api_base: self.stripe_api_base(),
            sandbox: self.is_sandbox(),
            database_backend,
            database_location,
            account: self
                .accounts
                .lock()
                .expect("accounts lock")
                .get(&environment)
                .cloned(),
        }
    }

    // ---- store ---------------------------------------------------------------------------

    pub fn store_target(&self) -> Result<StoreTarget, ErrorBody> {
        Ok(match self.database_url()? {
            Some((url, _)) => StoreTarget::Url(url),
            None => StoreTarget::SqliteFile(paths::sqlite_path(self.environment())),
        })
    }

    /// The environment's store, opened and migrated on first use. A failure is not cached:
    /// once the file or server is fixed, the next call succeeds.
    pub async fn store(&self) -> Result<Store, ErrorBody> {
        let env = self.environment();
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(&env) {
            return Ok(s.clone());
        }
        let store = Store::open(&self.store_target()?).await?;
        if store.is_read_only() {
            // Shown as it is; it can be upgraded only where it can be written.
            let status = store.status().await?;
            if status.schema_version < status.latest_version {
                return Err(crate::store::StoreError::ReadOnly {
                    location: status.location,
                    detail: format!(
                        "it is at schema {} and this version needs {}, which can only be applied where the file is writable",
                        status.schema_version, status.latest_version
                    ),
                }
                .into());
            }
            stores.insert(env, store.clone());
            return Ok(store);
        }
        let report = store.migrate().await?;
        if !report.applied.is_empty() {
            self.migrated_at_open
                .lock()
                .expect("migrated lock")
                .insert(env, report);
        }
        stores.insert(env, store.clone());
        Ok(store)
    }

    /// The store in use, opened and migrated like every other use of it.
    pub async fn db_status(&self) -> Result<DbStatus, ErrorBody> {
        Ok(self.store().await?.status().await?)
    }

    /// Checkpoints and closes every store this console opened (the end of a command, the
    /// window closing): the SQLite file alone then holds everything.
    pub async fn close(&self) {
        let stores: Vec<Store> = self.stores.lock().await.drain().map(|(_, s)| s).collect();
        for s in stores {
            s.close().await;
        }
    }

    /// `tollgate db compact`: drops the payloads of events past the retention window (this
    /// run's `retention_days`, else the setting), and gives the space back. `save` keeps the
    /// given window as the setting the app's daily compaction uses.
    pub async fn db_compact(
        &self,
        retention_days: Option<i64>,
        save: bool,
        op: Option<&str>,
    ) -> Result<crate::store::compact::CompactReport, ErrorBody> {
        let days = retention_days
            .map(crate::store::compact::check_retention)
            .transpose()?;
        if save && days.is_none() {
            return Err(InputError::new(
                "retention_days",
                "--save needs --retention-days N: the window to keep",
            )
            .into());
        }
        let store = self.store().await?;
        if let (true, Some(d)) = (save, days) {
            store
                .set_setting(crate::store::compact::RETENTION_KEY, &d.to_string())
                .await?;
            self.audit(
                "ledger.retention",
                None,
                serde_json::json!({"retention_days": d}),
                Vec::new(),
            )
            .await;
        }
        let days = match days {
            Some(d) => d,
            None => store.retention_days().await?,
        };
        let progress = self.progress_for(op);
        progress.phase("compacting the event ledger", 0);
        let pr = progress.clone();
        let r = store.compact_ledger(days, &move || pr.is_cancelled()).await;
        progress.finish();
        let r = r?;
        tracing::info!(compacted = r.compacted, before = r.bytes_before, after = r.bytes_after, vacuum = %r.vacuum, "ledger compacted");
        Ok(r)
    }

    /// The app's daily compaction: runs when the last one finished a day ago or more.
    pub async fn db_compact_if_due(
        &self,
    ) -> Option<Result<crate::store::compact::CompactReport, ErrorBody>> {
        let store = self.store().await.ok()?;
        if store.is_read_only() {
            return None;
        }
        match store.compacted_ago().await {
            Ok(Some(ago)) if ago < 86_400 => None,
            Ok(_) => Some(self.db_compact(None, false, None).await),
            Err(e) => Some(Err(e.into())),
        }
    }

    /// `tollgate db backup FILE`: a consistent copy of the store in a new file.
    pub async fn db_backup(&self, to: &std::path::Path) -> Result<BackupReport, ErrorBody> {
        if to.exists() {
            return Err(InputError::new(
                "file",
                format!("{} exists: a backup goes to a new file", to.display()),
            )
            .into());
        }
        if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(InputError::new(
                    "file",
                    format!("the folder {} does not exist", dir.display()),
                )
                .into());
            }
        }
        let store = self.store().await?;
        if store.backend() == Backend::Postgres {
            return Err(InputError::new(
                "file",
                format!(
                    "the store is a team database on Postgres: back it up with pg_dump, as in pg_dump --format=custom --file {} '{}'",
                    to.display(),
                    store.location()
                ),
            )
            .into());
        }
        let started = std::time::Instant::now();
        let bytes = store.backup(to).await?;
        Ok(BackupReport {
            file: to.display().to_string(),
            bytes,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Applies what is pending and says what was applied: on a new database that is every
    /// migration, even though opening the store (which every command does) applied them.
    pub async fn db_migrate(&self) -> Result<MigrationReport, ErrorBody> {
        let store = self.store().await?;
        let now = store.migrate().await?;
        let at_open = self
            .migrated_at_open
            .lock()
            .expect("migrated lock")
            .remove(&self.environment());
        Ok(match at_open {
            Some(mut opened) if now.applied.is_empty() => {
                opened.schema_version = now.schema_version;
                opened
            }
            _ => now,
        })
    }

    /// Records an action in the audit log. The keyring write it follows has already happened,
    /// so a store that cannot record it is logged, not turned into a failure of the action.
    fn audit<'a>(
        &'a self,
        action: &'static str,
        target: Option<String>,
        detail: serde_json::Value,
        stripe_ids: Vec<String>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        // Boxed with an explicit `Send`: rustc cannot otherwise prove the sqlx future Send for
        // every lifetime once it is nested inside a Tauri command (rust-lang/rust#102211).
        Box::pin(async move {
            let entry = NewAuditEntry {
                environment: self.environment(),
                actor: self.os_user.clone(),
                surface: self.surface,
                action,
                target,
                detail,
                stripe_ids,
            };
            match self.store().await {
                Ok(store) => {
                    if let Err(e) = store.append_audit(&entry).await {
                        tracing::warn!(error = %e, action, "audit entry not recorded");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, action, "audit entry not recorded: store unavailable")
                }
            }
        })
    }

    // ---- catalog -------------------------------------------------------------------------

    /// A progress handle for `op` (the caller's id), or a private one.
    fn progress_for(&self, op: Option<&str>) -> Progress {
        match op {
            Some(id) => self.operations.start(id),
            None => Progress::new(),
        }
    }

    pub fn op_progress(&self, op: &str) -> Option<ProgressView> {
        self.operations.get(op).map(|p| p.view())
    }

    /// Asks a running operation to stop between two steps; false if there is none.
    pub fn op_cancel(&self, op: &str) -> bool {
        self.operations.get(op).map(|p| p.cancel()).is_some()
    }

    /// The account name a live-mode write must be confirmed with; `Ok` in test mode.
    async fn confirm_live(&self, confirm: Option<&str>) -> Result<(), ErrorBody> {
        if self.environment() != Environment::Live {
            return Ok(());
        }
        let account = match self.app_info().account {
            Some(a) => a,
            None => self.check_stripe().await?,
        };
        match confirm.map(str::trim) {
            Some(c) if c == account.name => Ok(()),
            _ => Err(InputError::new(
                "confirm",
                format!(
                    "this writes to the live Stripe account {:?}: type its name exactly to confirm",
                    account.name
                ),
            )
            .into()),
        }
    }

    /// The plans: refreshed from Stripe first when `refresh`; when Stripe cannot be read, the
    /// store's copy with the reason.
    pub async fn catalog(&self, refresh: bool, op: Option<&str>) -> Result<Catalog, ErrorBody> {
        let store = self.store().await?;
        let progress = self.progress_for(op);
        let mut stale = None;
        if refresh {
            let result = match self.gateway() {
                Ok(gw) => catalog::mirror::refresh(&gw, &store, &progress, true).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                if e.code.is_database() {
                    progress.finish();
                    return Err(e);
                }
                tracing::warn!(error = %e.message, "catalog not refreshed: showing the store's copy");
                stale = Some(e.message);
            } else {
                // The catalog may have moved keys: start the resolver afresh.
                if let Some(r) = self
                    .resolvers
                    .lock()
                    .expect("resolvers lock")
                    .get(&self.environment())
                {
                    r.clear();
                }
            }
        }
        progress.finish();
        Ok(Catalog::from_view(store.catalog().await?, stale))
    }

    /// The environment's resolver, made on first use with the store to fall back on.
    async fn resolver(&self) -> Result<std::sync::Arc<PriceResolver>, ErrorBody> {
        let env = self.environment();
        if let Some(r) = self.resolvers.lock().expect("resolvers lock").get(&env) {
            return Ok(r.clone());
        }
        let gw = self.gateway()?;
        // Without a store the resolver still answers from Stripe; it just has no offline copy.
        let store = self.store().await.ok();
        let mut map = self.resolvers.lock().expect("resolvers lock");
        if let Some(r) = map.get(&env) {
            return Ok(r.clone());
        }
        let r = std::sync::Arc::new(PriceResolver::new(
            std::sync::Arc::new(StripeSource(gw)),
            store,
            catalog::resolver::DEFAULT_TTL,
        ));
        map.insert(env, r.clone());
        Ok(r)
    }

    /// Resolves lookup keys through the cache; the store's copy (stale) if Stripe is down.
    pub async fn resolve(
        &self,
        keys: &[String],
    ) -> Result<(Vec<Resolution>, ResolverStats), ErrorBody> {
        if keys.is_empty() {
            return Err(InputError::new("lookup_keys", "give at least one lookup key").into());
        }
        let r = self.resolver().await?;
        let out = r.resolve_many(keys).await?;
        Ok((out, r.stats()))
    }

    pub fn resolver_stats(&self) -> ResolverStats {
        self.resolvers
            .lock()
            .expect("resolvers lock")
            .get(&self.environment())
            .map(|r| r.stats())
            .unwrap_or(ResolverStats {
                ttl_seconds: catalog::resolver::DEFAULT_TTL.as_secs(),
                ..Default::default()
            })
    }

    fn invalidate_keys(&self, keys: &[String]) {
        if let Some(r) = self
            .resolvers
            .lock()
            .expect("resolvers lock")
            .get(&self.environment())
        {
            r.invalidate(keys);
        }
    }

    /// Creates a price in Stripe (idempotent), mirrors it, records it in the audit log.
    pub async fn create_price(
        &self,
        input: &NewPrice,
        confirm: Option<&str>,
    ) -> Result<CreatedPrice, ErrorBody> {
        // Stripe's Idempotency-Key makes the write one price; this makes the checks before it
        // agree too (else the second click would find the first's product and key, and fail).
        let id = format!(
            "{}|{}",
            self.environment(),
            serde_json::to_string(input).unwrap_or_default()
        );
        let leader = {
            let mut creating = self.creating.lock().expect("creating lock");
            match creating.get(&id) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = tokio::sync::watch::channel(None);
                    creating.insert(id.clone(), rx);
                    Ok(tx)
                }
            }
        };
        match leader {
            Err(mut rx) => rx
                .wait_for(Option::is_some)
                .await
                .map(|v| v.clone().expect("waited for Some"))
                .unwrap_or_else(|_| {
                    Err(ErrorBody::new(
                        ErrorCode::Internal,
                        "the identical request this one joined was dropped",
                    ))
                }),
            Ok(tx) => {
                let out = self.create_price_once(input, confirm).await;
                let _ = tx.send(Some(out.clone()));
                self.creating.lock().expect("creating lock").remove(&id);
                out
            }
        }
    }

    async fn create_price_once(
        &self,
        input: &NewPrice,
        confirm: Option<&str>,
    ) -> Result<CreatedPrice, ErrorBody> {
        let parsed = catalog::create::parse(input)?;
        let gw = self.gateway()?;
        self.confirm_live(confirm).await?;
        let store = self.store().await?;
        let created = catalog::create::create(&gw, &parsed).await?;
        self.mirror_after_write(&gw, &store, Some((&created.product, &created.price)))
            .await;
        self.invalidate_keys(&[parsed.key.to_string()]);
        if created.already {
            return Ok(CreatedPrice {
                plan: self.plan_of(&store, &created.price.stripe_id).await?,
                transferred_from: None,
                already_created: true,
            });
        }
        let mut ids = vec![
            created.price.stripe_id.clone(),
            created.product.stripe_id.clone(),
        ];
        ids.extend(created.transferred_from.iter().cloned());
        ids.extend(created.product_features.iter().map(|p| p.stripe_id.clone()));
        self.audit(
            "price.create",
            Some(parsed.key.to_string()),
            serde_json::json!({
                "amount": parsed.money.amount, "currency": parsed.money.currency.as_str(),
                "interval": parsed.interval.as_str(), "per_seat": parsed.per_seat,
                "commission_bps": parsed.commission.map(|b| b.0),
                "transferred_from": created.transferred_from, "features": parsed.features,
            }),
            ids,
        )
        .await;
        Ok(CreatedPrice {
            plan: self.plan_of(&store, &created.price.stripe_id).await?,
            transferred_from: created.transferred_from,
            already_created: false,
        })
    }

    /// A price's row as the Plans screen shows it, from the store.
    async fn plan_of(&self, store: &Store, price_id: &str) -> Result<Plan, ErrorBody> {
        let view = store.catalog().await?;
        Catalog::from_view(view, None)
            .plans
            .into_iter()
            .find(|p| p.price_id == price_id)
            .ok_or_else(|| {
                ErrorBody::new(ErrorCode::Internal, "the created price is not in the store")
            })
    }

    /// After a write, the store reads the catalog from Stripe again (one path for mirrored
    /// state), without listing subscriptions: a catalog write changes none, so the subscriber
    /// counts the store has stay right. Should that fail, the object Stripe returned is written directly; the write at
    /// Stripe stands either way, so this never fails the action.
    async fn mirror_after_write(
        &self,
        gw: &crate::stripe::StripeGateway,
        store: &Store,
        fallback: Option<(&crate::store::ProductRow, &crate::store::PriceRow)>,
    ) {
        if let Err(e) = catalog::mirror::refresh(gw, store, &Progress::new(), false).await {
            tracing::warn!(error = %e.message, "catalog not re-read after a write");
            if let Some((product, price)) = fallback {
                if let Err(e) = store.upsert_price_and_product(Some(product), price).await {
                    tracing::warn!(error = %e, "written object not mirrored; the next refresh will");
                }
            }
        }
    }

    /// The dry run of a lookup-key map against Stripe now.
    pub async fn lookup_keys_plan(
        &self,
        map_json: &str,
        op: Option<&str>,
    ) -> Result<MapPlan, ErrorBody> {
        let entries = catalog::migration::parse_map(map_json)?;
        let gw = self.gateway()?;
        let progress = self.progress_for(op);
        let out = catalog::migration::dry_run(&gw, &entries, &progress).await;
        progress.finish();
        out
    }

    /// Plans again (Stripe may have moved on since the dry run) and applies, with progress.
    /// Plans again (Stripe may have moved on since the dry run) and applies, with progress.
    /// Boxed with `Send` where every lifetime is concrete (rust-lang/rust#102211).
    pub fn lookup_keys_apply<'a>(
        &'a self,
        map_json: &'a str,
        op: Option<&'a str>,
        confirm: Option<&'a str>,
    ) -> crate::store::SendFuture<'a, Result<ApplyReport, ErrorBody>> {
        Box::pin(self.lookup_keys_apply_inner(map_json, op, confirm))
    }

    async fn lookup_keys_apply_inner(
        &self,
        map_json: &str,
        op: Option<&str>,
        confirm: Option<&str>,
    ) -> Result<ApplyReport, ErrorBody> {
        let entries = catalog::migration::parse_map(map_json)?;
        let gw = self.gateway()?;
        self.confirm_live(confirm).await?;
        let store = self.store().await?;
        let progress = self.progress_for(op);
        let result = async {
            // Read the whole catalog first: the plan is made against it, and the store holds
            // every product, so each applied row can be mirrored as it lands.
            let snap = catalog::mirror::fetch(&gw, &progress, false).await?;
            store.replace_catalog(&snap).await?;
            let plan = catalog::migration::plan(&entries, &snap.prices);
            let store = &store;
            let on_applied = |row: &catalog::migration::MapRow, price: crate::store::PriceRow| {
                let row = row.clone();
                let action = if row.action == catalog::migration::MapAction::Transfer { "lookup_key.transfer" } else { "lookup_key.assign" };
                Box::pin(async move {
                    if let Err(e) = store.upsert_price_and_product(None, &price).await {
                        tracing::warn!(error = %e, "lookup key applied but not mirrored; the next refresh will");
                    }
                    let mut ids = vec![row.price_id.clone()];
                    ids.extend(row.holder.clone());
                    self.audit(action, Some(row.lookup_key.clone()), serde_json::json!({"from": row.holder, "replaced": row.current_key}), ids)
                        .await;
                }) as futures_util::future::BoxFuture<'_, ()>
            };
            let report = catalog::migration::apply(&gw, plan, &progress, on_applied).await?;
            Ok::<_, ErrorBody>(report)
        }
        .await;
        self.invalidate_keys(
            &entries
                .iter()
                .map(|e| e.lookup_key.clone())
                .collect::<Vec<_>>(),
        );
        progress.finish();
        result
    }

    /// Checks each expected key at Stripe (never the cache).
    pub async fn lookup_keys_verify(&self, expected_json: &str) -> Result<VerifyReport, ErrorBody> {
        let expected = catalog::verify::parse_expected(expected_json)?;
        let r = self.resolver().await?;
        catalog::verify::verify(&r, &expected).await
    }

    /// Attaches (or with `attach` false, detaches) a feature to a product in Stripe.
    pub async fn product_feature(
        &self,
        product: &str,
        feature: &str,
        attach: bool,
        confirm: Option<&str>,
    ) -> Result<Catalog, ErrorBody> {
        if !product.trim().starts_with("prod_") {
            return Err(InputError::new(
                "product",
                format!("{product:?} is not a product id (prod_…)"),
            )
            .into());
        }
        if feature.trim().is_empty() {
            return Err(
                InputError::new("feature", "is required: a feature lookup key or id").into(),
            );
        }
        let gw = self.gateway()?;
        self.confirm_live(confirm).await?;
        let store = self.store().await?;
        let (action, row) = if attach {
            (
                "feature.attach",
                catalog::features::attach(&gw, product.trim(), feature.trim()).await?,
            )
        } else {
            (
                "feature.detach",
                catalog::features::detach(&gw, product.trim(), feature.trim()).await?,
            )
        };
        self.mirror_after_write(&gw, &store, None).await;
        self.audit(
            action,
            Some(feature.trim().to_owned()),
            serde_json::json!({"product": row.product_id, "feature": row.feature_id}),
            vec![
                row.product_id.clone(),
                row.feature_id.clone(),
                row.stripe_id.clone(),
            ],
        )
        .await;
        Ok(Catalog::from_view(store.catalog().await?, None))
    }

    /// The audit log, newest first; `before` pages back from an entry id.
    pub async fn activity(
        &self,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<AuditEntry>, ErrorBody> {
        if !(1..=1000).contains(&limit) {
            return Err(InputError::new("limit", "must be between 1 and 1000").into());
        }
        Ok(self.store().await?.recent_audit(limit, before).await?)
    }
}

/// Resolved keys and the resolver's counters after the call.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct ResolveResult {
    pub resolutions: Vec<Resolution>,
    pub stats: ResolverStats,
}

/// A lookup key read back into its parts, for the live preview in the Create-price form.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct LookupKeyParts {
    pub lookup_key: String,
    pub tier: String,
    pub audience: String,
    pub interval: catalog::PlanInterval,
    pub currency: Option<String>,
    pub version: Option<u32>,
}

impl LookupKeyParts {
    pub fn parse(raw: &str) -> Result<LookupKeyParts, ErrorBody> {
        let k = catalog::LookupKey::parse("lookup_key", raw)?;
        Ok(LookupKeyParts {
            lookup_key: k.to_string(),
            tier: k.tier().to_owned(),
            audience: k.audience().to_owned(),
            interval: k.interval(),
            currency: k.currency().map(|c| c.as_str().to_owned()),
            version: k.version(),
        })
    }
}

/// What `tollgate db backup` wrote.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct BackupReport {
    pub file: String,
    #[ts(type = "number")]
    pub bytes: u64,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

/// What creating a price returns: the new plan row, and where its key came from.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
pub struct CreatedPrice {
    pub plan: Plan,
    pub transferred_from: Option<String>,
    /// The same request made this price before (a re-run, a second click of the same form):
    /// it is returned as it is and nothing was written.
    pub already_created: bool,
}
