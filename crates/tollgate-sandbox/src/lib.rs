//! An offline, stateful Stripe emulator that speaks Stripe's REST dialect for what Tollgate
//! uses: form-encoded bodies with bracket notation, Bearer auth, Stripe's error object and
//! status codes, cursor pagination, `expand[]`, Idempotency-Key replay, and the events every
//! change emits, listed by `GET /v1/events` and delivered signed to webhook endpoints.
//! Objects carry at least the keys of Stripe's own examples (fixtures/, from stripe/openapi's
//! fixtures3.json, MIT). `tollgate sandbox serve` runs it; tests start it on port 0.

mod api;
mod control;
mod counters;
mod dialect;
mod error;
mod form;
mod listing;
mod params;
mod rate_limit;
pub mod resources;
pub mod seed;
mod webhooks;
mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use error::StripeError;
pub use webhooks::signature_header;
pub use world::{template, API_VERSION};

pub const DEFAULT_SECRET_KEY: &str = "sk_test_sandbox";
pub const DEFAULT_PORT: u16 = 12111;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// Nothing but the platform account.
    Empty,
    /// A believable platform: catalog, ~300 organizations, a year of appointments.
    Demo,
}

impl Seed {
    pub fn name(self) -> &'static str {
        match self {
            Seed::Empty => "empty",
            Seed::Demo => "demo",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// The one key the sandbox accepts; any other gets Stripe's 401.
    pub secret_key: String,
    /// The account name `GET /v1/account` reports.
    pub account_name: String,
    pub seed: Seed,
    /// Where state persists between runs; `None` keeps it in memory only.
    pub data_dir: Option<PathBuf>,
    /// Start from the seed even if the data dir holds state.
    pub fresh: bool,
    /// Answer as a Stripe that is not Tollgate's own (fields missing and unknown, enum values
    /// no client knows): see `dialect`. Switchable with `POST /_sandbox/dialect`.
    pub foreign: bool,
    /// Stripe's global rate limit: at most this many `/v1` requests (reads and writes) in any
    /// one second, past which Stripe's 429 (`rate_limit`, `Stripe-Rate-Limited-Reason:
    /// global-rate`). `None` is no limit. Changeable with `POST /_sandbox/rate_limit`.
    pub rate_limit: Option<u32>,
    /// Webhook deliveries in flight at once. 1 (the default) delivers one at a time in the
    /// order events happened; more is faster and, like Stripe, guarantees no order.
    pub webhook_concurrency: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            secret_key: DEFAULT_SECRET_KEY.to_owned(),
            account_name: "Tollgate Sandbox".to_owned(),
            seed: Seed::Empty,
            data_dir: None,
            fresh: false,
            foreign: false,
            rate_limit: None,
            webhook_concurrency: 1,
        }
    }
}

pub(crate) struct State {
    pub config: SandboxConfig,
    /// Answers as a Stripe that is not Tollgate's own (see [`dialect`]).
    pub foreign: AtomicBool,
    pub world: tokio::sync::Mutex<world::World>,
    pub deliver: tokio::sync::mpsc::UnboundedSender<webhooks::Delivery>,
    pub limiter: rate_limit::RateLimiter,
    pub requests: counters::Requests,
    pub webhooks: counters::Webhooks,
    /// Numbers the request ids of answers given without the world (the rate limiter's).
    pub unlocked_requests: std::sync::atomic::AtomicU64,
    dirty: AtomicBool,
    stopped: AtomicBool,
}

impl State {
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    async fn save_if_dirty(&self) {
        let Some(dir) = &self.config.data_dir else {
            return;
        };
        if self.dirty.swap(false, Ordering::AcqRel) {
            let w = self.world.lock().await;
            if let Err(e) = w.save(dir) {
                tracing::error!(error = %e, dir = %dir.display(), "sandbox state not saved");
                self.dirty.store(true, Ordering::Release);
            }
        }
    }
}

pub(crate) const PLATFORM_ACCOUNT: &str = "acct_1TollgateSandbox0";

/// The platform's own account (`GET /v1/account`).
pub(crate) fn account_object(w: &world::World) -> serde_json::Value {
    let mut a = world::template("account");
    a["business_profile"]["name"] = w.account_name.clone().into();
    a["settings"]["dashboard"]["display_name"] = w.account_name.clone().into();
    a["id"] = PLATFORM_ACCOUNT.into();
    a["email"] = "billing@sandbox.tollgate.invalid".into();
    a["charges_enabled"] = true.into();
    a["payouts_enabled"] = true.into();
    a["details_submitted"] = true.into();
    a["default_currency"] = "eur".into();
    a["country"] = "DE".into();
    a["external_accounts"]["url"] =
        format!("/v1/accounts/{PLATFORM_ACCOUNT}/external_accounts").into();
    a
}

/// A sandbox listening on 127.0.0.1; it stops (and saves) on [`RunningSandbox::stop`], or
/// stops when dropped.
pub struct RunningSandbox {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The base URL to give a Stripe client: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Objects of each type, for start-up messages and tests.
    pub async fn counts(&self) -> Vec<(String, usize)> {
        let w = self.state.world.lock().await;
        let mut v: Vec<(String, usize)> = w
            .order
            .iter()
            .map(|(k, ids)| (k.clone(), ids.len()))
            .collect();
        v.sort();
        v
    }
    /// Stops serving, saves, and frees the world before it returns.
    pub async fn stop(mut self) {
        self.state.stopped.store(true, Ordering::Release);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state.save_if_dirty().await;
        // Free the world now (a big one takes seconds), not later in whichever task happens
        // to let go of it last, while the caller has moved on.
        let state = self.state.clone();
        drop(self);
        if let Some(state) = Arc::into_inner(state) {
            let _ = tokio::task::spawn_blocking(move || drop(state)).await;
        }
    }
    /// Serves until the server ends (it does not by itself); for `tollgate sandbox serve`.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
    /// Saves now (the sandbox also saves every half second after a change).
    pub async fn save(&self) {
        self.state.mark_dirty();
        self.state.save_if_dirty().await;
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Release);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn start(config: SandboxConfig) -> std::io::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let loaded = match (&config.data_dir, config.fresh) {
        (Some(dir), false) => world::World::load(dir)?,
        _ => None,
    };
    let mut world = match loaded {
        Some(w) => w,
        None => seed::build(config.seed),
    };
    world.account_name = config.account_name.clone();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let fresh_state = config.data_dir.is_some();
    let state = Arc::new(State {
        foreign: AtomicBool::new(config.foreign),
        limiter: rate_limit::RateLimiter::new(config.rate_limit),
        requests: Default::default(),
        webhooks: Default::default(),
        unlocked_requests: Default::default(),
        config,
        world: tokio::sync::Mutex::new(world),
        deliver: tx,
        dirty: AtomicBool::new(fresh_state),
        stopped: AtomicBool::new(false),
    });
    tokio::spawn(webhooks::run(Arc::downgrade(&state), rx));
    let saver = Arc::downgrade(&state);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Some(state) = saver.upgrade() else {
                break;
            };
            state.save_if_dirty().await;
            if state.stopped.load(Ordering::Acquire) {
                break;
            }
        }
    });
    let app = api::router(state.clone());
    let (stx, srx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = srx.await;
            })
            .await;
    });
    Ok(RunningSandbox {
        addr,
        state,
        shutdown: Some(stx),
        task: Some(task),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The world of a stopped sandbox is freed (tests and benchmarks start many).
    #[tokio::test]
    async fn a_stopped_sandbox_frees_its_world() {
        let sb = start(SandboxConfig {
            webhook_concurrency: 4,
            ..Default::default()
        })
        .await
        .unwrap();
        let weak = Arc::downgrade(&sb.state);
        let res = reqwest::Client::new()
            .get(format!("{}/v1/account", sb.base_url()))
            .bearer_auth(DEFAULT_SECRET_KEY)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        sb.stop().await;
        assert!(weak.upgrade().is_none(), "freed once stop returns");
    }
}
