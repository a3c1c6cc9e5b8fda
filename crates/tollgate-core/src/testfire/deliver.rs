//! One POST of a built, signed event: the status, the response's headers and first bytes,
//! and the latency; or why nothing came back. Redirects are not followed (Stripe does not
//! follow them either): a 3xx is shown as the answer it is.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::InputError;

/// How much of a response body is kept.
pub const MAX_RESPONSE_BODY: usize = 4096;
/// Stripe waits about this long for an endpoint before it counts the delivery as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The headers Stripe's deliveries carry besides the signature.
pub const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx.
    Ok,
    /// 3xx, not followed.
    Redirect,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No answer within the timeout.
    Timeout,
    /// No connection (refused, no route, unknown host).
    Unreachable,
    /// Anything else that broke the exchange (a reset mid-answer, TLS).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Redirect => "redirect",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::Error => "error",
        }
    }

    pub fn parse(raw: &str) -> Option<Outcome> {
        [
            Outcome::Ok,
            Outcome::Redirect,
            Outcome::ClientError,
            Outcome::ServerError,
            Outcome::Timeout,
            Outcome::Unreachable,
            Outcome::Error,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }

    fn of_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Ok,
            300..=399 => Outcome::Redirect,
            400..=499 => Outcome::ClientError,
            500..=599 => Outcome::ServerError,
            _ => Outcome::Error,
        }
    }

    /// Worth another try when retries were asked for (what Stripe retries: anything but 2xx).
    pub fn retryable(self) -> bool {
        self != Outcome::Ok
    }
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    pub response_truncated: bool,
    pub error: Option<String>,
    pub latency_us: Option<i64>,
    pub sent_at_ms: i64,
}

/// A checked target: `http://` or `https://` with a host.
pub fn parse_target(field: &'static str, raw: &str) -> Result<reqwest::Url, InputError> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| {
        InputError::new(
            field,
            format!(
                "{raw:?} is not a URL ({e}): give an http:// or https:// address, e.g. {}",
                super::DEFAULT_TARGET
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(InputError::new(
            field,
            format!("{raw:?} is not an http:// or https:// address with a host"),
        ));
    }
    Ok(url)
}

/// The HTTP client test-fire uses: pooled connections, no redirects, a timeout per request.
#[derive(Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    timeout: Duration,
}

impl Deliverer {
    /// A deliverer with this timeout per request. The HTTP client underneath is one for the
    /// process: building one loads the system's TLS roots, which takes tens of milliseconds.
    pub fn new(timeout: Duration) -> Deliverer {
        static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let client = CLIENT
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(Duration::from_secs(5))
                    .pool_max_idle_per_host(64)
                    .tcp_nodelay(true)
                    .build()
                    .expect("the HTTP client builds")
            })
            .clone();
        Deliverer { client, timeout }
    }

    /// POSTs `body` with `headers`; never fails: every way it can go is an [`Attempt`].
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: &str) -> Attempt {
        let sent_at_ms = crate::store::now_millis();
        let started = Instant::now();
        let mut req = self.client.post(url).timeout(self.timeout);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let failed = |outcome, error: String, started: Instant| Attempt {
            outcome,
            http_status: None,
            response_headers: Vec::new(),
            response_body: None,
            response_truncated: false,
            error: Some(error),
            latency_us: Some(started.elapsed().as_micros() as i64),
            sent_at_ms,
        };
        let mut resp = match req.body(body.to_owned()).send().await {
            Ok(r) => r,
            Err(e) => return self.failure(e, url, started, failed),
        };
        let status = resp.status().as_u16();
        let response_headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut kept: Vec<u8> = Vec::new();
        let mut truncated = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BODY.saturating_sub(kept.len());
                    if chunk.len() > room {
                        kept.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    kept.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut a = self.failure(e, url, started, failed);
                    a.http_status = Some(status);
                    a.response_headers = response_headers;
                    a.response_body = Some(String::from_utf8_lossy(&kept).into_owned());
                    return a;
                }
            }
        }
        let outcome = Outcome::of_status(status);
        let error = match outcome {
            Outcome::Redirect => Some(format!(
                "answered {status}{}: redirects are not followed (Stripe does not follow them either)",
                response_headers
                    .iter()
                    .find(|(k, _)| k == "location")
                    .map(|(_, v)| format!(" to {v}"))
                    .unwrap_or_default()
            )),
            Outcome::ServerError => Some(format!("answered {status}: Stripe would retry this delivery")),
            Outcome::ClientError => Some(format!("answered {status}: the endpoint refused the delivery")),
            _ => None,
        };
        Attempt {
            outcome,
            http_status: Some(status),
            response_headers,
            response_body: Some(String::from_utf8_lossy(&kept).into_owned()),
            response_truncated: truncated,
            error,
            latency_us: Some(started.elapsed().as_micros() as i64),
            sent_at_ms,
        }
    }

    fn failure(
        &self,
        e: reqwest::Error,
        url: &str,
        started: Instant,
        failed: impl Fn(Outcome, String, Instant) -> Attempt,
    ) -> Attempt {
        // The innermost cause says it best ("Connection refused (os error 111)").
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_else(|| url.to_owned());
        if e.is_timeout() {
            failed(
                Outcome::Timeout,
                format!(
                    "no answer from {host} within {} s: timed out",
                    self.timeout.as_secs_f64()
                ),
                started,
            )
        } else if e.is_connect() {
            failed(
                Outcome::Unreachable,
                format!("cannot connect to {host}: {cause}"),
                started,
            )
        } else {
            failed(
                Outcome::Error,
                format!("the exchange with {host} failed: {cause}"),
                started,
            )
        }
    }
}
