//! Secrets live in the OS keyring only (Secret Service on Linux, Keychain on macOS,
//! Credential Manager on Windows), one entry per environment and kind. Nothing here writes a
//! secret anywhere else, and nothing returns one except to the code that must use it.

use crate::domain::{
    DatabaseUrl, Environment, InputError, MaskedSecret, SecretKind, StripeSecretKey, WebhookSecret,
};
use crate::error::{ErrorBody, ErrorCode};

/// The keyring service name the app uses. Tests pass their own.
pub const DEFAULT_SERVICE: &str = "dev.tollgate.desktop";

/// How many webhook signing secrets one environment keeps (old + new during a rotation, with room).
pub const MAX_WEBHOOK_SECRETS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the OS keyring is not available ({0}); on Linux, start a Secret Service such as gnome-keyring, or set the TOLLGATE_* environment variables")]
    Unavailable(String),
    #[error("the OS keyring is locked or refused access ({0}); unlock it and try again")]
    Locked(String),
    #[error("the keyring entry {entry} holds a value Tollgate cannot read ({reason}); replace or remove it")]
    Unreadable { entry: String, reason: String },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("no {0} matches {1}")]
    NotFound(&'static str, String),
}

impl From<SecretsError> for ErrorBody {
    fn from(e: SecretsError) -> Self {
        let code = match &e {
            SecretsError::Unavailable(_) => ErrorCode::KeyringUnavailable,
            SecretsError::Locked(_) => ErrorCode::KeyringLocked,
            SecretsError::Unreadable { .. } => ErrorCode::Internal,
            SecretsError::Input(i) => return i.clone().into(),
            SecretsError::NotFound(..) => ErrorCode::NotFound,
        };
        ErrorBody::new(code, e.to_string())
    }
}

fn map_keyring(e: keyring::Error) -> SecretsError {
    match e {
        keyring::Error::NoStorageAccess(inner) => SecretsError::Locked(inner.to_string()),
        keyring::Error::PlatformFailure(inner) => {
            let s = inner.to_string();
            // Secret Service reports a locked collection or a dismissed prompt as a platform failure.
            if s.to_ascii_lowercase().contains("locked") || s.contains("prompt") {
                SecretsError::Locked(s)
            } else {
                SecretsError::Unavailable(s)
            }
        }
        other => SecretsError::Unavailable(other.to_string()),
    }
}

/// The keyring, scoped to one service name.
#[derive(Debug, Clone)]
pub struct SecretStore {
    service: String,
}

impl SecretStore {
    pub fn new(service: impl Into<String>) -> Self {
        SecretStore {
            service: service.into(),
        }
    }

    fn account(env: Environment, kind: SecretKind) -> String {
        format!("{}/{}", env.as_str(), kind.as_str())
    }

    fn entry(&self, env: Environment, kind: SecretKind) -> Result<keyring::Entry, SecretsError> {
        keyring::Entry::new(&self.service, &Self::account(env, kind)).map_err(map_keyring)
    }

    fn read(&self, env: Environment, kind: SecretKind) -> Result<Option<String>, SecretsError> {
        match self.entry(env, kind)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn write(&self, env: Environment, kind: SecretKind, value: &str) -> Result<(), SecretsError> {
        self.entry(env, kind)?
            .set_password(value)
            .map_err(map_keyring)
    }

    /// Removes the entry; `Ok(false)` when there was none.
    fn delete(&self, env: Environment, kind: SecretKind) -> Result<bool, SecretsError> {
        match self.entry(env, kind)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn unreadable(env: Environment, kind: SecretKind, e: InputError) -> SecretsError {
        SecretsError::Unreadable {
            entry: Self::account(env, kind),
            reason: e.to_string(),
        }
    }

    /// Probes the keyring without touching any entry of ours.
    pub fn probe(&self) -> Result<(), SecretsError> {
        match keyring::Entry::new(&self.service, "probe/none")
            .map_err(map_keyring)?
            .get_password()
        {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring(e)),
        }
    }

    pub fn stripe_key(&self, env: Environment) -> Result<Option<StripeSecretKey>, SecretsError> {
        let kind = SecretKind::StripeSecretKey;
        self.read(env, kind)?
            .map(|v| StripeSecretKey::parse(&v).map_err(|e| Self::unreadable(env, kind, e)))
            .transpose()
    }

    pub fn set_stripe_key(
        &self,
        env: Environment,
        key: &StripeSecretKey,
    ) -> Result<(), SecretsError> {
        key.check_environment(env)?;
        self.write(env, SecretKind::StripeSecretKey, key.expose())
    }

    pub fn database_url(&self, env: Environment) -> Result<Option<DatabaseUrl>, SecretsError> {
        let kind = SecretKind::DatabaseUrl;
        self.read(env, kind)?
            .map(|v| DatabaseUrl::parse(&v).map_err(|e| Self::unreadable(env, kind, e)))
            .transpose()
    }

    pub fn set_database_url(
        &self,
        env: Environment,
        url: &DatabaseUrl,
    ) -> Result<(), SecretsError> {
        self.write(env, SecretKind::DatabaseUrl, url.expose())
    }

    /// All signing secrets of the environment, oldest first. Verification tries each, so an
    /// endpoint's secret can be rolled without dropping events signed with the old one.
    pub fn webhook_secrets(&self, env: Environment) -> Result<Vec<WebhookSecret>, SecretsError> {
        let kind = SecretKind::WebhookSecret;
        let Some(raw) = self.read(env, kind)? else {
            return Ok(Vec::new());
        };
        let list: Vec<String> =
            serde_json::from_str(&raw).map_err(|e| SecretsError::Unreadable {
                entry: Self::account(env, kind),
                reason: e.to_string(),
            })?;
        list.iter()
            .map(|v| WebhookSecret::parse(v).map_err(|e| Self::unreadable(env, kind, e)))
            .collect()
    }

    fn write_webhook_secrets(
        &self,
        env: Environment,
        list: &[WebhookSecret],
    ) -> Result<(), SecretsError> {
        if list.is_empty() {
            self.delete(env, SecretKind::WebhookSecret).map(|_| ())
        } else {
            let raw = serde_json::to_string(&list.iter().map(|w| w.expose()).collect::<Vec<_>>())
                .expect("a list of strings serializes");
            self.write(env, SecretKind::WebhookSecret, &raw)
        }
    }

    /// Adds a signing secret; adding one that is already there changes nothing.
    pub fn add_webhook_secret(
        &self,
        env: Environment,
        secret: &WebhookSecret,
    ) -> Result<(), SecretsError> {
        let mut list = self.webhook_secrets(env)?;
        if list.contains(secret) {
            return Ok(());
        }
        if list.len() >= MAX_WEBHOOK_SECRETS {
            return Err(InputError::new(
                WebhookSecret::FIELD,
                format!("at most {MAX_WEBHOOK_SECRETS} signing secrets per environment: remove an old one first"),
            )
            .into());
        }
        list.push(secret.clone());
        self.write_webhook_secrets(env, &list)
    }

    /// Removes the signing secret whose masked form is `masked` (what the UI and CLI show).
    pub fn remove_webhook_secret(
        &self,
        env: Environment,
        masked: &str,
    ) -> Result<(), SecretsError> {
        let mut list = self.webhook_secrets(env)?;
        let matching: Vec<usize> = list
            .iter()
            .enumerate()
            .filter(|(_, w)| w.masked().0 == masked)
            .map(|(i, _)| i)
            .collect();
        match matching.as_slice() {
            [i] => {
                list.remove(*i);
                self.write_webhook_secrets(env, &list)
            }
            [] => Err(SecretsError::NotFound(
                "webhook signing secret",
                masked.to_owned(),
            )),
            _ => Err(InputError::new(
                "webhook_secret",
                "matches more than one secret; remove all with --all",
            )
            .into()),
        }
    }

    /// Removes every secret of one kind in the environment; `Ok(false)` when there was none.
    pub fn remove(&self, env: Environment, kind: SecretKind) -> Result<bool, SecretsError> {
        self.delete(env, kind)
    }

    /// The masked view of what the keyring holds for the environment.
    pub fn masked(
        &self,
        env: Environment,
        kind: SecretKind,
    ) -> Result<Vec<MaskedSecret>, SecretsError> {
        Ok(match kind {
            SecretKind::StripeSecretKey => self
                .stripe_key(env)?
                .map(|k| k.masked())
                .into_iter()
                .collect(),
            SecretKind::WebhookSecret => self
                .webhook_secrets(env)?
                .iter()
                .map(|w| w.masked())
                .collect(),
            SecretKind::DatabaseUrl => self
                .database_url(env)?
                .map(|d| d.masked())
                .into_iter()
                .collect(),
        })
    }
}
