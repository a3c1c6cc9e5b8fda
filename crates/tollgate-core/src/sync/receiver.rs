//! The webhook receiver: `POST` on 127.0.0.1, so `stripe listen --forward-to
//! localhost:<port>/webhook` works. The signature is checked on the raw body against every
//! configured secret; the event goes through the processor's door, and the answer is 2xx only
//! after that commit (a failed commit answers 500, so Stripe retries). Reading the objects
//! from Stripe happens after the answer, on the settle task the answer wakes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use ts_rs::TS;

use super::door::Door;
use super::signature::{self, SignatureError};
use super::{Event, Processor};
use crate::domain::WebhookSecret;

/// Stripe's own limit on an event's size is far below this.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
pub struct ReceiverStats {
    #[ts(type = "number")]
    pub received: u64,
    #[ts(type = "number")]
    pub recorded: u64,
    #[ts(type = "number")]
    pub duplicates: u64,
    #[ts(type = "number")]
    pub rejected: u64,
    #[ts(type = "number")]
    pub failed: u64,
    /// The last rejection or failure, for the screen.
    pub last_error: Option<String>,
    /// Runs of the settle task the receiver wakes (reads of what events touched).
    #[ts(type = "number")]
    pub settle_runs: u64,
    /// Settle runs that failed (the store or Stripe refused; retried on the next run).
    #[ts(type = "number")]
    pub settle_failures: u64,
    /// Panics caught in the receiver or the settle task (each also a sync issue).
    #[ts(type = "number")]
    pub panics: u64,
    pub settle_last_error: Option<String>,
    /// Stripe's rate limit as this process keeps it (settle's reads wait their turn there).
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_rate: Option<crate::stripe::RateStatus>,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    recorded: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    panics: AtomicU64,
    last_error: RwLock<Option<String>>,
}

struct Shared {
    processor: Processor,
    /// Deliveries arriving together are recorded together (see [`Door`]).
    door: Door,
    secrets: RwLock<Vec<WebhookSecret>>,
    settle: Arc<tokio::sync::Notify>,
    counters: Counters,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds 127.0.0.1:`port` (0: any free port) and serves until stopped. `settle` is
    /// notified after each recorded event.
    pub async fn start(
        processor: Processor,
        secrets: Vec<WebhookSecret>,
        port: u16,
        settle: Arc<tokio::sync::Notify>,
    ) -> std::io::Result<Receiver> {
        let shared = Arc::new(Shared {
            door: Door::start(processor.clone(), "webhook"),
            processor,
            secrets: RwLock::new(secrets),
            settle,
            counters: Counters::default(),
        });
        let app = Router::new()
            .route("/", post(receive))
            .route("/{*path}", post(receive))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Receiver {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// Swaps the secrets (a rotation in Settings) without a restart.
    pub fn set_secrets(&self, secrets: Vec<WebhookSecret>) {
        *self.shared.secrets.write().expect("secrets lock") = secrets;
    }

    pub fn stats(&self) -> ReceiverStats {
        let c = &self.shared.counters;
        ReceiverStats {
            received: c.received.load(Ordering::Relaxed),
            recorded: c.recorded.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            last_error: c.last_error.read().expect("lock").clone(),
            panics: c.panics.load(Ordering::Relaxed),
            ..Default::default()
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": { "message": message } }))).into_response()
}

/// A panic while handling one delivery answers 500 (Stripe retries it) and is recorded as a
/// sync issue; the receiver goes on serving.
async fn receive(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(handle(&s, &headers, &body))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(panic) => {
            let why = super::panic_message(&*panic);
            let c = &s.counters;
            c.panics.fetch_add(1, Ordering::Relaxed);
            c.failed.fetch_add(1, Ordering::Relaxed);
            *c.last_error.write().expect("lock") = Some(format!("panic: {why}"));
            tracing::error!(%why, bytes = body.len(), "webhook receiver: panic caught");
            let detail = format!(
                "the receiver panicked on a delivery of {} bytes: {why}",
                body.len()
            );
            if let Err(e) =
                crate::store::sync::record_panic(s.processor.store(), "receiver", &detail).await
            {
                tracing::error!(error = %e, "the panic could not be recorded as a sync issue");
            }
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the event could not be recorded; Stripe will retry",
            )
        }
    }
}

async fn handle(s: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    let c = &s.counters;
    c.received.fetch_add(1, Ordering::Relaxed);
    let reject = |status: StatusCode, why: String| {
        c.rejected.fetch_add(1, Ordering::Relaxed);
        *c.last_error.write().expect("lock") = Some(why.clone());
        tracing::warn!(%why, "webhook rejected");
        answer(status, &why)
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok());
    let secrets = s.secrets.read().expect("secrets lock").clone();
    if let Err(e) = signature::verify(header, body, &secrets, crate::store::now_seconds()) {
        let status = if e == SignatureError::NoSecrets {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        };
        return reject(status, format!("Stripe-Signature: {e}"));
    }
    let raw = match std::str::from_utf8(body) {
        Ok(r) => r,
        Err(_) => return reject(StatusCode::BAD_REQUEST, "the body is not UTF-8".into()),
    };
    let event = match Event::parse(raw) {
        Ok(e) => e,
        Err(e) => return reject(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let id = event.id.clone();
    match s.door.record(event).await {
        Ok(new) => {
            if new {
                c.recorded.fetch_add(1, Ordering::Relaxed);
                s.settle.notify_one();
            } else {
                c.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            (
                StatusCode::OK,
                Json(json!({ "received": true, "duplicate": !new })),
            )
                .into_response()
        }
        Err(e) => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            *c.last_error.write().expect("lock") = Some(e.to_string());
            tracing::error!(error = %e, event = %id, "webhook not recorded");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the event could not be recorded; Stripe will retry",
            )
        }
    }
}
