//! `Stripe-Signature` verification on the raw body: `t=<unix>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`, any of several `v1` values (Stripe sends one per active secret during a
//! roll), against every configured secret (ours rotate too), within a tolerance.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::WebhookSecret;

/// Stripe's own default.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no t= timestamp or no v1= signature")]
    Malformed,
    #[error(
        "the signature timestamp is {0} s from now, beyond the {TOLERANCE_SECONDS} s tolerance"
    )]
    OutsideTolerance(i64),
    #[error("no configured webhook secret produced this signature")]
    NoMatch,
    #[error("no webhook signing secret is configured")]
    NoSecrets,
}

/// HMAC-SHA256 of `"<t>.<body>"`, hex.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks the header against each secret; `Ok(index)` of the secret that matched.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[WebhookSecret],
    now: i64,
) -> Result<usize, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    for (i, secret) in secrets.iter().enumerate() {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // Constant-time comparison, through the hmac crate's own verifier.
        if v1.iter().any(|sig| mac.clone().verify_slice(sig).is_ok()) {
            // Checked after the match, as Stripe's libraries do, so a replay of a genuine
            // delivery is told apart from a forgery.
            // Saturating: `t` comes off the wire and may be any i64 (i64::MIN included).
            let skew = now.saturating_sub(t);
            if skew.unsigned_abs() > TOLERANCE_SECONDS as u64 {
                return Err(SignatureError::OutsideTolerance(skew));
            }
            return Ok(i);
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> WebhookSecret {
        WebhookSecret::parse(s).unwrap()
    }

    #[test]
    fn a_signature_verifies_against_any_configured_secret() {
        let body = br#"{"id":"evt_1"}"#;
        let old = secret("whsec_old0000000000000000");
        let new = secret("whsec_new0000000000000000");
        let header = format!("t=1000,v1={}", sign(new.expose(), 1000, body));
        assert_eq!(
            verify(Some(&header), body, &[old.clone(), new.clone()], 1010),
            Ok(1)
        );
        assert_eq!(
            verify(Some(&header), body, &[old.clone()], 1010),
            Err(SignatureError::NoMatch)
        );
        // Stripe's roll: two v1 values, one per secret.
        let both = format!(
            "t=1000,v1={},v1={}",
            sign("whsec_gone", 1000, body),
            sign(old.expose(), 1000, body)
        );
        assert_eq!(verify(Some(&both), body, &[old.clone()], 1000), Ok(0));
    }

    #[test]
    fn tampering_staleness_and_garbage_are_refused() {
        let s = secret("whsec_abc0000000000000000");
        let body = br#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", sign(s.expose(), 1000, body));
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2"}"#, &[s.clone()], 1000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), body, &[s.clone()], 1301),
            Err(SignatureError::OutsideTolerance(301))
        );
        assert_eq!(verify(Some(&header), body, &[s.clone()], 1300), Ok(0));
        assert_eq!(
            verify(None, body, &[s.clone()], 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(Some("v1=zz"), body, &[s.clone()], 1000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(&header), body, &[], 1000),
            Err(SignatureError::NoSecrets)
        );
    }

    #[test]
    fn a_correct_signature_at_the_ends_of_time_is_stale_not_a_panic() {
        let s = secret("whsec_abc0000000000000000");
        let body = br#"{"id":"evt_1"}"#;
        for t in [i64::MIN, i64::MAX, -1] {
            let header = format!("t={t},v1={}", sign(s.expose(), t, body));
            for now in [0, 1_800_000_000, i64::MIN, i64::MAX] {
                let r = verify(Some(&header), body, &[s.clone()], now);
                assert!(
                    matches!(r, Err(SignatureError::OutsideTolerance(_)) | Ok(_)),
                    "t={t} now={now}: {r:?}"
                );
                assert_eq!(r.is_ok(), now.saturating_sub(t).unsigned_abs() <= 300);
            }
        }
    }

    #[test]
    fn signatures_match_the_sandbox_deliverer() {
        let header = tollgate_sandbox::signature_header("whsec_abc0000000000000000", 77, "{}");
        assert_eq!(
            verify(
                Some(&header),
                b"{}",
                &[secret("whsec_abc0000000000000000")],
                77
            ),
            Ok(0)
        );
    }
}
