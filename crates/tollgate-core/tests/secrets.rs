//! Secrets on a real Secret Service: run under tests/support/session.sh (make test does), which
//! gives a private D-Bus session and a throwaway gnome-keyring. Each test uses its own service
//! name, so tests running in parallel never see each other's entries.

use tollgate_core::domain::{DatabaseUrl, Environment, SecretKind, StripeSecretKey, WebhookSecret};
use tollgate_core::secrets::{SecretStore, SecretsError, MAX_WEBHOOK_SECRETS};

fn store() -> SecretStore {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "keyring tests need a Secret Service: run them through tests/support/session.sh (make test does)"
    );
    SecretStore::new(tollgate_core::testing::unique("tollgate-test"))
}

#[test]
fn stripe_key_set_replace_remove_per_environment() {
    let s = store();
    assert!(s.stripe_key(Environment::Test).unwrap().is_none());
    let k1 = StripeSecretKey::parse("sk_test_4eC39HqLyjWDarjtT1zdp7dc1111").unwrap();
    let k2 = StripeSecretKey::parse("rk_test_4eC39HqLyjWDarjtT1zdp7dc2222").unwrap();
    s.set_stripe_key(Environment::Test, &k1).unwrap();
    assert_eq!(s.stripe_key(Environment::Test).unwrap(), Some(k1));
    s.set_stripe_key(Environment::Test, &k2).unwrap();
    assert_eq!(
        s.stripe_key(Environment::Test).unwrap(),
        Some(k2.clone()),
        "replaced"
    );
    assert!(
        s.stripe_key(Environment::Live).unwrap().is_none(),
        "live is separate"
    );
    assert_eq!(
        s.masked(Environment::Test, SecretKind::StripeSecretKey)
            .unwrap()[0]
            .0,
        "rk_test_…2222"
    );
    assert!(s
        .remove(Environment::Test, SecretKind::StripeSecretKey)
        .unwrap());
    assert!(
        !s.remove(Environment::Test, SecretKind::StripeSecretKey)
            .unwrap(),
        "second remove finds nothing"
    );
    assert!(s.stripe_key(Environment::Test).unwrap().is_none());
}

#[test]
fn a_key_of_the_other_mode_is_refused_and_nothing_is_written() {
    let s = store();
    let live = StripeSecretKey::parse("sk_live_4eC39HqLyjWDarjtT1zdp7dc4242").unwrap();
    let err = s.set_stripe_key(Environment::Test, &live).unwrap_err();
    match err {
        SecretsError::Input(e) => assert!(e.environment_mismatch && e.field == "stripe_secret_key"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(s.stripe_key(Environment::Test).unwrap().is_none());
}

#[test]
fn webhook_secrets_rotate() {
    let s = store();
    let old = WebhookSecret::parse("whsec_oldoldoldold0001").unwrap();
    let new = WebhookSecret::parse("whsec_newnewnewnew0002").unwrap();
    s.add_webhook_secret(Environment::Test, &old).unwrap();
    s.add_webhook_secret(Environment::Test, &new).unwrap();
    s.add_webhook_secret(Environment::Test, &new).unwrap(); // no duplicate
    assert_eq!(
        s.webhook_secrets(Environment::Test).unwrap(),
        vec![old.clone(), new.clone()]
    );
    s.remove_webhook_secret(Environment::Test, "whsec_…0001")
        .unwrap();
    assert_eq!(s.webhook_secrets(Environment::Test).unwrap(), vec![new]);
    assert!(matches!(
        s.remove_webhook_secret(Environment::Test, "whsec_…9999"),
        Err(SecretsError::NotFound(..))
    ));
    for i in 0..MAX_WEBHOOK_SECRETS - 1 {
        s.add_webhook_secret(
            Environment::Test,
            &WebhookSecret::parse(&format!("whsec_fillfillfill{i:04}")).unwrap(),
        )
        .unwrap();
    }
    let over = s.add_webhook_secret(
        Environment::Test,
        &WebhookSecret::parse("whsec_toomanytoomany").unwrap(),
    );
    assert!(matches!(over, Err(SecretsError::Input(_))), "{over:?}");
    assert_eq!(
        s.webhook_secrets(Environment::Test).unwrap().len(),
        MAX_WEBHOOK_SECRETS,
        "nothing lost"
    );
}

#[test]
fn database_url_is_kept_per_environment() {
    let s = store();
    let url = DatabaseUrl::parse("postgres://ops:pw@db.internal:5432/billing").unwrap();
    s.set_database_url(Environment::Live, &url).unwrap();
    assert_eq!(s.database_url(Environment::Live).unwrap(), Some(url));
    assert!(s.database_url(Environment::Test).unwrap().is_none());
    assert_eq!(
        s.masked(Environment::Live, SecretKind::DatabaseUrl)
            .unwrap()[0]
            .0,
        "postgres://ops:…@db.internal:5432/billing"
    );
}
