//! The IPC surface, declared once. The `commands!` table below generates the Tauri command
//! functions, the handler, the list of names that build.rs turns into permissions, and the
//! typed TypeScript client in ui/src/lib/bindings.ts. Each body is a thin call into the core.

use tollgate_core::console::{AppInfo, SecretsStatus};
use tollgate_core::domain::{Environment, SecretKind};
use tollgate_core::store::DbStatus;
use tollgate_core::stripe::AccountSummary;
use tollgate_core::ErrorBody;

use crate::ipc::commands;

commands! {
    /// Version, environment, Stripe API base and database in use, and the account once checked.
    fn app_info(console) -> AppInfo {
        Ok(console.app_info())
    }

    /// Switches between the test and live environments (separate keys, separate stores).
    fn set_environment(console, environment: Environment) -> AppInfo {
        console.set_environment(environment);
        Ok(console.app_info())
    }

    /// What the keyring holds for the environment, masked.
    fn secrets_status(console) -> SecretsStatus {
        Ok(console.secrets_status())
    }

    /// Validates a secret and stores it in the OS keyring. The value never comes back.
    fn secret_set(console, kind: SecretKind, value: String) -> SecretsStatus {
        console.set_secret(kind, &value).await
    }

    /// Removes a secret; for webhook secrets, `which` is the masked form of the one to remove.
    fn secret_remove(console, kind: SecretKind, which: Option<String>) -> SecretsStatus {
        console.remove_secret(kind, which.as_deref()).await
    }

    /// A real call to Stripe with the key in use: the account, or Stripe's exact error.
    fn stripe_check(console) -> AccountSummary {
        console.check_stripe().await
    }

    /// The store's backend, location and schema version.
    fn db_status(console) -> DbStatus {
        console.db_status().await
    }

    /// Called by the UI once its first screen is on display (start-up figure for make bench).
    fn ui_ready(console) -> () {
        let _ = console;
        crate::startup::ui_ready();
        Ok(())
    }
}
