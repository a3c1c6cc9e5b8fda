//! The secrets Tollgate keeps, parsed at the edge. Their `Debug` never prints the value,
//! and the only string that leaves for the UI or a log is [`MaskedSecret`].

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Environment, InputError};

/// What a secret is for; also its name on the CLI (`tollgate secrets set stripe-secret-key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    StripeSecretKey,
    WebhookSecret,
    DatabaseUrl,
}

impl SecretKind {
    pub const ALL: [SecretKind; 3] = [
        SecretKind::StripeSecretKey,
        SecretKind::WebhookSecret,
        SecretKind::DatabaseUrl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::StripeSecretKey => "stripe-secret-key",
            SecretKind::WebhookSecret => "webhook-secret",
            SecretKind::DatabaseUrl => "database-url",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SecretKind::StripeSecretKey => "Stripe secret key",
            SecretKind::WebhookSecret => "webhook signing secret",
            SecretKind::DatabaseUrl => "database URL",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InputError> {
        SecretKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                InputError::new(
                    "kind",
                    "must be stripe-secret-key, webhook-secret or database-url",
                )
            })
    }
}

/// A secret as the UI and logs may see it: `sk_test_…4242`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MaskedSecret(pub String);

fn mask_tail(prefix: &str, rest: &str) -> MaskedSecret {
    let tail: String = if rest.chars().count() > 8 {
        rest.chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    } else {
        // Too short to show any of it without showing most of it.
        String::new()
    };
    MaskedSecret(format!("{prefix}…{tail}"))
}

/// Stripe's keys and signing secrets are about 110 characters; Stripe asks integrations to
/// allow up to 255. Anything longer is not a key (a pasted file, a log line).
pub const MAX_KEY_LEN: usize = 255;
/// A database URL with every option spelled out fits in far less.
pub const MAX_URL_LEN: usize = 2048;

fn length_ok(field: &'static str, value: &str, max: usize, what: &str) -> Result<(), InputError> {
    let n = value.chars().count();
    if n > max {
        return Err(InputError::new(
            field,
            format!("is {n} characters long; {what} is at most {max}"),
        ));
    }
    Ok(())
}

fn body_chars_ok(field: &'static str, body: &str, min: usize) -> Result<(), InputError> {
    if body.len() < min {
        return Err(InputError::new(
            field,
            format!("is too short: expected at least {min} characters after the prefix"),
        ));
    }
    if let Some(c) = body.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(InputError::new(
            field,
            format!("may hold only letters and digits after the prefix, found {c:?}"),
        ));
    }
    Ok(())
}

/// A Stripe API secret key: `sk_test_…`, `sk_live_…`, or a restricted `rk_test_…`/`rk_live_…`.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeSecretKey {
    value: String,
    prefix_len: usize,
    mode: Environment,
    restricted: bool,
}

impl std::fmt::Debug for StripeSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StripeSecretKey({})", self.masked().0)
    }
}

impl StripeSecretKey {
    pub const FIELD: &'static str = "stripe_secret_key";

    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(InputError::new(Self::FIELD, "is empty"));
        }
        if value.starts_with("pk_") {
            return Err(InputError::new(
                Self::FIELD,
                "is a publishable key (pk_…); Tollgate needs a secret key (sk_…) or a restricted key (rk_…)",
            ));
        }
        let (prefix, mode, restricted) = [
            ("sk_test_", Environment::Test, false),
            ("sk_live_", Environment::Live, false),
            ("rk_test_", Environment::Test, true),
            ("rk_live_", Environment::Live, true),
        ]
        .into_iter()
        .find(|(p, _, _)| value.starts_with(p))
        .ok_or_else(|| {
            InputError::new(
                Self::FIELD,
                "must start with sk_test_, sk_live_, rk_test_ or rk_live_",
            )
        })?;
        length_ok(Self::FIELD, value, MAX_KEY_LEN, "a Stripe key")?;
        body_chars_ok(Self::FIELD, &value[prefix.len()..], 4)?;
        Ok(StripeSecretKey {
            value: value.to_owned(),
            prefix_len: prefix.len(),
            mode,
            restricted,
        })
    }

    /// Parses and also refuses a key of the other mode for this environment.
    pub fn parse_for(raw: &str, env: Environment) -> Result<Self, InputError> {
        let key = Self::parse(raw)?;
        key.check_environment(env)?;
        Ok(key)
    }

    pub fn check_environment(&self, env: Environment) -> Result<(), InputError> {
        if self.mode != env {
            return Err(InputError::environment_mismatch(
                Self::FIELD,
                format!(
                    "is a {} key ({}…) but the environment is {}: set it in the {} environment instead",
                    self.mode,
                    &self.value[..self.prefix_len],
                    env,
                    self.mode
                ),
            ));
        }
        Ok(())
    }

    pub fn mode(&self) -> Environment {
        self.mode
    }
    pub fn is_restricted(&self) -> bool {
        self.restricted
    }
    pub fn expose(&self) -> &str {
        &self.value
    }
    pub fn masked(&self) -> MaskedSecret {
        mask_tail(
            &self.value[..self.prefix_len],
            &self.value[self.prefix_len..],
        )
    }
}

/// A webhook endpoint's signing secret: `whsec_…`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookSecret({})", self.masked().0)
    }
}

impl WebhookSecret {
    pub const FIELD: &'static str = "webhook_secret";

    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let value = raw.trim();
        let body = value
            .strip_prefix("whsec_")
            .ok_or_else(|| InputError::new(Self::FIELD, "must start with whsec_"))?;
        length_ok(Self::FIELD, value, MAX_KEY_LEN, "a webhook signing secret")?;
        body_chars_ok(Self::FIELD, body, 8)?;
        Ok(WebhookSecret(value.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn masked(&self) -> MaskedSecret {
        mask_tail("whsec_", &self.0["whsec_".len()..])
    }
}

/// Where the store lives: a SQLite file or a Postgres server (team mode).
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.masked().0)
    }
}

impl DatabaseUrl {
    pub const FIELD: &'static str = "database_url";

    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let value = raw.trim();
        length_ok(Self::FIELD, value, MAX_URL_LEN, "a database URL")?;
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(InputError::new(
                Self::FIELD,
                format!("may hold only printable characters, found {c:?}"),
            ));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let rest = value.split_once("://").map(|x| x.1).unwrap_or_default();
            let host = rest.rsplit('@').next().unwrap_or_default();
            if host.is_empty() || host.starts_with('/') {
                return Err(InputError::new(
                    Self::FIELD,
                    "needs a host, as in postgres://user@host:5432/db",
                ));
            }
            if value.chars().any(char::is_whitespace) {
                return Err(InputError::new(Self::FIELD, "may not contain spaces"));
            }
            Ok(DatabaseUrl::Postgres(value.to_owned()))
        } else if let Some(path) = value.strip_prefix("sqlite:") {
            if path.trim_start_matches("//").is_empty() {
                return Err(InputError::new(
                    Self::FIELD,
                    "needs a file path, as in sqlite:///home/me/tollgate.db",
                ));
            }
            Ok(DatabaseUrl::Sqlite(value.to_owned()))
        } else {
            Err(InputError::new(
                Self::FIELD,
                "must start with postgres://, postgresql:// or sqlite:",
            ))
        }
    }

    pub fn expose(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite(s) | DatabaseUrl::Postgres(s) => s,
        }
    }

    /// The URL with any password replaced: `postgres://tollgate:…@db:5432/billing`.
    pub fn masked(&self) -> MaskedSecret {
        match self {
            DatabaseUrl::Sqlite(s) => MaskedSecret(s.clone()),
            DatabaseUrl::Postgres(s) => {
                let (scheme, rest) = s.split_once("://").unwrap_or(("postgres", s));
                let rest = match rest.rsplit_once('@') {
                    Some((userinfo, host)) => {
                        let user = userinfo.split(':').next().unwrap_or_default();
                        if userinfo.contains(':') {
                            format!("{user}:…@{host}")
                        } else {
                            format!("{user}@{host}")
                        }
                    }
                    None => rest.to_owned(),
                };
                // Passwords can also ride in the query string.
                let rest = match rest.split_once('?') {
                    Some((base, q)) if q.contains("password=") => format!("{base}?…"),
                    _ => rest,
                };
                MaskedSecret(format!("{scheme}://{rest}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_a_maximum_length_and_printable_characters() {
        let long = format!("sk_test_{}", "a".repeat(1024 * 1024));
        let e = StripeSecretKey::parse(&long).unwrap_err();
        assert_eq!(e.field, "stripe_secret_key");
        assert!(
            e.rule
                .contains("is 1048584 characters long; a Stripe key is at most 255"),
            "{}",
            e.rule
        );
        assert!(
            StripeSecretKey::parse(&format!("sk_test_{}", "a".repeat(247))).is_ok(),
            "255 is fine"
        );
        let e = WebhookSecret::parse(&format!("whsec_{}", "b".repeat(300))).unwrap_err();
        assert!(
            e.rule.contains("a webhook signing secret is at most 255"),
            "{}",
            e.rule
        );
        let e = StripeSecretKey::parse("sk_test_abc\u{7}defgh").unwrap_err();
        assert!(e.rule.contains("only letters and digits"), "{}", e.rule);
        let e = DatabaseUrl::parse("postgres://u@db/x\u{1b}[2J").unwrap_err();
        assert!(e.rule.contains("only printable characters"), "{}", e.rule);
        let e = DatabaseUrl::parse(&format!("sqlite:///{}", "d/".repeat(2000))).unwrap_err();
        assert!(
            e.rule.contains("a database URL is at most 2048"),
            "{}",
            e.rule
        );
    }

    #[test]
    fn masks_keep_prefix_and_last_four() {
        let k = StripeSecretKey::parse("sk_test_4eC39HqLyjWDarjtT1zdp7dc4242").unwrap();
        assert_eq!(k.masked().0, "sk_test_…4242");
        assert_eq!(k.mode(), Environment::Test);
        assert!(!format!("{k:?}").contains("4eC39"));
        let r = StripeSecretKey::parse("rk_live_abcdefghijklmnop9876").unwrap();
        assert!(r.is_restricted());
        assert_eq!(r.masked().0, "rk_live_…9876");
        // Short keys (the sandbox's) show no tail at all.
        assert_eq!(
            StripeSecretKey::parse("sk_test_sandbox")
                .unwrap()
                .masked()
                .0,
            "sk_test_…"
        );
    }

    #[test]
    fn bad_keys_name_field_and_rule() {
        let e = StripeSecretKey::parse("pk_test_abcdefgh").unwrap_err();
        assert_eq!(e.field, "stripe_secret_key");
        assert!(e.rule.contains("publishable"));
        let e = StripeSecretKey::parse("sk_tset_abcdefgh").unwrap_err();
        assert!(e.rule.contains("must start with"));
        let e = StripeSecretKey::parse("sk_test_abc def").unwrap_err();
        assert!(e.rule.contains("letters and digits"), "{e}");
        assert!(StripeSecretKey::parse("")
            .unwrap_err()
            .rule
            .contains("empty"));
    }

    #[test]
    fn live_key_refused_in_test_and_reverse() {
        let e =
            StripeSecretKey::parse_for("sk_live_abcdefghij1234", Environment::Test).unwrap_err();
        assert!(e.rule.contains("live key"), "{e}");
        let e =
            StripeSecretKey::parse_for("rk_test_abcdefghij1234", Environment::Live).unwrap_err();
        assert!(e.rule.contains("test key"), "{e}");
    }

    #[test]
    fn webhook_secrets() {
        let w = WebhookSecret::parse("whsec_0123456789abcdefXYZ9").unwrap();
        assert_eq!(w.masked().0, "whsec_…XYZ9");
        assert_eq!(
            WebhookSecret::parse("sec_123").unwrap_err().field,
            "webhook_secret"
        );
    }

    #[test]
    fn database_urls_hide_passwords() {
        let d = DatabaseUrl::parse("postgres://ops:hunter2@db.internal:5432/billing").unwrap();
        assert_eq!(d.masked().0, "postgres://ops:…@db.internal:5432/billing");
        let d = DatabaseUrl::parse("postgresql://ops@127.0.0.1/test?password=x").unwrap();
        assert_eq!(d.masked().0, "postgresql://ops@127.0.0.1/test?…");
        assert!(matches!(
            DatabaseUrl::parse("sqlite:///tmp/a.db").unwrap(),
            DatabaseUrl::Sqlite(_)
        ));
        assert_eq!(
            DatabaseUrl::parse("mysql://x").unwrap_err().field,
            "database_url"
        );
    }
}
