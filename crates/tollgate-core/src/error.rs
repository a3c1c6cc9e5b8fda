//! The one error shape that leaves the core: `{ code, message, field? }`. Each module keeps its
//! own `thiserror` enum and says here which code it is, so the UI can tell a bad key from an
//! unreachable Stripe, and the CLI can pick its exit code.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::InputError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The input broke a rule; `field` names it.
    InvalidInput,
    /// A key of the other mode (live in test, or the reverse).
    EnvironmentMismatch,
    /// Nothing is stored under that name.
    NotFound,
    /// No Secret Service / Keychain / Credential Manager answered.
    KeyringUnavailable,
    /// The keyring is there but locked, or access was refused.
    KeyringLocked,
    /// Stripe refused the key (401: wrong, expired or revoked).
    StripeAuthentication,
    /// Stripe refused for lack of permission (403: a restricted key without that right).
    StripePermission,
    /// Stripe could not be reached (network, DNS, TLS, timeout).
    StripeUnreachable,
    /// Stripe rate-limited us and retries ran out.
    StripeRateLimited,
    /// Stripe rejected the request (4xx other than the above).
    StripeInvalidRequest,
    /// Stripe failed (5xx) and retries ran out.
    StripeApi,
    /// No Stripe key is set for this environment.
    StripeKeyMissing,
    /// The database file is not a database, or is damaged.
    DatabaseCorrupt,
    /// The database cannot be written (read-only file or folder).
    DatabaseReadOnly,
    /// The database server could not be reached or refused us.
    DatabaseUnavailable,
    /// A sync finished, but some objects could not be read: each is a sync issue naming
    /// the object and the field, tried again by the next sync.
    SyncIncomplete,
    /// The user cancelled the operation.
    Cancelled,
    /// Anything else, with the detail in the message.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub field: Option<String>,
}

impl ErrorCode {
    /// The store failed (as opposed to Stripe or the input).
    pub fn is_database(self) -> bool {
        matches!(
            self,
            ErrorCode::DatabaseCorrupt
                | ErrorCode::DatabaseReadOnly
                | ErrorCode::DatabaseUnavailable
        )
    }
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The CLI's exit code: 2 for usage and bad input, 1 for every other failure.
    pub fn exit_code(&self) -> i32 {
        match self.code {
            ErrorCode::InvalidInput | ErrorCode::EnvironmentMismatch => 2,
            _ => 1,
        }
    }
}

impl From<InputError> for ErrorBody {
    fn from(e: InputError) -> Self {
        let code = if e.environment_mismatch {
            ErrorCode::EnvironmentMismatch
        } else {
            ErrorCode::InvalidInput
        };
        ErrorBody {
            code,
            message: e.to_string(),
            field: Some(e.field.into_owned()),
        }
    }
}
