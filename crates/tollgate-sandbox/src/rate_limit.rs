//! Stripe's global rate limiter, emulated: at most `limit` `/v1` requests (reads and writes
//! alike) in any one-second window, a sliding window over the times of the requests it let
//! through (a refused request uses up nothing). Past it, Stripe's 429: see
//! [`crate::StripeError::rate_limited`] and `api::v1`. `None` (the default) is no limit;
//! `--rate-limit N` at start, `POST /_sandbox/rate_limit limit=N` (0 = off) at run time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct RateLimiter {
    inner: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    limit: Option<u32>,
    /// When each request admitted within the last second arrived, oldest first.
    admitted: VecDeque<Instant>,
}

impl RateLimiter {
    pub fn new(limit: Option<u32>) -> RateLimiter {
        RateLimiter {
            inner: Mutex::new(Window {
                limit: limit.filter(|n| *n > 0),
                admitted: VecDeque::new(),
            }),
        }
    }

    pub fn limit(&self) -> Option<u32> {
        self.lock().limit
    }

    /// A new limit (0 or `None`: none) holds from now; requests of the last second count.
    pub fn set(&self, limit: Option<u32>) {
        let mut w = self.lock();
        w.limit = limit.filter(|n| *n > 0);
        if w.limit.is_none() {
            w.admitted = VecDeque::new();
        }
    }

    /// Whether a request arriving now may go on.
    pub fn admit(&self) -> bool {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> bool {
        let mut w = self.lock();
        let Some(limit) = w.limit else {
            return true;
        };
        while w
            .admitted
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            w.admitted.pop_front();
        }
        if w.admitted.len() >= limit as usize {
            return false;
        }
        w.admitted.push_back(now);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // The window holds no invariant a panic could break halfway.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_than_the_limit_in_any_second() {
        let l = RateLimiter::new(Some(3));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(l.admit_at(at(0)));
        assert!(l.admit_at(at(100)));
        assert!(l.admit_at(at(200)));
        assert!(!l.admit_at(at(300)), "a fourth within the second");
        assert!(!l.admit_at(at(999)));
        assert!(l.admit_at(at(1000)), "the first has left the window");
        assert!(!l.admit_at(at(1050)));
        assert!(l.admit_at(at(1100)));
        assert!(l.admit_at(at(1200)));
        assert!(!l.admit_at(at(1300)));
    }

    #[test]
    fn refused_requests_use_nothing_up() {
        let l = RateLimiter::new(Some(1));
        let t0 = Instant::now();
        assert!(l.admit_at(t0));
        for ms in [10, 500, 900, 999] {
            assert!(!l.admit_at(t0 + Duration::from_millis(ms)));
        }
        assert!(l.admit_at(t0 + Duration::from_millis(1000)));
    }

    #[test]
    fn none_or_zero_is_unlimited_and_the_limit_changes_at_run_time() {
        let l = RateLimiter::new(None);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| l.admit_at(t0)));
        assert_eq!(RateLimiter::new(Some(0)).limit(), None);
        l.set(Some(2));
        assert_eq!(l.limit(), Some(2));
        assert!(l.admit_at(t0));
        assert!(l.admit_at(t0));
        assert!(!l.admit_at(t0));
        l.set(Some(3));
        assert!(l.admit_at(t0), "a higher limit admits at once");
        assert!(!l.admit_at(t0));
        l.set(Some(0));
        assert!(l.admit_at(t0));
        assert_eq!(l.limit(), None);
    }
}
