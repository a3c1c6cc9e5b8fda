// Generated from the Rust types by `make bindings` (src-tauri/lib.rs). Do not edit.
import { invoke } from "./ipc";

export type AppInfo = { version: string, environment: Environment, stripe_api_base: string, 
/**
 * The API base is a local emulator (`tollgate sandbox serve`), not Stripe.
 */
sandbox: boolean, database_backend: Backend, database_location: string, 
/**
 * The account behind the key, once a check has succeeded in this session.
 */
account?: AccountSummary, };

export type SecretsStatus = { environment: Environment, keyring: KeyringState, stripe_secret_key?: SecretView, 
/**
 * True for a restricted (`rk_`) key.
 */
restricted_key: boolean, webhook_secrets: Array<SecretView>, database_url?: SecretView, };

export type SecretView = { masked: MaskedSecret, source: SecretSource, };

export type SecretSource = "keyring" | "environment" | "flag";

export type KeyringState = { available: boolean, error?: ErrorBody, };

export type MaskedSecret = string;

export type Environment = "test" | "live";

export type SecretKind = "stripe-secret-key" | "webhook-secret" | "database-url";

export type ErrorBody = { code: ErrorCode, message: string, field?: string, };

export type ErrorCode = "invalid_input" | "environment_mismatch" | "not_found" | "keyring_unavailable" | "keyring_locked" | "stripe_authentication" | "stripe_permission" | "stripe_unreachable" | "stripe_rate_limited" | "stripe_invalid_request" | "stripe_api" | "stripe_key_missing" | "database_corrupt" | "database_read_only" | "database_unavailable" | "internal";

export type AccountSummary = { id: string, 
/**
 * Dashboard display name, else business name, else email, else the id.
 */
name: string, email?: string, country?: string, default_currency?: string, charges_enabled: boolean, };

export type DbStatus = { backend: Backend, 
/**
 * The file path, or the URL with its password masked.
 */
location: string, 
/**
 * The newest migration applied to this database.
 */
schema_version: number, 
/**
 * The newest migration this build carries.
 */
latest_version: number, };

export type Backend = "sqlite" | "postgres";

export const commands = {
  /** Version, environment, Stripe API base and database in use, and the account once checked. */
  app_info: (): Promise<AppInfo> => invoke<AppInfo>("app_info", {}),

  /** Switches between the test and live environments (separate keys, separate stores). */
  set_environment: (environment: Environment): Promise<AppInfo> => invoke<AppInfo>("set_environment", { environment }),

  /** What the keyring holds for the environment, masked. */
  secrets_status: (): Promise<SecretsStatus> => invoke<SecretsStatus>("secrets_status", {}),

  /** Validates a secret and stores it in the OS keyring. The value never comes back. */
  secret_set: (kind: SecretKind, value: string): Promise<SecretsStatus> => invoke<SecretsStatus>("secret_set", { kind, value }),

  /** Removes a secret; for webhook secrets, `which` is the masked form of the one to remove. */
  secret_remove: (kind: SecretKind, which?: string | null): Promise<SecretsStatus> => invoke<SecretsStatus>("secret_remove", { kind, which }),

  /** A real call to Stripe with the key in use: the account, or Stripe's exact error. */
  stripe_check: (): Promise<AccountSummary> => invoke<AccountSummary>("stripe_check", {}),

  /** The store's backend, location and schema version. */
  db_status: (): Promise<DbStatus> => invoke<DbStatus>("db_status", {}),

  /** Called by the UI once its first screen is on display (start-up figure for make bench). */
  ui_ready: (): Promise<void> => invoke<void>("ui_ready", {}),
};
