//! The IPC surface, declared once. The `commands!` table below generates the Tauri command
//! functions, the handler, the list of names that build.rs turns into permissions, and the
//! typed TypeScript client in ui/src/lib/bindings.ts. Each body is a thin call into the core.

use tollgate_core::catalog::create::NewPrice;
use tollgate_core::catalog::migration::{ApplyReport, MapPlan};
use tollgate_core::catalog::resolver::ResolverStats;
use tollgate_core::catalog::verify::VerifyReport;
use tollgate_core::catalog::Catalog;
use tollgate_core::console::{
    AccessAction, AppInfo, CreatedPrice, DriftReport, LookupKeyParts, ReceiverStatus,
    ResolveResult, SecretsStatus, SyncReport,
};
use tollgate_core::console::{BuiltEvent, DeliveryOptions, RunResult, ScenarioInput};
use tollgate_core::console::{ExportResult, TimeZoneChange};
use tollgate_core::domain::{Environment, SecretKind};
use tollgate_core::ledger::overview::Overview;
use tollgate_core::ledger::report::{
    CommissionQuery, CommissionRowsPage, CommissionView, RateInput, RateRow,
};
use tollgate_core::progress::ProgressView;
use tollgate_core::store::sync_views::{
    AccessPage, AccessQuery, OrgDetail, SubscriptionPage, SubscriptionQuery, SyncState,
};
use tollgate_core::store::testfire::SubjectChoice;
use tollgate_core::store::AuditEntry;
use tollgate_core::store::DbStatus;
use tollgate_core::stripe::AccountSummary;
use tollgate_core::testfire::scenario::ScenarioInfo;
use tollgate_core::testfire::{Delivery, EventKind};
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

    /// The plans from the store; with `refresh`, read from Stripe first (the store's copy and
    /// the reason if Stripe cannot be read). `op` names the operation for progress.
    fn catalog(console, refresh: bool, op: Option<String>) -> Catalog {
        console.catalog(refresh, op.as_deref()).await
    }

    /// Creates a price in Stripe (the form's `request_id` makes a double click one price).
    fn price_create(console, input: NewPrice, confirm: Option<String>) -> CreatedPrice {
        console.create_price(&input, confirm.as_deref()).await
    }

    /// Checks a lookup key against the convention and reads back its parts.
    fn lookup_key_parse(console, lookup_key: String) -> LookupKeyParts {
        let _ = console;
        LookupKeyParts::parse(&lookup_key)
    }

    /// The dry run of a lookup-key map (JSON text) against Stripe now.
    fn lookup_keys_plan(console, map: String, op: Option<String>) -> MapPlan {
        console.lookup_keys_plan(&map, op.as_deref()).await
    }

    /// Applies a lookup-key map; refuses one with conflicts. Progress under `op`.
    fn lookup_keys_apply(console, map: String, op: Option<String>, confirm: Option<String>) -> ApplyReport {
        console.lookup_keys_apply(&map, op.as_deref(), confirm.as_deref()).await
    }

    /// Checks expected keys (JSON text) at Stripe: green or red per key.
    fn lookup_keys_verify(console, expected: String) -> VerifyReport {
        console.lookup_keys_verify(&expected).await
    }

    /// Resolves lookup keys through the cached resolver.
    fn lookup_keys_resolve(console, keys: Vec<String>) -> ResolveResult {
        let (resolutions, stats) = console.resolve(&keys).await?;
        Ok(ResolveResult { resolutions, stats })
    }

    /// The resolver's counters: hits, misses, API calls.
    fn resolver_stats(console) -> ResolverStats {
        Ok(console.resolver_stats())
    }

    /// Attaches or detaches an entitlement feature on a product in Stripe.
    fn product_feature_set(console, product: String, feature: String, attach: bool, confirm: Option<String>) -> Catalog {
        console.product_feature(&product, &feature, attach, confirm.as_deref()).await
    }

    /// The audit log, newest first; `before` pages back from an entry id.
    fn activity(console, limit: u32, before: Option<u32>) -> Vec<AuditEntry> {
        console.activity(limit as i64, before.map(i64::from)).await
    }

    /// Backfill (when `full`, or before the first sync), the events cursor, then reads of what
    /// the events touched. Progress under `op`; waits for a sync already running.
    fn sync(console, full: bool, op: Option<String>) -> SyncReport {
        console.sync(full, op.as_deref()).await
    }

    /// The sync engine's checkpoint, counts and open issues.
    fn sync_state(console) -> SyncState {
        console.sync_state().await
    }

    /// One filtered, sorted page of organizations' subscriptions from the store.
    fn subscriptions(console, query: SubscriptionQuery) -> SubscriptionPage {
        console.subscriptions(&query).await
    }

    /// Writes every row the filter matches as CSV to the downloads folder; returns the path.
    fn subscriptions_export(console, query: SubscriptionQuery) -> String {
        console.subscriptions_export(&query).await
    }

    /// The finance overview: MRR/ARR, statuses, new and churned, at risk, commissions.
    fn overview(console) -> Overview {
        console.overview().await
    }

    /// A commission report (the period in the reports' time zone, grouped as asked) and its
    /// chart by period and tier under the same filters; with `first_groups`, the report's
    /// first groups only (`groups_total` counts them all).
    fn commission_view(console, query: CommissionQuery, first_groups: Option<u32>) -> CommissionView {
        console.commission_view(&query, first_groups).await
    }

    /// The ledger rows behind a report or one of its groups, oldest first.
    fn commission_rows(console, query: CommissionQuery, offset: u32, limit: u32) -> CommissionRowsPage {
        console.commission_rows(&query, offset as i64, limit as i64).await
    }

    /// Writes every ledger row behind the query as CSV to the downloads folder, with progress.
    fn commissions_export(console, query: CommissionQuery, op: Option<String>) -> ExportResult {
        console.commissions_export(&query, None, op.as_deref()).await
    }

    /// The time zone reports bucket days in.
    fn report_time_zone(console) -> String {
        console.report_time_zone().await
    }

    /// Sets the reports' time zone (every row's day is computed again); returns rows moved.
    fn set_report_time_zone(console, zone: String) -> TimeZoneChange {
        console.set_report_time_zone(&zone).await
    }

    /// Every commission rate, with the days it covers.
    fn commission_rates(console) -> Vec<RateRow> {
        console.commission_rates().await
    }

    /// Adds a rate; refused when it overlaps another of the same plan type and tier.
    fn commission_rate_add(console, input: RateInput) -> RateRow {
        console.commission_rate_add(&input).await
    }

    /// Ends a rate at the start of a day.
    fn commission_rate_end(console, id: u32, at: String) -> RateRow {
        console.commission_rate_end(id as i64, &at).await
    }

    /// An organization: subscriptions, access and its history, timeline, entitlements, claim.
    fn org_detail(console, org: String) -> OrgDetail {
        console.org_detail(&org).await
    }

    /// One filtered page of PlatformAccess rows, with counts per status.
    fn access(console, query: AccessQuery) -> AccessPage {
        console.access(&query).await
    }

    /// A manual grant or revoke (or clearing one) with its reason, written to the audit log.
    fn access_override(console, org: String, plan: String, action: AccessAction, reason: String) -> OrgDetail {
        console.access_override(&org, &plan, action, &reason).await
    }

    /// Compares the store with Stripe now; progress under `op`.
    fn access_drift(console, op: Option<String>) -> DriftReport {
        console.access_drift(op.as_deref()).await
    }

    /// Reads an organization's customers and subscriptions from Stripe again.
    fn resync_org(console, org: String) -> OrgDetail {
        console.resync_org(&org).await
    }

    /// Starts the webhook receiver on 127.0.0.1:`port` (restarts it if running).
    fn receiver_start(console, port: u16) -> ReceiverStatus {
        console.receiver_start(port).await
    }

    /// Stops the webhook receiver.
    fn receiver_stop(console) -> ReceiverStatus {
        console.receiver_stop().await;
        Ok(console.receiver_status().await)
    }

    /// Whether the receiver runs, where, and what it has received.
    fn receiver_status(console) -> ReceiverStatus {
        Ok(console.receiver_status().await)
    }

    /// The test-fire catalog: every event type it builds.
    fn testfire_catalog(console) -> Vec<EventKind> {
        Ok(console.testfire_catalog())
    }

    /// The scenarios: Stripe's stories, duplicate, out of order, burst.
    fn testfire_scenarios(console) -> Vec<ScenarioInfo> {
        Ok(console.testfire_scenarios())
    }

    /// Organizations to fill events from, by name, organization id or customer id.
    fn testfire_choices(console, search: String) -> Vec<SubjectChoice> {
        console.testfire_choices(&search).await
    }

    /// Where a delivery goes when none is named: the running receiver, else port 4242.
    fn testfire_default_target(console) -> String {
        Ok(console.testfire_default_target().await)
    }

    /// Builds one event of `kind` for `org` (or one from the store), with `set` overrides.
    fn testfire_build(console, kind: String, set: Vec<String>, org: Option<String>) -> BuiltEvent {
        console.testfire_build(&kind, org.as_deref(), &set).await
    }

    /// Signs and sends a body as given (the edited preview); records every attempt.
    fn testfire_send(console, body: String, delivery: DeliveryOptions, org: Option<String>) -> RunResult {
        console.testfire_send(&body, org, &delivery).await
    }

    /// Runs a scenario, with progress under `op` (a burst can be cancelled).
    fn testfire_scenario(console, input: ScenarioInput, op: Option<String>) -> RunResult {
        console.testfire_scenario(&input, op.as_deref()).await
    }

    /// Test-fired deliveries, newest first; `before` pages back from a delivery id.
    fn testfire_history(console, limit: u32, before: Option<u32>) -> Vec<Delivery> {
        console.testfire_history(limit as i64, before.map(i64::from)).await
    }

    /// One delivery: the exact request and what came back.
    fn testfire_delivery(console, id: u32) -> Delivery {
        console.testfire_delivery(id as i64).await
    }

    /// Sends a past delivery again, byte for byte.
    fn testfire_replay(console, id: u32) -> RunResult {
        console.testfire_replay(id as i64).await
    }

    /// Opens a Stripe Dashboard page in the default browser (no other address is opened).
    fn open_dashboard(console, url: String) -> () {
        let _ = console;
        crate::desktop::open_dashboard(&url)
    }

    /// Progress of a running operation, by the id the UI gave it.
    fn op_progress(console, op: String) -> Option<ProgressView> {
        Ok(console.op_progress(&op))
    }

    /// Asks a running operation to stop between two steps.
    fn op_cancel(console, op: String) -> bool {
        Ok(console.op_cancel(&op))
    }

    /// make bench's screen probe, `SCREEN[:INPUT]` (none normally): the screen to open and
    /// measure, and what it types.
    fn ui_probe(console) -> Option<String> {
        let _ = console;
        Ok(crate::startup::ui_probe())
    }

    /// The screen probe's figures (make bench); the app exits after printing them.
    fn ui_probe_report(console, report: String) -> () {
        let _ = console;
        crate::startup::ui_probe_report(&report);
        Ok(())
    }

    /// Called by the UI once its first screen is on display (start-up figure for make bench).
    fn ui_ready(console) -> () {
        let _ = console;
        crate::startup::ui_ready();
        Ok(())
    }
}
