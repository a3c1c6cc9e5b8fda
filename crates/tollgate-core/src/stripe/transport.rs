//! The HTTP under async-stripe's typed requests: its `StripeClient` trait implemented over
//! reqwest (the client test-fire already uses), so every answer is seen whole before it is
//! decoded. What Stripe's own error object says is kept (`type`, `code`, `param`, `message`);
//! an answer that is not Stripe's (an HTML page, plain text, an empty body, truncated JSON)
//! is reported with its status, content type and first bytes, never as "error deserializing".
//! Every request waits its turn under the process's rate limiter (`limit`); retries follow the
//! gateway's [`Patience`] (429s waited out, 409/5xx and network failures retried with jittered
//! backoff, `Stripe-Should-Retry` obeyed); the API version is pinned by `Stripe-Version`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stripe_client_core::{
    CustomizedStripeRequest, RequestBuilder, RequestStrategy, StripeClient, StripeClientErr,
    StripeMethod,
};

use super::limit::{self, Limiter, RateStatus, Unwatched, Watch};
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
    limiter: Arc<Limiter>,
    patience: Patience,
}

/// How long a request keeps trying.
#[derive(Clone)]
pub struct Patience {
    /// How long 429s are waited out (`None`: as long as they last).
    pub rate_limited_for: Option<Duration>,
    /// How other retryable failures (409, 5xx, network) are retried.
    pub failures: Failures,
    /// Who sees the waits and may cancel them.
    pub watch: Arc<dyn Watch>,
}

#[derive(Debug, Clone, Copy)]
pub enum Failures {
    /// This many attempts in all.
    Attempts(u32),
    /// At least three attempts, and more until this much time has passed.
    For(Duration),
}

impl Patience {
    /// A screen or a command: three attempts, 429s waited out for a minute.
    pub fn interactive() -> Patience {
        Patience {
            rate_limited_for: Some(Duration::from_secs(60)),
            failures: Failures::Attempts(3),
            watch: Arc::new(Unwatched),
        }
    }

    /// A backfill or an events cursor: 429s never end it, failures are retried for ten
    /// minutes; the progress shows each wait and its Cancel ends it.
    pub fn sync(watch: Arc<dyn Watch>) -> Patience {
        Patience {
            rate_limited_for: None,
            failures: Failures::For(Duration::from_secs(600)),
            watch,
        }
    }

    /// Settle: 429s are waited out; after three failed attempts the object's recorded
    /// payloads are applied and it stays dirty (Stripe is down, not busy).
    pub fn settle() -> Patience {
        Patience {
            rate_limited_for: None,
            failures: Failures::Attempts(3),
            watch: Arc::new(Unwatched),
        }
    }
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
    pub(crate) fn new(base: &str, secret: &str) -> Result<Self, GatewayError> {
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
            limiter: limit::shared(base, secret),
            patience: Patience::interactive(),
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

    /// The same transport waiting as `patience` says.
    pub(crate) fn with_patience(&self, patience: Patience) -> Transport {
        Transport(Arc::new(Inner {
            http: self.0.http.clone(),
            base: self.0.base.clone(),
            authorization: self.0.authorization.clone(),
            limiter: self.0.limiter.clone(),
            patience,
        }))
    }

    pub(crate) fn rate_status(&self) -> RateStatus {
        self.0.limiter.status()
    }

    /// Sends a request under the process's rate limiter, retrying as the patience says: a
    /// 429 pauses every request of the process for the backoff (or `Retry-After`) and, in a
    /// sync, is waited out however long it lasts; 409, 5xx and network failures are retried
    /// with jittered exponential backoff; `Stripe-Should-Retry: false` is obeyed. A 2xx answer
    /// as it came, anything else as the error it is. Writes carry their Idempotency-Key on
    /// every attempt, so a retried write is one write at Stripe.
    pub(crate) async fn fetch(
        &self,
        req: &RequestBuilder,
        strategy: Option<&RequestStrategy>,
        timeout: Option<Duration>,
    ) -> Result<Answer, GatewayError> {
        let p = &self.0.patience;
        let key = match (req.method, strategy) {
            (StripeMethod::Get, _) => None,
            (_, Some(RequestStrategy::Idempotent(k))) => Some(k.as_str().to_owned()),
            _ => None,
        };
        // A POST without a key is sent once: a retry could write twice.
        let may_retry = matches!(req.method, StripeMethod::Get) || key.is_some();
        let mut url = format!("{}/v1{}", self.0.base, req.path);
        if let Some(q) = req.query.as_deref().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let started = std::time::Instant::now();
        let (mut failures, mut limited) = (0u32, 0u32);
        let mut first_429: Option<std::time::Instant> = None;
        loop {
            let watch = &*p.watch;
            self.0
                .limiter
                .acquire(watch)
                .await
                .map_err(|_| GatewayError::Cancelled)?;
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
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let should_retry =
                    header("Stripe-Should-Retry").and_then(|v| v.parse::<bool>().ok());
                let retry_after = limit::retry_after(header("Retry-After").as_deref());
                let reason = header("Stripe-Rate-Limited-Reason");
                let content_type = header("Content-Type");
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>((
                    Answer {
                        status,
                        content_type,
                        bytes,
                    },
                    (should_retry, retry_after, reason),
                ))
            }
            .await;
            let error = match answer {
                Ok((answer, _)) if (200..300).contains(&answer.status) => return Ok(answer),
                Ok((answer, (should_retry, retry_after, reason))) => {
                    let error = self.api_error(req, &answer);
                    if !may_retry || should_retry == Some(false) {
                        return Err(error);
                    }
                    if answer.status == 429 {
                        limited += 1;
                        let since = *first_429.get_or_insert_with(std::time::Instant::now);
                        if p.rate_limited_for.is_some_and(|d| since.elapsed() >= d) {
                            return Err(error);
                        }
                        let wait = retry_after.unwrap_or_else(|| limit::backoff(limited));
                        tracing::info!(
                            request = %describe(req),
                            wait_ms = wait.as_millis() as u64,
                            reason = reason.as_deref().unwrap_or("none given"),
                            "Stripe answered 429; every request of this process waits"
                        );
                        self.0.limiter.pause(wait);
                        continue;
                    }
                    if !(answer.status == 409 || answer.status >= 500) {
                        return Err(error);
                    }
                    error
                }
                Err(e) if !may_retry => return Err(self.network_error(&e)),
                Err(e) => self.network_error(&e),
            };
            failures += 1;
            let more = match p.failures {
                Failures::Attempts(n) => failures < n,
                Failures::For(d) => failures < 3 || started.elapsed() < d,
            };
            if !more {
                return Err(error);
            }
            let wait = limit::backoff(failures);
            tracing::warn!(request = %describe(req), failures, wait_ms = wait.as_millis() as u64, %error, "Stripe request failed; retrying");
            p.watch.waiting(Some(format!(
                "Stripe failed ({error}); trying again in {:.1} s (attempt {})",
                wait.as_secs_f64(),
                failures + 1
            )));
            let slept = limit::sleep_watched(std::time::Instant::now() + wait, watch).await;
            p.watch.waiting(None);
            slept.map_err(|_| GatewayError::Cancelled)?;
        }
    }

    fn network_error(&self, e: &reqwest::Error) -> GatewayError {
        if e.is_timeout() {
            GatewayError::Timeout {
                base: self.0.base.clone(),
            }
        } else {
            GatewayError::Unreachable {
                base: self.0.base.clone(),
                detail: error_chain(e),
            }
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
