//! Stripe's error object and status codes, as Stripe sends them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct StripeError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub message: String,
    /// The payment intent a card error belongs to, as Stripe attaches it.
    pub payment_intent: Option<Box<serde_json::Value>>,
    /// Stripe's page about the error code, as Stripe links it.
    pub doc_url: Option<&'static str>,
}

impl StripeError {
    pub fn invalid_api_key(presented: &str) -> Self {
        // Stripe shows the key with all but its last four characters starred.
        let tail: String = presented
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let prefix = presented
            .get(..8)
            .filter(|_| presented.len() > 12)
            .unwrap_or("");
        StripeError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            // Stripe sends no code for an unknown key (only `api_key_expired` for an expired one).
            code: None,
            param: None,
            message: format!(
                "Invalid API Key provided: {prefix}{}{tail}",
                "*".repeat(presented.len().saturating_sub(prefix.len() + 4).min(24))
            ),
            payment_intent: None,
            doc_url: None,
        }
    }

    /// A restricted key without write rights, as Stripe words it.
    pub fn read_only_key(presented: &str, path: &str) -> Self {
        let masked = Self::invalid_api_key(presented)
            .message
            .replace("Invalid API Key provided: ", "");
        StripeError {
            status: StatusCode::FORBIDDEN,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: format!("The provided key '{masked}' does not have the required permissions for this endpoint ({path}). Having write permission for this resource would allow this request to continue."),
            payment_intent: None,
            doc_url: None,
        }
    }

    pub fn missing_api_key() -> Self {
        StripeError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".to_owned(), payment_intent: None, doc_url: None
        }
    }

    fn invalid_request(code: Option<&'static str>, param: Option<String>, message: String) -> Self {
        StripeError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code,
            param,
            message,
            payment_intent: None,
            doc_url: None,
        }
    }

    pub fn invalid_param(param: &str, message: String) -> Self {
        Self::invalid_request(
            Some("parameter_invalid_string"),
            Some(param.to_owned()),
            message,
        )
    }

    pub fn unknown_param(param: &str) -> Self {
        Self::invalid_request(
            Some("parameter_unknown"),
            Some(param.to_owned()),
            format!("Received unknown parameter: {param}"),
        )
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid_request(
            Some("parameter_missing"),
            Some(param.to_owned()),
            format!("Missing required param: {param}."),
        )
    }

    pub fn invalid_integer(param: &str, value: &str) -> Self {
        Self::invalid_request(
            Some("parameter_invalid_integer"),
            Some(param.to_owned()),
            format!("Invalid integer: {value}"),
        )
    }

    pub fn invalid_boolean(param: &str, value: &str) -> Self {
        Self::invalid_request(
            Some("parameter_invalid_string"),
            Some(param.to_owned()),
            format!("Invalid boolean: {value}"),
        )
    }

    pub fn invalid_enum(param: &str, value: &str, allowed: &[&str]) -> Self {
        let list = match allowed {
            [] => String::new(),
            [one] => one.to_string(),
            [init @ .., last] => format!("{}, or {last}", init.join(", ")),
        };
        Self::invalid_request(
            Some("parameter_invalid_string"),
            Some(param.to_owned()),
            format!("Invalid {param}: must be one of {list} (got {value:?})"),
        )
    }

    /// `No such price: 'price_x'`, 404, as Stripe says it.
    pub fn resource_missing(noun: &str, id: &str, param: Option<&str>) -> Self {
        StripeError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("resource_missing"),
            param: param.map(str::to_owned),
            message: format!("No such {noun}: '{id}'"),
            payment_intent: None,
            doc_url: None,
        }
    }

    /// A request that is well-formed but not allowed in the object's state.
    pub fn invalid_state(param: Option<&str>, message: String) -> Self {
        Self::invalid_request(None, param.map(str::to_owned), message)
    }

    pub fn idempotency_mismatch(key: &str) -> Self {
        StripeError {
            status: StatusCode::BAD_REQUEST,
            kind: "idempotency_error",
            code: None,
            param: None,
            message: format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
            payment_intent: None,
            doc_url: None,
        }
    }

    pub fn card_declined(message: &str) -> Self {
        StripeError {
            status: StatusCode::PAYMENT_REQUIRED,
            kind: "card_error",
            code: Some("card_declined"),
            param: None,
            message: message.to_owned(),
            payment_intent: None,
            doc_url: None,
        }
    }

    pub fn conflict(message: String) -> Self {
        StripeError {
            status: StatusCode::CONFLICT,
            kind: "invalid_request_error",
            code: Some("lock_timeout"),
            param: None,
            message,
            payment_intent: None,
            doc_url: None,
        }
    }

    pub fn api_error() -> Self {
        StripeError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "api_error",
            code: None,
            param: None,
            message: "Sorry, something went wrong. We've already been notified of the problem, but if you need any help, you can reach us at support.stripe.com/contact.".to_owned(),
            payment_intent: None,
            doc_url: None,
        }
    }

    /// Stripe's 429, word for word (its `Stripe-Rate-Limited-Reason` header is the caller's).
    pub fn rate_limited() -> Self {
        StripeError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "invalid_request_error",
            code: Some("rate_limit"),
            param: None,
            message: "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.".to_owned(),
            payment_intent: None,
            doc_url: Some("https://stripe.com/docs/error-codes/rate-limit"),
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_payment_intent(mut self, pi: serde_json::Value) -> Self {
        self.payment_intent = Some(Box::new(pi));
        self
    }

    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        StripeError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
            payment_intent: None,
            doc_url: None,
        }
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        // Keys in Stripe's (alphabetical) order, whether or not serde_json keeps insertion order.
        let mut error = serde_json::Map::new();
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
        }
        if self.payment_intent.is_some() {
            error.insert("decline_code".into(), json!("generic_decline"));
        }
        if let Some(url) = self.doc_url {
            error.insert("doc_url".into(), json!(url));
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        if let Some(pi) = self.payment_intent {
            error.insert("payment_intent".into(), *pi);
        }
        error.insert("type".into(), json!(self.kind));
        let mut res = (self.status, axum::Json(json!({ "error": error }))).into_response();
        res.headers_mut().insert(
            "request-id",
            axum::http::HeaderValue::from_static("req_sandbox"),
        );
        res
    }
}
