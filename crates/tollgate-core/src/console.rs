//! The operations behind every screen and every CLI subcommand, written once. The Tauri
//! commands and `tollgate <subcommand>` are thin wrappers over these methods.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{
    DatabaseUrl, Environment, InputError, MaskedSecret, SecretKind, StripeSecretKey, WebhookSecret,
};
use crate::error::{ErrorBody, ErrorCode};
use crate::paths;
use crate::secrets::{SecretStore, SecretsError};
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

pub struct Console {
    env: Mutex<Environment>,
    actor: &'static str,
    secrets: SecretStore,
    overrides: Overrides,
    stores: tokio::sync::Mutex<HashMap<Environment, Store>>,
    accounts: Mutex<HashMap<Environment, AccountSummary>>,
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
        actor: &'static str,
        keyring_service: &str,
        overrides: Overrides,
    ) -> Self {
        Console {
            env: Mutex::new(env),
            actor,
            secrets: SecretStore::new(keyring_service),
            overrides,
            stores: tokio::sync::Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
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
            kind,
            serde_json::json!({ "masked": masked.0 }),
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
            }
            SecretKind::DatabaseUrl => {
                self.stores.lock().await.remove(&env);
            }
            SecretKind::WebhookSecret => {}
        }
        self.audit("secret.remove", kind, serde_json::json!({ "which": which }))
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
        store.migrate().await?;
        stores.insert(env, store.clone());
        Ok(store)
    }

    /// The store in use, opened and migrated like every other use of it.
    pub async fn db_status(&self) -> Result<DbStatus, ErrorBody> {
        Ok(self.store().await?.status().await?)
    }

    pub async fn db_migrate(&self) -> Result<MigrationReport, ErrorBody> {
        Ok(self.store().await?.migrate().await?)
    }

    /// Records an action in the audit log. The keyring write it follows has already happened,
    /// so a store that cannot record it is logged, not turned into a failure of the action.
    fn audit<'a>(
        &'a self,
        action: &'static str,
        kind: SecretKind,
        detail: serde_json::Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        // Boxed with an explicit `Send`: rustc cannot otherwise prove the sqlx future Send for
        // every lifetime once it is nested inside a Tauri command (rust-lang/rust#102211).
        Box::pin(async move {
            let entry = NewAuditEntry {
                environment: self.environment(),
                actor: self.actor,
                action,
                target: Some(kind.as_str().to_owned()),
                detail,
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
}
