//! The `Stripe-Signature` header a delivery carries, for each way of signing it.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::domain::{InputError, WebhookSecret};
use crate::sync::signature::{sign, TOLERANCE_SECONDS};

/// How a test-fired event is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum SigningMode {
    /// `t=now`, one `v1` per configured secret, as Stripe signs during a secret roll.
    Valid,
    /// Signed with a secret the endpoint cannot know.
    WrongSecret,
    /// Correctly signed, but `t` is ten minutes old: past Stripe's 300 s tolerance.
    Stale,
    /// No `Stripe-Signature` header at all.
    Unsigned,
    /// Signed, then the body changed (`livemode` flipped) after signing.
    Tampered,
}

pub const MODES: [SigningMode; 5] = [
    SigningMode::Valid,
    SigningMode::WrongSecret,
    SigningMode::Stale,
    SigningMode::Unsigned,
    SigningMode::Tampered,
];

/// How far back a stale signature's timestamp is: twice the tolerance.
pub const STALE_BY_SECONDS: i64 = 2 * TOLERANCE_SECONDS;

impl SigningMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningMode::Valid => "valid",
            SigningMode::WrongSecret => "wrong-secret",
            SigningMode::Stale => "stale",
            SigningMode::Unsigned => "unsigned",
            SigningMode::Tampered => "tampered",
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> Result<SigningMode, InputError> {
        MODES
            .into_iter()
            .find(|m| m.as_str() == raw.trim())
            .ok_or_else(|| {
                InputError::new(
                    field,
                    format!(
                        "{raw:?} is not a signing mode: one of valid, wrong-secret, stale, unsigned, tampered"
                    ),
                )
            })
    }

    /// What a correct endpoint answers: 2xx to a valid signature, 4xx to anything else.
    pub fn expects_acceptance(self) -> bool {
        self == SigningMode::Valid
    }
}

/// The body to send and its `Stripe-Signature` header (none when unsigned), at `now`.
pub fn signed(
    mode: SigningMode,
    body: &str,
    secrets: &[WebhookSecret],
    now: i64,
) -> Result<(String, Option<String>), InputError> {
    if secrets.is_empty()
        && matches!(
            mode,
            SigningMode::Valid | SigningMode::Stale | SigningMode::Tampered
        )
    {
        return Err(InputError::new(
            "webhook_secret",
            "no webhook signing secret is configured: add one (whsec_…) in Settings, with `tollgate secrets set webhook-secret`, or in TOLLGATE_WEBHOOK_SECRET",
        ));
    }
    let header = |t: i64, keys: &[&str], body: &str| {
        let mut h = format!("t={t}");
        for k in keys {
            h.push_str(",v1=");
            h.push_str(&sign(k, t, body.as_bytes()));
        }
        h
    };
    let keys: Vec<&str> = secrets.iter().map(WebhookSecret::expose).collect();
    Ok(match mode {
        SigningMode::Valid => (body.to_owned(), Some(header(now, &keys, body))),
        SigningMode::Stale => (
            body.to_owned(),
            Some(header(now - STALE_BY_SECONDS, &keys, body)),
        ),
        SigningMode::WrongSecret => {
            let wrong = crate::testfire::random_id("whsec");
            (body.to_owned(), Some(header(now, &[&wrong], body)))
        }
        SigningMode::Unsigned => (body.to_owned(), None),
        SigningMode::Tampered => {
            let h = header(now, &keys, body);
            (tamper(body), Some(h))
        }
    })
}

/// How old a delivery's signature is at `now`: from the `t=` of its `Stripe-Signature`.
pub fn signature_age(headers: &[(String, String)], now: i64) -> Option<i64> {
    let sig = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("stripe-signature"))?;
    sig.1
        .split(',')
        .find_map(|p| p.trim().strip_prefix("t="))
        .and_then(|t| t.parse::<i64>().ok())
        .map(|t| now.saturating_sub(t))
}

/// The body changed after signing: the first `"livemode"` in the body is flipped (keys are
/// in sorted order, so in a built event that is `data.object`'s: a test object passed off as
/// live), else one space is added. Still JSON either way.
pub fn tamper(body: &str) -> String {
    for (from, to) in [
        ("\"livemode\":false", "\"livemode\":true"),
        ("\"livemode\": false", "\"livemode\": true"),
        ("\"livemode\":true", "\"livemode\":false"),
        ("\"livemode\": true", "\"livemode\": false"),
    ] {
        if body.contains(from) {
            return body.replacen(from, to, 1);
        }
    }
    format!("{body} ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::signature::{verify, SignatureError};

    fn secrets() -> Vec<WebhookSecret> {
        vec![
            WebhookSecret::parse("whsec_old0secret0123456789").unwrap(),
            WebhookSecret::parse("whsec_new0secret0123456789").unwrap(),
        ]
    }

    #[test]
    fn each_mode_meets_the_receivers_check_as_it_should() {
        let body = r#"{"id":"evt_1","livemode":false,"type":"invoice.paid"}"#;
        let now = 1_800_000_000;
        let s = secrets();
        let check = |mode| {
            let (sent, header) = signed(mode, body, &s, now).unwrap();
            verify(header.as_deref(), sent.as_bytes(), &s, now)
        };
        assert_eq!(check(SigningMode::Valid), Ok(0));
        // One v1 per secret: a receiver that knows only the newer one accepts it too.
        let (_, header) = signed(SigningMode::Valid, body, &s, now).unwrap();
        assert_eq!(header.as_deref().unwrap().matches("v1=").count(), 2);
        assert_eq!(
            verify(header.as_deref(), body.as_bytes(), &s[1..], now),
            Ok(0)
        );
        assert_eq!(
            check(SigningMode::WrongSecret),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            check(SigningMode::Stale),
            Err(SignatureError::OutsideTolerance(STALE_BY_SECONDS))
        );
        assert_eq!(check(SigningMode::Unsigned), Err(SignatureError::Missing));
        assert_eq!(check(SigningMode::Tampered), Err(SignatureError::NoMatch));
        let (sent, _) = signed(SigningMode::Tampered, body, &s, now).unwrap();
        assert!(sent.contains("\"livemode\":true"));
        serde_json::from_str::<serde_json::Value>(&sent).expect("still JSON");
    }

    #[test]
    fn a_signature_is_as_old_as_its_t() {
        let h = |v: &str| {
            vec![
                ("content-type".to_owned(), "x".to_owned()),
                ("stripe-signature".to_owned(), v.to_owned()),
            ]
        };
        assert_eq!(signature_age(&h("t=1000,v1=ab"), 1400), Some(400));
        assert_eq!(signature_age(&h("v1=ab, t=1000"), 1000), Some(0));
        assert_eq!(signature_age(&h("v1=ab"), 1000), None);
        assert_eq!(signature_age(&[], 1000), None);
    }

    #[test]
    fn signing_without_a_secret_names_the_field() {
        let e = signed(SigningMode::Valid, "{}", &[], 0).unwrap_err();
        assert_eq!(e.field, "webhook_secret");
        // Modes that need no secret still work.
        assert!(signed(SigningMode::Unsigned, "{}", &[], 0).is_ok());
        assert!(signed(SigningMode::WrongSecret, "{}", &[], 0).is_ok());
    }

    #[test]
    fn modes_parse_by_name_and_say_the_choices() {
        for m in MODES {
            assert_eq!(SigningMode::parse("mode", m.as_str()).unwrap(), m);
        }
        let e = SigningMode::parse("mode", "bogus").unwrap_err();
        assert!(e.rule.contains("wrong-secret"), "{}", e.rule);
    }
}
