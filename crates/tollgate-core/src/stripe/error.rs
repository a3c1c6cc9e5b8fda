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
    #[error("Stripe at {base} sent a response Tollgate could not read ({detail}); is the API base a Stripe API?")]
    Decode { base: String, detail: String },
    #[error("Stripe client configuration: {0}")]
    Config(String),
}

impl GatewayError {
    pub(crate) fn from_stripe(e: stripe::StripeError, base: &str) -> Self {
        let base = base.to_owned();
        match e {
            stripe::StripeError::Stripe(api, status) => GatewayError::Api {
                status,
                kind: api.type_.as_str().to_owned(),
                code: api.code.as_ref().map(|c| c.as_str().to_owned()),
                param: api.param.clone(),
                message: api
                    .message
                    .clone()
                    .unwrap_or_else(|| "no message".to_owned()),
            },
            stripe::StripeError::ClientError(detail) => GatewayError::Unreachable { base, detail },
            stripe::StripeError::Timeout => GatewayError::Timeout { base },
            stripe::StripeError::JSONDeserialize(detail) => GatewayError::Decode { base, detail },
            stripe::StripeError::ConfigError(detail) => GatewayError::Config(detail),
        }
    }

    /// Worth another attempt with the same idempotency key.
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Api { status, .. } => matches!(status, 409 | 424 | 429 | 500..=504),
            GatewayError::Unreachable { .. } | GatewayError::Timeout { .. } => true,
            GatewayError::Decode { .. } | GatewayError::Config(_) => false,
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
            GatewayError::Api { .. } | GatewayError::Decode { .. } => (ErrorCode::StripeApi, None),
            GatewayError::Unreachable { .. } | GatewayError::Timeout { .. } => {
                (ErrorCode::StripeUnreachable, None)
            }
            GatewayError::Config(_) => {
                (ErrorCode::InvalidInput, Some("stripe_api_base".to_owned()))
            }
        };
        ErrorBody {
            code,
            message: e.to_string(),
            field,
        }
    }
}
