use crate::error::{ErrorBody, ErrorCode};

/// A failed Stripe call, keeping what Stripe said.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// Stripe answered with its error object.
    #[error("Stripe answered {status} ({kind}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Api {
        status: u16,
        /// Stripe's `type`: invalid_request_error, api_error, card_error, idempotency_error …
        kind: String,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    #[error("could not reach Stripe at {base}: {detail}")]
    Unreachable { base: String, detail: String },
    #[error("Stripe at {base} did not answer within the time limit")]
    Timeout { base: String },
    #[error("the answer from {base} could not be read as the object asked for ({detail})")]
    Decode { base: String, detail: String },
    /// What came was not Stripe's JSON: an HTML page, plain text, an empty or cut-off body.
    #[error("{base} answered {request} with {status} ({content_type}), {problem}: {first_bytes}; is the API base a Stripe API?")]
    NotStripe {
        base: String,
        request: String,
        status: u16,
        content_type: String,
        problem: String,
        first_bytes: String,
    },
    #[error("Stripe client configuration: {0}")]
    Config(String),
    /// The user cancelled while the request waited (for Stripe's rate limit, or a retry).
    #[error("cancelled while waiting for Stripe")]
    Cancelled,
}

impl GatewayError {
    /// Worth another attempt with the same idempotency key.
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Api { status, .. } => matches!(status, 409 | 424 | 429 | 500..=504),
            GatewayError::Unreachable { .. } | GatewayError::Timeout { .. } => true,
            GatewayError::Decode { .. }
            | GatewayError::NotStripe { .. }
            | GatewayError::Config(_)
            | GatewayError::Cancelled => false,
        }
    }
}

impl From<GatewayError> for ErrorBody {
    fn from(e: GatewayError) -> Self {
        let (code, field) = match &e {
            GatewayError::Api { status: 401, .. } => (ErrorCode::StripeAuthentication, None),
            GatewayError::Api { status: 403, .. } => (ErrorCode::StripePermission, None),
            GatewayError::Api { status: 429, .. } => (ErrorCode::StripeRateLimited, None),
            GatewayError::Api { status, param, .. } if *status < 500 => {
                (ErrorCode::StripeInvalidRequest, param.clone())
            }
            GatewayError::Api { .. }
            | GatewayError::Decode { .. }
            | GatewayError::NotStripe { .. } => (ErrorCode::StripeApi, None),
            GatewayError::Unreachable { .. } | GatewayError::Timeout { .. } => {
                (ErrorCode::StripeUnreachable, None)
            }
            GatewayError::Config(_) => {
                (ErrorCode::InvalidInput, Some("stripe_api_base".to_owned()))
            }
            GatewayError::Cancelled => (ErrorCode::Cancelled, None),
        };
        ErrorBody {
            code,
            message: e.to_string(),
            field,
        }
    }
}
