//! An offline, stateful Stripe emulator that speaks Stripe's REST dialect for what Tollgate
//! uses. Objects carry at least the keys of Stripe's own examples (fixtures/, from
//! stripe/openapi's fixtures3.json, MIT). `tollgate sandbox serve` runs it; tests start it on
//! port 0.

mod api;
mod error;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::StripeError;

pub const DEFAULT_SECRET_KEY: &str = "sk_test_sandbox";
pub const DEFAULT_PORT: u16 = 12111;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// 0 picks a free port.
    pub port: u16,
    /// The one key the sandbox accepts; any other gets Stripe's 401.
    pub secret_key: String,
    /// The account name `GET /v1/account` reports.
    pub account_name: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            secret_key: DEFAULT_SECRET_KEY.to_owned(),
            account_name: "Tollgate Sandbox".to_owned(),
        }
    }
}

pub(crate) struct State {
    pub config: SandboxConfig,
    pub account_id: String,
}

/// A sandbox listening on 127.0.0.1; it stops when dropped or on [`RunningSandbox::stop`].
pub struct RunningSandbox {
    addr: SocketAddr,
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
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
    /// Serves until the process is interrupted.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn start(config: SandboxConfig) -> std::io::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State { account_id: "acct_1TollgateSandbox0".to_owned(), config });
    let app = api::router(state);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok(RunningSandbox { addr, shutdown: Some(tx), task: Some(task) })
}
