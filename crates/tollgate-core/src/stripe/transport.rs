//! The HTTP under async-stripe's typed requests: its `StripeClient` trait implemented over
//! reqwest (the client test-fire already uses), so every answer is seen whole before it is
//! decoded. What Stripe's own error object says is kept (`type`, `code`, `param`, `message`);
//! an answer that is not Stripe's (an HTML page, plain text, an empty body, truncated JSON)
//! is reported with its status, content type and first bytes, never as "error deserializing".
//! Retries follow async-stripe's `RequestStrategy` (409/429/5xx and network failures, with
//! `Stripe-Should-Retry` obeyed), the API version is pinned by `Stripe-Version`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stripe_client_core::{
    CustomizedStripeRequest, Outcome, RequestBuilder, RequestStrategy, StripeClient,
    StripeClientErr, StripeMethod,
};

use super::GatewayError;

/// Per attempt, counting the answer's body.
pub(crate) const PER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// A successful answer, as it came.
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

#[derive(Clone)]
pub(crate) struct Transport(Arc<Inner>);

struct Inner {
    http: reqwest::Client,
    base: String,
    authorization: String,
    strategy: RequestStrategy,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transport({})", self.0.base)
    }
}

/// The first bytes of a body, printable, for a message.
pub(crate) fn first_bytes(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(120)];
    let text: String = String::from_utf8_lossy(head)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if bytes.is_empty() {
        "an empty body".into()
    } else if bytes.len() > head.len() {
        format!("{text:?}…")
    } else {
        format!("{text:?}")
    }
}

impl Transport {
    pub(crate) fn new(
        base: &str,
        secret: &str,
        strategy: RequestStrategy,
    ) -> Result<Self, GatewayError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "Tollgate/",
                env!("CARGO_PKG_VERSION"),
                " (async-stripe)"
            ))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GatewayError::Config(e.to_string()))?;
        Ok(Transport(Arc::new(Inner {
            http,
            base: base.to_owned(),
            authorization: format!("Bearer {secret}"),
            strategy,
        })))
    }

    fn not_stripe(&self, req: &RequestBuilder, a: &Answer, problem: String) -> GatewayError {
        GatewayError::NotStripe {
            base: self.0.base.clone(),
            request: describe(req),
            status: a.status,
            content_type: a
                .content_type
                .clone()
                .unwrap_or_else(|| "no content type".into()),
            problem,
            first_bytes: first_bytes(&a.bytes),
        }
    }

    /// Sends a request with the strategy's retries; a 2xx answer as it came, anything else
    /// as the error it is.
    pub(crate) async fn fetch(
        &self,
        req: &RequestBuilder,
        strategy: Option<&RequestStrategy>,
        timeout: Option<Duration>,
    ) -> Result<Answer, GatewayError> {
        let strategy = strategy.unwrap_or(&self.0.strategy);
        let key = match (req.method, strategy) {
            (StripeMethod::Get, _) => None,
            (_, RequestStrategy::Idempotent(k)) => Some(k.as_str().to_owned()),
            _ => None,
        };
        let mut url = format!("{}/v1{}", self.0.base, req.path);
        if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let mut tries = 0u32;
        let (mut last_status, mut last_retry) = (None, None);
        let mut last_error = GatewayError::Config("no attempt was made".into());
        loop {
            match strategy.test(last_status, last_retry, tries) {
                Outcome::Stop => return Err(last_error),
                Outcome::Continue(wait) => {
                    if let Some(d) = wait {
                        tokio::time::sleep(d).await;
                    }
                }
            }
            tries += 1;
            let method = match req.method {
                StripeMethod::Get => reqwest::Method::GET,
                StripeMethod::Post => reqwest::Method::POST,
                StripeMethod::Delete => reqwest::Method::DELETE,
            };
            let mut r = self
                .0
                .http
                .request(method, &url)
                .timeout(timeout.unwrap_or(PER_ATTEMPT_TIMEOUT))
                .header("Authorization", &self.0.authorization)
                .header("Stripe-Version", stripe_client_core::VERSION.as_str());
            if let Some(k) = &key {
                r = r.header("Idempotency-Key", k);
            }
            if let Some(body) = &req.body {
                r = r
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let answer = async {
                let resp = r.send().await?;
                let status = resp.status().as_u16();
                let retry = resp
                    .headers()
                    .get("Stripe-Should-Retry")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<bool>().ok());
                let content_type = resp
                    .headers()
                    .get("Content-Type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>((
                    Answer {
                        status,
                        content_type,
                        bytes,
                    },
                    retry,
                ))
            }
            .await;
            let (answer, retry) = match answer {
                Ok(a) => a,
                Err(e) => {
                    last_error = if e.is_timeout() {
                        GatewayError::Timeout {
                            base: self.0.base.clone(),
                        }
                    } else {
                        GatewayError::Unreachable {
                            base: self.0.base.clone(),
                            detail: error_chain(&e),
                        }
                    };
                    // Network failures retry like a retryable status.
                    last_status = None;
                    last_retry = None;
                    continue;
                }
            };
            if (200..300).contains(&answer.status) {
                return Ok(answer);
            }
            last_status = Some(answer.status);
            last_retry = retry;
            last_error = self.api_error(req, &answer);
        }
    }

    /// Stripe's error object, or what came instead.
    fn api_error(&self, req: &RequestBuilder, a: &Answer) -> GatewayError {
        match serde_json::from_slice::<serde_json::Value>(&a.bytes) {
            Ok(v) if v["error"].is_object() => {
                let e = &v["error"];
                let s = |k: &str| e[k].as_str().map(str::to_owned);
                GatewayError::Api {
                    status: a.status,
                    kind: s("type").unwrap_or_else(|| "api_error".into()),
                    code: s("code"),
                    param: s("param"),
                    message: s("message").unwrap_or_else(|| "no message".into()),
                }
            }
            Ok(_) => self.not_stripe(req, a, "JSON without Stripe's error object".into()),
            Err(e) => self.not_stripe(req, a, json_problem(&e)),
        }
    }

    /// A 2xx answer parsed as JSON.
    pub(crate) async fn get_json(
        &self,
        req: &RequestBuilder,
    ) -> Result<serde_json::Value, GatewayError> {
        let a = self.fetch(req, None, None).await?;
        serde_json::from_slice(&a.bytes).map_err(|e| self.not_stripe(req, &a, json_problem(&e)))
    }
}

/// `GET /v1/products?limit=100`, for messages.
pub(crate) fn describe(req: &RequestBuilder) -> String {
    let method = match req.method {
        StripeMethod::Get => "GET",
        StripeMethod::Post => "POST",
        StripeMethod::Delete => "DELETE",
    };
    match req
        .query
        .as_deref()
        .filter(|q| !q.is_empty() && req.body.is_none())
    {
        Some(q) => format!("{method} /v1{}?{q}", req.path),
        None => format!("{method} /v1{}", req.path),
    }
}

fn json_problem(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => format!("truncated JSON ({e})"),
        _ => format!("not JSON ({e})"),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

impl StripeClientErr for GatewayError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        GatewayError::Decode {
            base: "Stripe".into(),
            detail: msg.to_string(),
        }
    }
}

impl StripeClient for Transport {
    type Err = GatewayError;

    fn execute(
        &self,
        req: CustomizedStripeRequest,
    ) -> impl std::future::Future<Output = Result<Bytes, Self::Err>> + Send {
        let (req, over) = req.into_pieces();
        async move {
            let a = self
                .fetch(&req, over.request_strategy.as_ref(), over.timeout)
                .await?;
            // A typed request that got an answer which is not JSON: say what came.
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&a.bytes) {
                return Err(self.not_stripe(&req, &a, json_problem(&e)));
            }
            Ok(a.bytes)
        }
    }
}
