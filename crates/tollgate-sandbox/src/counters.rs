//! What the sandbox has answered and delivered since it started, for `GET /_sandbox/state`
//! (benchmarks read them to count a client's requests and to wait for webhooks to drain).
//! Monotonic; only `POST /_sandbox/requests/reset` zeroes the request counters.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::http::Method;
use serde_json::{json, Value};

#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// Every authenticated `/v1` request, answered or refused.
    v1: AtomicU64,
    v1_get: AtomicU64,
    v1_post: AtomicU64,
    /// 429s the rate limiter answered.
    rate_limited: AtomicU64,
    /// Answers an injected fault (`POST /_sandbox/faults`) made.
    faulted: AtomicU64,
}

impl Requests {
    pub fn arrived(&self, method: &Method) {
        self.v1.fetch_add(1, Ordering::Relaxed);
        if method == Method::GET {
            self.v1_get.fetch_add(1, Ordering::Relaxed);
        } else if method == Method::POST {
            self.v1_post.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    pub fn faulted(&self) {
        self.faulted.fetch_add(1, Ordering::Relaxed);
    }
    pub fn reset(&self) {
        for c in [
            &self.v1,
            &self.v1_get,
            &self.v1_post,
            &self.rate_limited,
            &self.faulted,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
    pub fn to_json(&self) -> Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "v1": n(&self.v1),
            "v1_get": n(&self.v1_get),
            "v1_post": n(&self.v1_post),
            "rate_limited": n(&self.rate_limited),
            "faulted": n(&self.faulted),
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Webhooks {
    /// Deliveries handed to the deliverer (one per event and endpoint).
    queued: AtomicU64,
    /// Deliveries an endpoint answered with a 2xx.
    delivered: AtomicU64,
    /// Deliveries given up after their retries.
    failed: AtomicU64,
    /// Wall clock of the last 2xx, unix milliseconds; 0 for none yet.
    last_delivered_at_ms: AtomicI64,
}

impl Webhooks {
    pub fn queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }
    pub fn delivered(&self) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.last_delivered_at_ms.fetch_max(ms, Ordering::Relaxed);
        self.delivered.fetch_add(1, Ordering::Release);
    }
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Release);
    }
    pub fn to_json(&self) -> Value {
        let last = self.last_delivered_at_ms.load(Ordering::Relaxed);
        json!({
            "queued": self.queued.load(Ordering::Acquire),
            "delivered": self.delivered.load(Ordering::Acquire),
            "failed": self.failed.load(Ordering::Acquire),
            "last_delivered_at_ms": if last > 0 { json!(last) } else { Value::Null },
        })
    }
}
