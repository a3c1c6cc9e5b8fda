//! Stripe's rate limits, kept on Tollgate's side: one limiter per Stripe account key and API
//! base, shared by every task of the process (backfill, settle, the screens), so Tollgate does
//! not provoke a 429 by itself. Requests are spaced evenly just under the limit (a reservation
//! per request, first come first served, 10% of margin: no burst, and no network jitter, that a
//! one-second window on Stripe's side could count against us). A 429 that comes anyway pauses the whole limiter for the backoff, so
//! every task slows down, not only the one that was refused.
//!
//! Stripe documents 25 requests a second in test mode and 100 in live mode. The limit is
//! `TOLLGATE_STRIPE_RATE_LIMIT` (requests a second; 0 = none) when set; else Stripe's for
//! `api.stripe.com` by the key's mode, and none for any other base (the sandbox enforces
//! nothing unless started with `--rate-limit`, and then the variable says so).
//!
//! Hand-written rather than `governor`: it needs a pause shared by all waiters after a 429,
//! a rate read from the environment at run time, and counters for the screen; the spacing
//! itself is a dozen lines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Stripe's documented limits, requests a second.
pub const TEST_MODE_LIMIT: u32 = 25;
pub const LIVE_MODE_LIMIT: u32 = 100;

/// What the limiter has done, for `sync --status` and the Access screen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RateStatus {
    /// Requests a second Tollgate allows itself; 0 when unlimited.
    pub limit_per_second: u32,
    /// Requests sent to Stripe by this process.
    #[ts(type = "number")]
    pub requests: u64,
    /// Requests that waited for their turn under the limit.
    #[ts(type = "number")]
    pub throttled: u64,
    /// Answers of 429 from Stripe (each followed by a backoff of the whole limiter).
    #[ts(type = "number")]
    pub rate_limited: u64,
    /// Until when (Unix ms) every request waits after a 429; absent when not paused.
    #[ts(optional, type = "number")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_until_ms: Option<i64>,
}

#[derive(Debug)]
struct Slots {
    /// The earliest start of the next request.
    next: Instant,
    /// After a 429: nobody starts before this.
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Limiter {
    per_second: u32,
    slots: Mutex<Slots>,
    requests: AtomicU64,
    throttled: AtomicU64,
    rate_limited: AtomicU64,
}

/// The limit for a base and key: the environment's, else Stripe's for api.stripe.com.
pub fn limit_for(base: &str, secret: &str) -> u32 {
    if let Some(n) = std::env::var("TOLLGATE_STRIPE_RATE_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
    {
        return n;
    }
    if base.starts_with("https://api.stripe.com") {
        if secret.starts_with("sk_live_") || secret.starts_with("rk_live_") {
            LIVE_MODE_LIMIT
        } else {
            TEST_MODE_LIMIT
        }
    } else {
        0
    }
}

/// The process's limiter for this base and key (the same one on every call).
pub fn shared(base: &str, secret: &str) -> Arc<Limiter> {
    use sha2::{Digest, Sha256};
    static ALL: OnceLock<Mutex<HashMap<(String, [u8; 16], u32), Arc<Limiter>>>> = OnceLock::new();
    let digest = Sha256::digest(secret.as_bytes());
    let mut key_id = [0u8; 16];
    key_id.copy_from_slice(&digest[..16]);
    let limit = limit_for(base, secret);
    let mut all = ALL
        .get_or_init(Default::default)
        .lock()
        .expect("limiter registry");
    all.entry((base.to_owned(), key_id, limit))
        .or_insert_with(|| Arc::new(Limiter::new(limit)))
        .clone()
}

/// Where a wait can be watched and cut short.
pub trait Watch: Send + Sync {
    fn cancelled(&self) -> bool;
    /// What the wait is for, while it lasts (`None`: over).
    fn waiting(&self, why: Option<String>);
}

/// Waits nobody watches.
pub struct Unwatched;

impl Watch for Unwatched {
    fn cancelled(&self) -> bool {
        false
    }
    fn waiting(&self, _: Option<String>) {}
}

/// The wait was cut short by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// Sleeps until `until`, in steps, so a cancel is seen within a tenth of a second.
pub async fn sleep_watched(until: Instant, watch: &dyn Watch) -> Result<(), Cancelled> {
    loop {
        if watch.cancelled() {
            return Err(Cancelled);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(100))).await;
    }
}

impl Limiter {
    pub fn new(per_second: u32) -> Limiter {
        Limiter {
            per_second,
            slots: Mutex::new(Slots {
                next: Instant::now(),
                paused_until: None,
            }),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    /// Takes the next turn and waits for it. A wait longer than a short moment is reported
    /// to `watch` as "waiting for Stripe's rate limit".
    pub async fn acquire(&self, watch: &dyn Watch) -> Result<(), Cancelled> {
        let (start, paused) = {
            let mut s = self.slots.lock().expect("limiter");
            let now = Instant::now();
            let paused = s.paused_until.filter(|p| *p > now);
            if paused.is_none() {
                s.paused_until = None;
            }
            let mut start = s.next.max(now);
            if let Some(p) = paused {
                start = start.max(p);
            }
            if self.per_second > 0 {
                s.next = start + spacing(self.per_second);
            } else {
                s.next = now;
            }
            (start, paused.is_some_and(|p| p >= start))
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let wait = start.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let long = wait > Duration::from_millis(250);
        if long {
            watch.waiting(Some(if paused {
                format!(
                    "waiting for Stripe's rate limit: Stripe answered 429, trying again in {:.1} s",
                    wait.as_secs_f64()
                )
            } else {
                format!(
                    "waiting for Stripe's rate limit ({} requests a second)",
                    self.per_second
                )
            }));
        }
        let r = sleep_watched(start, watch).await;
        if long {
            watch.waiting(None);
        }
        r
    }

    /// Stripe answered 429: nobody starts a request for `for_`.
    pub fn pause(&self, for_: Duration) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + for_;
        let mut s = self.slots.lock().expect("limiter");
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
    }

    pub fn status(&self) -> RateStatus {
        let s = self.slots.lock().expect("limiter");
        let now = Instant::now();
        RateStatus {
            limit_per_second: self.per_second,
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            paused_until_ms: s
                .paused_until
                .filter(|p| *p > now)
                .map(|p| crate::store::sync::now_ms() + (p - now).as_millis() as i64),
        }
    }
}

/// The time between two requests' starts: the limit's share of a second, and 10% more, so the
/// jitter of a network (two requests sent 40 ms apart arriving 35 ms apart) never puts one
/// more than the limit into a one-second window on Stripe's side.
fn spacing(per_second: u32) -> Duration {
    Duration::from_secs(1) * 110 / (per_second * 100)
}

/// The wait before attempt `n + 1` after `n` failures: exponential from half a second,
/// capped at 30 s, with full jitter over its upper half (so many clients refused at once do
/// not come back at once).
pub fn backoff(failures: u32) -> Duration {
    let base_ms = 500u64.saturating_mul(1u64 << failures.saturating_sub(1).min(16));
    let cap = base_ms.min(30_000);
    Duration::from_millis(cap / 2 + fastrand::u64(0..=cap / 2))
}

/// `Retry-After` in seconds (Stripe sends none today; a proxy or a future Stripe may).
pub fn retry_after(v: Option<&str>) -> Option<Duration> {
    let secs: f64 = v?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(120.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_spaced_at_the_limit_and_a_429_pauses_everyone() {
        let l = Arc::new(Limiter::new(100));
        let t0 = Instant::now();
        // Four tasks at once share the one limit.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        l.acquire(&Unwatched).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        l.acquire(&Unwatched).await.unwrap();
        // 41 at 100 a second: the 41st starts 40 × 11 ms after the first.
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(400), "{took:?}");
        l.pause(Duration::from_millis(300));
        let t1 = Instant::now();
        l.acquire(&Unwatched).await.unwrap();
        assert!(t1.elapsed() >= Duration::from_millis(300));
        let s = l.status();
        assert_eq!((s.requests, s.rate_limited), (42, 1));
        assert!(s.throttled >= 40, "{s:?}");
    }

    #[tokio::test]
    async fn unlimited_never_waits_and_a_cancel_ends_a_wait() {
        let l = Limiter::new(0);
        let t0 = Instant::now();
        for _ in 0..1000 {
            l.acquire(&Unwatched).await.unwrap();
        }
        assert!(t0.elapsed() < Duration::from_millis(100));
        struct Gone;
        impl Watch for Gone {
            fn cancelled(&self) -> bool {
                true
            }
            fn waiting(&self, _: Option<String>) {}
        }
        l.pause(Duration::from_secs(60));
        assert_eq!(l.acquire(&Gone).await, Err(Cancelled));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for n in 1..40 {
            let d = backoff(n);
            let cap = (500u64 << (n - 1).min(16)).min(30_000);
            assert!(
                d.as_millis() as u64 >= cap / 2 && d.as_millis() as u64 <= cap,
                "{n}: {d:?}"
            );
        }
        assert_eq!(retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some("soon")), None);
        assert_eq!(retry_after(Some("-1")), None);
    }

    #[test]
    fn limits_follow_the_base_and_the_key() {
        if std::env::var("TOLLGATE_STRIPE_RATE_LIMIT").is_ok() {
            return;
        }
        assert_eq!(limit_for("https://api.stripe.com", "sk_test_x"), 25);
        assert_eq!(limit_for("https://api.stripe.com", "rk_live_x"), 100);
        assert_eq!(limit_for("http://127.0.0.1:12111", "sk_test_x"), 0);
    }
}
