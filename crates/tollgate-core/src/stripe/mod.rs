//! The one door to Stripe: async-stripe over real HTTP, to api.stripe.com or to any base URL
//! (the sandbox). Under the process's rate limiter (Stripe's limits, `limit`); retries with
//! jittered backoff on 409/429/5xx and connection failures as the gateway's [`Patience`] says,
//! honouring `Stripe-Should-Retry` and `Retry-After`; an Idempotency-Key on every POST; errors
//! that keep Stripe's `type`, `code`, `param` and `message`.

mod error;
pub mod limit;
mod transport;

use serde::{Deserialize, Serialize};
use stripe_client_core::{RequestStrategy, StripeRequest};
use ts_rs::TS;

pub use limit::RateStatus;
use transport::Transport;
pub use transport::{Failures, Patience};

pub use error::GatewayError;

use crate::domain::StripeSecretKey;

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// The account a key belongs to, as the header and Settings show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AccountSummary {
    pub id: String,
    /// Dashboard display name, else business name, else email, else the id.
    pub name: String,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_currency: Option<String>,
    pub charges_enabled: bool,
}

pub struct StripeGateway {
    client: Transport,
    base: String,
}

impl StripeGateway {
    pub fn new(api_base: &str, key: &StripeSecretKey) -> Result<Self, GatewayError> {
        let base = api_base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(GatewayError::Config(format!(
                "the Stripe API base must be an http(s) URL, got {base:?}"
            )));
        }
        let client = Transport::new(&base, key.expose())?;
        Ok(StripeGateway { client, base })
    }

    /// This gateway, its requests waiting and retrying as `patience` says (the same HTTP
    /// client and the same rate limiter).
    pub fn with_patience(&self, patience: Patience) -> StripeGateway {
        StripeGateway {
            client: self.client.with_patience(patience),
            base: self.base.clone(),
        }
    }

    /// What the process's rate limiter for this account has done.
    pub fn rate_status(&self) -> RateStatus {
        self.client.rate_status()
    }

    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/account`: who this key belongs to. Works with secret and restricted keys
    /// that may read the account.
    pub async fn account(&self) -> Result<AccountSummary, GatewayError> {
        let a = stripe_connect::account::RetrieveForMyAccountAccount::new()
            .send(&self.client)
            .await?;
        let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let name = nonempty(
            a.settings
                .as_ref()
                .and_then(|s| s.dashboard.display_name.clone()),
        )
        .or_else(|| nonempty(a.business_profile.as_ref().and_then(|b| b.name.clone())))
        .or_else(|| nonempty(a.email.clone()))
        .unwrap_or_else(|| a.id.to_string());
        Ok(AccountSummary {
            id: a.id.to_string(),
            name,
            email: a.email.clone(),
            country: a.country.clone(),
            default_currency: a.default_currency.map(|c| c.to_string()),
            charges_enabled: a.charges_enabled.unwrap_or(false),
        })
    }

    /// Every item of a list, following Stripe's cursors page by page.
    pub async fn list_all<L>(
        &self,
        paginator: stripe_client_core::ListPaginator<L>,
    ) -> Result<Vec<L::Data>, GatewayError>
    where
        L: stripe_client_core::PaginableList + Send + Sync + 'static,
    {
        use futures_util::TryStreamExt;
        paginator.stream(&self.client).try_collect().await
    }

    /// `GET /v1/<path>` as raw JSON, with the client's retries (429 and 5xx back off and try
    /// again). The sync engine reads objects this way so one parser serves every API version
    /// and event payloads alike.
    pub async fn get_json(
        &self,
        path: &str,
        query: &serde_json::Value,
    ) -> Result<serde_json::Value, GatewayError> {
        use stripe_client_core::{RequestBuilder, StripeMethod};
        let mut req = RequestBuilder::new(StripeMethod::Get, path.to_owned());
        if query.as_object().is_some_and(|q| !q.is_empty()) {
            req = req.query(query);
        }
        self.client.get_json(&req).await
    }

    /// A list read page by page as raw JSON, from after `after` (a resume point) on.
    pub fn pages(&self, path: &str, query: serde_json::Value, after: Option<String>) -> Pages<'_> {
        Pages {
            gw: self,
            path: path.to_owned(),
            query,
            after,
            done: false,
        }
    }

    /// Sends one request with the client's retries (GETs; POSTs go through `post_idempotent`).
    pub async fn send<R>(&self, request: R) -> Result<R::Output, GatewayError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        request.customize().send(&self.client).await
    }

    /// Sends a POST with an Idempotency-Key derived from the intent, so a retried click or a
    /// re-run command is one write at Stripe, not two.
    pub async fn post_idempotent<R>(
        &self,
        request: R,
        intent: &IdempotencyIntent,
    ) -> Result<R::Output, GatewayError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let key = stripe_client_core::IdempotencyKey::new(intent.key())
            .map_err(|e| GatewayError::Config(format!("idempotency key: {e:?}")))?;
        // The transport retries with the same key each time (409, 429, 5xx, network).
        request
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
    }
}

/// A Stripe list, 100 items a page, following `starting_after`.
pub struct Pages<'a> {
    gw: &'a StripeGateway,
    path: String,
    query: serde_json::Value,
    after: Option<String>,
    done: bool,
}

impl Pages<'_> {
    /// The next page's items; `None` once the list is exhausted.
    pub async fn next(&mut self) -> Result<Option<Vec<serde_json::Value>>, GatewayError> {
        if self.done {
            return Ok(None);
        }
        let mut q = self.query.clone();
        q["limit"] = 100.into();
        if let Some(a) = &self.after {
            q["starting_after"] = a.clone().into();
        }
        let page = self.gw.get_json(&self.path, &q).await?;
        let items = page["data"].as_array().cloned().unwrap_or_default();
        if let Some(last) = items.last().and_then(|i| i["id"].as_str()) {
            self.after = Some(last.to_owned());
        }
        self.done = items.is_empty() || !page["has_more"].as_bool().unwrap_or(false);
        Ok(Some(items))
    }

    /// The id the next page starts after: where a resumed read picks up.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// What a write means to do, from which its Idempotency-Key is derived: the same intent gives
/// the same key (a double click, a re-run), a different intent a different key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyIntent {
    action: &'static str,
    parts: Vec<String>,
}

impl IdempotencyIntent {
    pub fn new(action: &'static str) -> Self {
        IdempotencyIntent {
            action,
            parts: Vec::new(),
        }
    }

    pub fn with(mut self, part: impl std::fmt::Display) -> Self {
        self.parts.push(part.to_string());
        self
    }

    /// `tollgate-<action>-<32 hex digits of SHA-256 over the parts>`, well under Stripe's 255.
    pub fn key(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in std::iter::once(self.action).chain(self.parts.iter().map(String::as_str)) {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let action: String = self.action.chars().take(64).collect();
        format!("tollgate-{action}-{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_give_stable_distinct_keys() {
        let a = IdempotencyIntent::new("price.create")
            .with("prod_1")
            .with(4900)
            .with("eur");
        let b = IdempotencyIntent::new("price.create")
            .with("prod_1")
            .with(4900)
            .with("eur");
        let c = IdempotencyIntent::new("price.create")
            .with("prod_1")
            .with(4900)
            .with("usd");
        // Part boundaries matter: ("ab","c") is not ("a","bc").
        let d = IdempotencyIntent::new("x").with("ab").with("c");
        let e = IdempotencyIntent::new("x").with("a").with("bc");
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_ne!(d.key(), e.key());
        assert!(a.key().starts_with("tollgate-price.create-"));
        assert!(a.key().len() <= 255);
    }

    #[test]
    fn bad_base_is_refused() {
        let key = StripeSecretKey::parse("sk_test_sandbox").unwrap();
        assert!(matches!(
            StripeGateway::new("api.stripe.com", &key),
            Err(GatewayError::Config(_))
        ));
    }
}
