//! Routes, and the authentication every `/v1` route shares.

use std::sync::Arc;

use axum::extract::{Request, State as AxState};
use axum::http::{header, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::{State, StripeError};

static ACCOUNT_FIXTURE: &str = include_str!("../fixtures/account.json");

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/v1/account", get(account))
        .fallback(unrecognized)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Bearer auth (or Basic with the key as user name, as Stripe also accepts).
async fn authenticate(AxState(state): AxState<Arc<State>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            if let Some(token) = v.strip_prefix("Bearer ") {
                Some(token.trim().to_owned())
            } else {
                v.strip_prefix("Basic ").and_then(decode_basic_user)
            }
        });
    match presented {
        None => StripeError::missing_api_key().into_response(),
        Some(key) if key != state.config.secret_key => StripeError::invalid_api_key(&key).into_response(),
        Some(_) => next.run(req).await,
    }
}

fn decode_basic_user(b64: &str) -> Option<String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
    let s = String::from_utf8(raw).ok()?;
    Some(s.split(':').next().unwrap_or_default().to_owned())
}

async fn account(AxState(state): AxState<Arc<State>>) -> Json<Value> {
    let mut account: Value = serde_json::from_str(ACCOUNT_FIXTURE).expect("account fixture is JSON");
    account["id"] = state.account_id.clone().into();
    account["business_profile"]["name"] = state.config.account_name.clone().into();
    account["settings"]["dashboard"]["display_name"] = state.config.account_name.clone().into();
    account["email"] = "billing@sandbox.tollgate.invalid".into();
    account["charges_enabled"] = true.into();
    account["payouts_enabled"] = true.into();
    account["details_submitted"] = true.into();
    account["default_currency"] = "eur".into();
    account["country"] = "DE".into();
    let url = format!("/v1/accounts/{}/external_accounts", state.account_id);
    account["external_accounts"]["url"] = url.into();
    Json(account)
}

async fn unrecognized(method: Method, uri: Uri) -> StripeError {
    StripeError::unrecognized_url(method.as_str(), uri.path())
}
