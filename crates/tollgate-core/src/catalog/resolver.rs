//! Lookup key → price, the way code everywhere needs it: a TTL cache (5 minutes by default),
//! cold keys fetched in batches of at most 10 per call, single-flight (a hundred callers of a
//! cold key cause one call), and the store's copy, marked stale, when Stripe is unreachable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stripe_product::price::ListPrice;
use tokio::sync::watch;
use ts_rs::TS;

use super::{mirror, pricing, PlanInterval};
use crate::error::{ErrorBody, ErrorCode};
use crate::store::{PriceRow, Store};
use crate::stripe::{GatewayError, StripeGateway};

/// Stripe's limit on `lookup_keys[]` in one list call.
pub const BATCH: usize = 10;
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// How long a stale answer (the store's copy) is served before Stripe is asked again.
const STALE_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ResolvedPrice {
    pub price_id: String,
    pub product_id: String,
    #[ts(type = "number | null")]
    pub unit_amount: Option<i64>,
    pub currency: String,
    pub interval: Option<PlanInterval>,
    pub active: bool,
    pub pricing: String,
}

impl ResolvedPrice {
    pub fn from_row(p: &PriceRow) -> ResolvedPrice {
        let meta = serde_json::from_str(&p.metadata).unwrap_or_default();
        let interval = pricing::plan_interval(p);
        ResolvedPrice {
            price_id: p.stripe_id.clone(),
            product_id: p.product_id.clone(),
            unit_amount: p.unit_amount,
            currency: p.currency.clone(),
            interval,
            active: p.active,
            pricing: pricing::describe(p, &meta).text,
        }
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Cache,
    Stripe,
    /// The store's copy, because Stripe could not be reached.
    Store,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Resolution {
    pub lookup_key: String,
    /// None: no price holds this key.
    pub price: Option<Arc<ResolvedPrice>>,
    pub source: Source,
    /// Served from the store while Stripe was unreachable; may be out of date.
    pub stale: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ResolverStats {
    #[ts(type = "number")]
    pub hits: u64,
    #[ts(type = "number")]
    pub misses: u64,
    /// Calls made to Stripe.
    #[ts(type = "number")]
    pub api_calls: u64,
    /// Misses that joined a call already in flight instead of making their own.
    #[ts(type = "number")]
    pub coalesced: u64,
    /// Answers served from the store because Stripe was unreachable.
    #[ts(type = "number")]
    pub stale_served: u64,
    #[ts(type = "number")]
    pub cached_keys: u64,
    #[ts(type = "number")]
    pub ttl_seconds: u64,
}

impl ResolverStats {
    /// Hits per 10,000 lookups (basis points), so the UI and CLI need no floats.
    pub fn hit_rate_bps(&self) -> u64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0
        } else {
            self.hits * 10_000 / total
        }
    }
}

type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Where cold keys are fetched from: Stripe in the app, a counting fake in tests.
pub trait PriceSource: Send + Sync {
    /// Prices holding any of `keys` (at most [`BATCH`]).
    fn fetch<'a>(&'a self, keys: &'a [String]) -> BoxFut<'a, Result<Vec<PriceRow>, GatewayError>>;
}

pub struct StripeSource(pub StripeGateway);

impl PriceSource for StripeSource {
    fn fetch<'a>(&'a self, keys: &'a [String]) -> BoxFut<'a, Result<Vec<PriceRow>, GatewayError>> {
        Box::pin(async move {
            let list = self
                .0
                .send(
                    ListPrice::new()
                        .lookup_keys(keys.to_vec())
                        .limit(BATCH as i64)
                        .expand(vec!["data.tiers".to_owned()]),
                )
                .await?;
            Ok(list.data.iter().map(mirror::price_row).collect())
        })
    }
}

struct Entry {
    price: Option<Arc<ResolvedPrice>>,
    stale: bool,
    expires: Instant,
}

type Outcome = Option<Result<Resolution, ErrorBody>>;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    api_calls: AtomicU64,
    coalesced: AtomicU64,
    stale_served: AtomicU64,
}

pub struct PriceResolver {
    source: Arc<dyn PriceSource>,
    fallback: Option<Store>,
    ttl: Duration,
    cache: RwLock<HashMap<String, Entry>>,
    inflight: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
    counters: Counters,
}

fn check_key(raw: &str) -> Result<(), ErrorBody> {
    if raw.is_empty() || raw.len() > super::lookup_key::MAX_LEN {
        return Err(crate::domain::InputError::new(
            "lookup_key",
            format!(
                "{raw:?} is not a lookup key: 1 to {} characters",
                super::lookup_key::MAX_LEN
            ),
        )
        .into());
    }
    Ok(())
}

impl PriceResolver {
    pub fn new(source: Arc<dyn PriceSource>, fallback: Option<Store>, ttl: Duration) -> Self {
        PriceResolver {
            source,
            fallback,
            ttl,
            cache: RwLock::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }
    }

    /// The cached answer for `key`, if fresh: no await, no allocation beyond the Arc clone.
    pub fn cached(&self, key: &str) -> Option<Option<Arc<ResolvedPrice>>> {
        self.hit(key).map(|(price, _)| price)
    }

    /// A fresh cache entry's price and stale flag, counted as a hit.
    fn hit(&self, key: &str) -> Option<(Option<Arc<ResolvedPrice>>, bool)> {
        let cache = self.cache.read().expect("resolver cache");
        let e = cache.get(key).filter(|e| e.expires > Instant::now())?;
        self.counters.hits.fetch_add(1, Ordering::Relaxed);
        Some((e.price.clone(), e.stale))
    }

    pub async fn resolve(&self, key: &str) -> Result<Resolution, ErrorBody> {
        Ok(self.resolve_many(&[key.to_owned()]).await?.remove(0))
    }

    /// Answers for `keys`, in order; duplicates are answered once each.
    pub async fn resolve_many(&self, keys: &[String]) -> Result<Vec<Resolution>, ErrorBody> {
        self.resolve_inner(keys, false).await
    }

    /// Asks Stripe for every key (verification must not trust a cache), refreshing the cache.
    pub async fn resolve_fresh(&self, keys: &[String]) -> Result<Vec<Resolution>, ErrorBody> {
        self.resolve_inner(keys, true).await
    }

    async fn resolve_inner(
        &self,
        keys: &[String],
        fresh: bool,
    ) -> Result<Vec<Resolution>, ErrorBody> {
        for k in keys {
            check_key(k)?;
        }
        let mut answers: HashMap<String, Resolution> = HashMap::new();
        let mut cold: Vec<String> = Vec::new();
        for k in keys {
            if answers.contains_key(k) || cold.contains(k) {
                continue;
            }
            if let Some((price, stale)) = (!fresh).then(|| self.hit(k)).flatten() {
                let r = Resolution {
                    lookup_key: k.clone(),
                    price,
                    source: Source::Cache,
                    stale,
                };
                answers.insert(k.clone(), r);
                continue;
            }
            cold.push(k.clone());
        }
        self.counters
            .misses
            .fetch_add(cold.len() as u64, Ordering::Relaxed);

        // Single flight: join a call already made for a key, else lead one.
        let mut mine: Vec<(String, watch::Sender<Outcome>)> = Vec::new();
        let mut joined: Vec<(String, watch::Receiver<Outcome>)> = Vec::new();
        {
            let mut inflight = self.inflight.lock().expect("resolver inflight");
            for k in cold {
                match inflight.get(&k) {
                    Some(rx) if !fresh => {
                        self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                        joined.push((k, rx.clone()));
                    }
                    _ => {
                        let (tx, rx) = watch::channel(None);
                        inflight.insert(k.clone(), rx);
                        mine.push((k, tx));
                    }
                }
            }
        }

        let batches: Vec<&[(String, watch::Sender<Outcome>)]> = mine.chunks(BATCH).collect();
        let results = futures_util::future::join_all(batches.iter().map(|b| self.lead(b))).await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(rs) => answers.extend(rs.into_iter().map(|r| (r.lookup_key.clone(), r))),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        for (k, mut rx) in joined {
            let outcome = rx
                .wait_for(Option::is_some)
                .await
                .map(|v| v.clone().expect("waited for Some"))
                .unwrap_or_else(|_| {
                    Err(ErrorBody::new(
                        ErrorCode::Internal,
                        "the lookup this one joined was dropped",
                    ))
                });
            match outcome {
                Ok(r) => {
                    answers.insert(k, r);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(keys.iter().map(|k| answers[k].clone()).collect())
    }

    /// Fetches one batch, caches and publishes each key's answer to whoever joined it.
    async fn lead(
        &self,
        batch: &[(String, watch::Sender<Outcome>)],
    ) -> Result<Vec<Resolution>, ErrorBody> {
        let keys: Vec<String> = batch.iter().map(|(k, _)| k.clone()).collect();
        self.counters.api_calls.fetch_add(1, Ordering::Relaxed);
        let fetched = self.source.fetch(&keys).await;
        let (rows, source, stale, ttl) = match fetched {
            Ok(rows) => (Ok(rows), Source::Stripe, false, self.ttl),
            Err(e @ (GatewayError::Unreachable { .. } | GatewayError::Timeout { .. })) => {
                match &self.fallback {
                    Some(store) => match store.prices_by_lookup_keys(&keys).await {
                        Ok(rows) => {
                            self.counters
                                .stale_served
                                .fetch_add(keys.len() as u64, Ordering::Relaxed);
                            (Ok(rows), Source::Store, true, STALE_TTL)
                        }
                        Err(_) => (Err(ErrorBody::from(e)), Source::Stripe, false, self.ttl),
                    },
                    None => (Err(ErrorBody::from(e)), Source::Stripe, false, self.ttl),
                }
            }
            Err(e) => (Err(ErrorBody::from(e)), Source::Stripe, false, self.ttl),
        };
        let result = rows.map(|rows| {
            let by_key: HashMap<&str, &PriceRow> = rows
                .iter()
                .filter_map(|r| r.lookup_key.as_deref().map(|k| (k, r)))
                .collect();
            let expires = Instant::now() + ttl;
            let mut cache = self.cache.write().expect("resolver cache");
            keys.iter()
                .map(|k| {
                    let price = by_key
                        .get(k.as_str())
                        .map(|r| Arc::new(ResolvedPrice::from_row(r)));
                    cache.insert(
                        k.clone(),
                        Entry {
                            price: price.clone(),
                            stale,
                            expires,
                        },
                    );
                    Resolution {
                        lookup_key: k.clone(),
                        price,
                        source,
                        stale,
                    }
                })
                .collect::<Vec<_>>()
        });
        let mut inflight = self.inflight.lock().expect("resolver inflight");
        for (i, (k, tx)) in batch.iter().enumerate() {
            let outcome = match &result {
                Ok(rs) => Ok(rs[i].clone()),
                Err(e) => Err(e.clone()),
            };
            let _ = tx.send(Some(outcome));
            inflight.remove(k);
        }
        result
    }

    /// Forgets these keys (after a write moved them).
    pub fn invalidate(&self, keys: &[String]) {
        let mut cache = self.cache.write().expect("resolver cache");
        for k in keys {
            cache.remove(k);
        }
    }

    pub fn clear(&self) {
        self.cache.write().expect("resolver cache").clear();
    }

    pub fn stats(&self) -> ResolverStats {
        ResolverStats {
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            api_calls: self.counters.api_calls.load(Ordering::Relaxed),
            coalesced: self.counters.coalesced.load(Ordering::Relaxed),
            stale_served: self.counters.stale_served.load(Ordering::Relaxed),
            cached_keys: self.cache.read().expect("resolver cache").len() as u64,
            ttl_seconds: self.ttl.as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Fake {
        calls: AtomicUsize,
        max_batch: AtomicUsize,
        delay: Duration,
        down: bool,
    }

    impl PriceSource for Fake {
        fn fetch<'a>(
            &'a self,
            keys: &'a [String],
        ) -> BoxFut<'a, Result<Vec<PriceRow>, GatewayError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                self.max_batch.fetch_max(keys.len(), Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                if self.down {
                    return Err(GatewayError::Unreachable {
                        base: "x".into(),
                        detail: "down".into(),
                    });
                }
                Ok(keys
                    .iter()
                    .filter(|k| !k.starts_with("missing"))
                    .map(|k| PriceRow {
                        stripe_id: format!("price_{k}"),
                        product_id: "prod_1".into(),
                        lookup_key: Some(k.clone()),
                        price_type: "recurring".into(),
                        billing_interval: Some("month".into()),
                        interval_count: Some(1),
                        billing_scheme: "per_unit".into(),
                        unit_amount: Some(4900),
                        currency: "eur".into(),
                        active: true,
                        metadata: "{}".into(),
                        ..Default::default()
                    })
                    .collect())
            })
        }
    }

    fn fake(delay_ms: u64, down: bool) -> Arc<Fake> {
        Arc::new(Fake {
            calls: AtomicUsize::new(0),
            max_batch: AtomicUsize::new(0),
            delay: Duration::from_millis(delay_ms),
            down,
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hundred_callers_of_a_cold_key_make_one_call() {
        let src = fake(50, false);
        let r = Arc::new(PriceResolver::new(src.clone(), None, DEFAULT_TTL));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let r = r.clone();
                tokio::spawn(async move { r.resolve("community-expert-monthly").await })
            })
            .collect();
        for t in tasks {
            let res = t.await.unwrap().unwrap();
            assert_eq!(
                res.price.unwrap().price_id,
                "price_community-expert-monthly"
            );
        }
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
        let s = r.stats();
        assert_eq!(s.api_calls, 1);
        assert_eq!(s.misses, 100);
        assert_eq!(s.coalesced, 99);
        // Now warm.
        assert!(r.cached("community-expert-monthly").is_some());
        assert_eq!(
            r.resolve("community-expert-monthly").await.unwrap().source,
            Source::Cache
        );
    }

    #[tokio::test]
    async fn fifty_cold_keys_take_five_calls_of_ten() {
        let src = fake(0, false);
        let r = PriceResolver::new(src.clone(), None, DEFAULT_TTL);
        let mut keys: Vec<String> = (0..49).map(|i| format!("k{i}-expert-monthly")).collect();
        keys.push("missing-expert-monthly".into());
        let out = r.resolve_many(&keys).await.unwrap();
        assert_eq!(out.len(), 50);
        assert!(
            out[49].price.is_none(),
            "an unknown key resolves to nothing"
        );
        assert_eq!(src.calls.load(Ordering::SeqCst), 5);
        assert_eq!(src.max_batch.load(Ordering::SeqCst), 10);
        // A not-found answer is cached too.
        r.resolve("missing-expert-monthly").await.unwrap();
        assert_eq!(src.calls.load(Ordering::SeqCst), 5);
        assert_eq!(r.stats().hit_rate_bps(), 1 * 10_000 / 51);
    }

    #[tokio::test]
    async fn expiry_and_invalidation_refetch() {
        let src = fake(0, false);
        let r = PriceResolver::new(src.clone(), None, Duration::from_millis(30));
        r.resolve("a-b-monthly").await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(r.cached("a-b-monthly").is_none());
        r.resolve("a-b-monthly").await.unwrap();
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
        r.invalidate(&["a-b-monthly".into()]);
        r.resolve("a-b-monthly").await.unwrap();
        assert_eq!(src.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn unreachable_without_a_store_is_an_error_and_not_cached() {
        let src = fake(0, true);
        let r = PriceResolver::new(src.clone(), None, DEFAULT_TTL);
        let e = r.resolve("a-b-monthly").await.unwrap_err();
        assert_eq!(e.code, ErrorCode::StripeUnreachable);
        assert!(r.cached("a-b-monthly").is_none());
        assert!(r.resolve("").await.is_err());
    }
}
