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
}

impl StripeError {
    pub fn invalid_api_key(presented: &str) -> Self {
        // Stripe shows the key with all but its last four characters starred.
        let tail: String = presented.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let prefix = presented.get(..8).filter(|_| presented.len() > 12).unwrap_or("");
        StripeError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            // Stripe sends no code for an unknown key (only `api_key_expired` for an expired one).
            code: None,
            param: None,
            message: format!("Invalid API Key provided: {prefix}{}{tail}", "*".repeat(presented.len().saturating_sub(prefix.len() + 4).min(24))),
        }
    }

    pub fn missing_api_key() -> Self {
        StripeError {
            status: StatusCode::UNAUTHORIZED,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".to_owned(),
        }
    }

    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        StripeError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
        }
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        let mut error = json!({ "type": self.kind, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        let mut res = (self.status, axum::Json(json!({ "error": error }))).into_response();
        res.headers_mut().insert("request-id", axum::http::HeaderValue::from_static("req_sandbox"));
        res
    }
}
