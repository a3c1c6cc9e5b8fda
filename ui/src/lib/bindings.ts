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

export type ErrorCode = "invalid_input" | "environment_mismatch" | "not_found" | "keyring_unavailable" | "keyring_locked" | "stripe_authentication" | "stripe_permission" | "stripe_unreachable" | "stripe_rate_limited" | "stripe_invalid_request" | "stripe_api" | "stripe_key_missing" | "database_corrupt" | "database_read_only" | "database_unavailable" | "sync_incomplete" | "cancelled" | "internal";

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
latest_version: number, 
/**
 * Opened read-only: it can be read, nothing can be recorded.
 */
read_only: boolean, };

export type Backend = "sqlite" | "postgres";

export type AuditEntry = { id: number, 
/**
 * UTC seconds.
 */
at: number, environment: Environment, 
/**
 * The OS user.
 */
actor: string, 
/**
 * `desktop` or `cli`; absent on entries older than the column.
 */
surface: string | null, action: string, target: string | null, 
/**
 * JSON.
 */
detail: string, stripe_ids: Array<string>, };

export type Catalog = { plans: Array<Plan>, features: Array<FeatureRef>, products: Array<ProductSummary>, 
/**
 * When the catalog was last read whole from Stripe (UTC seconds).
 */
refreshed_at: number | null, 
/**
 * Set when this is the store's copy because Stripe could not be reached.
 */
stale_reason: string | null, };

export type Plan = { price_id: string, product_id: string, product_name: string, lookup_key: string | null, 
/**
 * Why the lookup key breaks the convention, if it does.
 */
key_problem: string | null, nickname: string | null, 
/**
 * From price metadata `tier`, else from the lookup key.
 */
tier: string | null, 
/**
 * From price metadata `audience`, else from the lookup key.
 */
audience: string | null, 
/**
 * month, year or once; absent for other cadences (every 3 months, weekly …).
 */
interval: PlanInterval | null, 
/**
 * How often it bills, in words: "month", "3 months", "one-time".
 */
cadence: string, 
/**
 * How the amount is computed, in words: "EUR 49.00 / month", tiers, per seat, metered.
 */
pricing: string, 
/**
 * flat, per_seat, per_unit, tiered, metered or custom.
 */
model: string, 
/**
 * The per-unit amount in minor units, when the price has one (sorting and filters).
 */
unit_amount: number | null, currency: Currency, 
/**
 * Price metadata `commissionRate`, basis points.
 */
commission_bps: BasisPoints | null, active: boolean, features: Array<FeatureRef>, active_subscribers: number, created: number, livemode: boolean, };

export type FeatureRef = { id: string, lookup_key: string, name: string, };

export type ProductSummary = { id: string, name: string, active: boolean, features: Array<FeatureRef>, };

export type PlanInterval = "month" | "year" | "once";

export type Currency = string;

export type BasisPoints = number;

export type NewPrice = { 
/**
 * An existing product, or
 */
product_id: string | null, 
/**
 * the name of a new one.
 */
product_name: string | null, lookup_key: string, 
/**
 * month, year or once.
 */
interval: string, 
/**
 * Minor units (2900 for 29.00; 500 for JPY 500).
 */
amount: number, currency: string, commission_bps: number | null, 
/**
 * Charged per seat (the subscription's quantity) rather than flat.
 */
per_seat: boolean, 
/**
 * Take the key from the price that holds it (that price keeps its subscribers).
 */
transfer_lookup_key: boolean, 
/**
 * Entitlement features (lookup keys or ids) to attach to the product.
 */
features: Array<string>, nickname: string | null, 
/**
 * The form's nonce: the same nonce is the same price, however often it is sent.
 */
request_id: string | null, };

export type CreatedPrice = { plan: Plan, transferred_from: string | null, 
/**
 * The same request made this price before (a re-run, a second click of the same form):
 * it is returned as it is and nothing was written.
 */
already_created: boolean, };

export type LookupKeyParts = { lookup_key: string, tier: string, audience: string, interval: PlanInterval, currency: string | null, version: number | null, };

export type ResolveResult = { resolutions: Array<Resolution>, stats: ResolverStats, };

export type MapPlan = { rows: Array<MapRow>, counts: MapCounts, };

export type MapRow = { price_id: string, lookup_key: string, action: MapAction, 
/**
 * Why, for conflict and invalid; what else changes, for assign and transfer.
 */
reason: string | null, 
/**
 * The key the price holds now.
 */
current_key: string | null, 
/**
 * The price that holds the key now, for a transfer.
 */
holder: string | null, product_id: string | null, pricing: string | null, active: boolean | null, };

export type MapAction = "unchanged" | "assign" | "transfer" | "conflict" | "invalid";

export type MapCounts = { unchanged: number, assign: number, transfer: number, conflict: number, invalid: number, };

export type ApplyReport = { plan: MapPlan, 
/**
 * Rows written to Stripe by this run.
 */
applied: number, 
/**
 * Rows not written because the run was cancelled.
 */
skipped: number, cancelled: boolean, };

export type VerifyReport = { checks: Array<KeyCheck>, passed: number, failed: number, };

export type KeyCheck = { expected: ExpectedKey, ok: boolean, 
/**
 * What differs, one line each; empty when ok.
 */
problems: Array<string>, found: Resolution | null, };

export type ExpectedKey = { lookup_key: string, amount: number, currency: string, interval: PlanInterval, };

export type Resolution = { lookup_key: string, 
/**
 * None: no price holds this key.
 */
price: ResolvedPrice | null, source: Source, 
/**
 * Served from the store while Stripe was unreachable; may be out of date.
 */
stale: boolean, };

export type ResolvedPrice = { price_id: string, product_id: string, unit_amount: number | null, currency: string, interval: PlanInterval | null, active: boolean, pricing: string, };

export type Source = "cache" | "stripe" | "store";

export type ResolverStats = { hits: number, misses: number, 
/**
 * Calls made to Stripe.
 */
api_calls: number, 
/**
 * Misses that joined a call already in flight instead of making their own.
 */
coalesced: number, 
/**
 * Answers served from the store because Stripe was unreachable.
 */
stale_served: number, cached_keys: number, ttl_seconds: number, };

export type ProgressView = { phase: string, done: number, total: number, cancelled: boolean, finished: boolean, 
/**
 * What it waits for right now: "waiting for Stripe's rate limit …", a retry.
 */
note?: string, };

export type SyncReport = { 
/**
 * This run waited for another sync of the store: whose.
 */
waited_for: string | null, 
/**
 * It then skipped its own backfill: the one it waited for had just listed everything.
 */
joined: boolean, 
/**
 * Objects the mirror leaves out after this run (unreadable, or with a value Tollgate
 * does not know): each is a sync issue, and the next sync tries it again.
 */
skipped: number, backfill: BackfillReport | null, cursor: CursorReport | null, settle: SettleReport, elapsed_ms: number, };

export type BackfillReport = { customers: number, subscriptions: number, purchases: number, 
/**
 * Appointment charges recorded in the commission ledger.
 */
appointments: number, 
/**
 * A run that picked up where a killed or cancelled one stopped.
 */
resumed: boolean, cancelled: boolean, };

export type CursorReport = { 
/**
 * Events listed in the window (overlap included).
 */
read: number, new: number, duplicate: number, 
/**
 * The checkpoint before and after, Stripe seconds.
 */
from: number, to: number, warning: string | null, cancelled: boolean, };

export type SettleReport = { 
/**
 * Objects read from Stripe and written.
 */
confirmed: number, 
/**
 * Objects whose payloads were applied because Stripe could not be read; still dirty.
 */
from_payload: number, 
/**
 * Writes refused as older than what the store holds.
 */
stale: number, 
/**
 * Objects Stripe says do not exist.
 */
gone: number, 
/**
 * Still dirty after this run.
 */
remaining: number, 
/**
 * Reads of one object each (`GET /v1/subscriptions/sub_…`).
 */
object_reads: number, 
/**
 * Pages of Stripe's lists read instead, when a kind's dirty set was large enough that
 * listing cost fewer requests (see [`Sweep`]).
 */
list_pages: number, 
/**
 * Objects confirmed from those lists.
 */
by_list: number, 
/**
 * Why Stripe could not be read, when it could not.
 */
offline: string | null, };

export type SyncState = { 
/**
 * The events cursor's checkpoint (Stripe seconds); None before the first full sync.
 */
checkpoint: number | null, 
/**
 * When the cursor last moved (this machine's seconds).
 */
last_sync_at: number | null, 
/**
 * A backfill stopped half-way (killed or cancelled) that the next run resumes.
 */
backfill_pending: boolean, events: number, dirty: number, organizations: number, subscriptions: number, issues: Array<SyncIssue>, };

export type SyncIssue = { object_id: string, kind: string, detail: string, event_id: string | null, last_seen: number, };

export type SubscriptionQuery = { status: string | null, tier: string | null, interval: string | null, currency: string | null, 
/**
 * Name, email or any Stripe id, case-insensitive.
 */
search: string | null, 
/**
 * A column of [`SubscriptionRow`]; `org_name` when absent.
 */
sort: string | null, desc: boolean, offset: number, 
/**
 * At most 1,000; 100 when 0.
 */
limit: number, };

export type SubscriptionRow = { subscription_id: string, customer_id: string, org_id: string | null, org_name: string | null, email: string | null, price_id: string | null, tier: string | null, plan_type: string | null, interval: string | null, amount: number | null, currency: string | null, status: string, current_period_end: number | null, cancel_at_period_end: boolean, created: number, 
/**
 * Waiting for a read from Stripe to confirm a payload applied offline.
 */
unconfirmed: boolean, 
/**
 * The organization's active entitlement lookup keys.
 */
entitlements: Array<string>, };

export type SubscriptionPage = { rows: Array<SubscriptionRow>, total: number, offset: number, };

export type AccessQuery = { status: string | null, plan: string | null, 
/**
 * Some(true): only rows that ended; Some(false): only running ones.
 */
ended: boolean | null, search: string | null, offset: number, limit: number, };

export type AccessRow = { org_id: string, org_name: string, plan_id: string, 
/**
 * The plan's lookup key or nickname, when the catalog knows it.
 */
plan_label: string | null, status: string, started_at: number, ended_at: number | null, subscription_id: string | null, source: string, 
/**
 * Why a manual grant or revoke was made.
 */
override_reason: string | null, };

export type AccessPage = { rows: Array<AccessRow>, total: number, 
/**
 * Rows per status over the whole store (not the filter).
 */
counts: Record<string, number>, };

export type AccessHistoryRow = { plan_id: string, 
/**
 * None: the row was removed (nothing gives access to that plan any more).
 */
status: string | null, ended_at: number | null, source: string | null, cause: string | null, at: number, };

export type TimelineRow = { at: number, 
/**
 * `change` (a state change the processor wrote) or `event` (a ledger entry).
 */
kind: string, subscription_id: string | null, title: string, event_id: string | null, };

export type Entitlement = { lookup_key: string, 
/**
 * `stripe` (Stripe's active entitlements), `plan` (a feature of an ACTIVE plan), or both.
 */
sources: Array<string>, };

export type OrgDetail = { org_id: string, name: string, email: string | null, customer_ids: Array<string>, 
/**
 * The metadata key that named the organization; None: the customer is the organization.
 */
org_key: string | null, subscriptions: Array<SubscriptionRow>, access: Array<AccessRow>, history: Array<AccessHistoryRow>, timeline: Array<TimelineRow>, entitlements: Array<Entitlement>, 
/**
 * The `entitlements` claim an access token for this organization would carry.
 */
claim: Array<string>, };

export type AccessAction = "grant" | "revoke" | "clear";

export type DriftReport = { checked_subscriptions: number, items: Array<DriftItem>, };

export type DriftItem = { org_id: string | null, org_name: string | null, 
/**
 * The subscription (or, for access, the plan) that differs.
 */
object_id: string, 
/**
 * `status`, `price`, `missing_in_store`, `missing_in_stripe` or `access`.
 */
field: string, store: string | null, stripe: string | null, };

export type ReceiverStatus = { running: boolean, url: string | null, secrets: number, stats: ReceiverStats | null, };

export type ReceiverStats = { received: number, recorded: number, duplicates: number, rejected: number, failed: number, 
/**
 * The last rejection or failure, for the screen.
 */
last_error: string | null, 
/**
 * Runs of the settle task the receiver wakes (reads of what events touched).
 */
settle_runs: number, 
/**
 * Settle runs that failed (the store or Stripe refused; retried on the next run).
 */
settle_failures: number, 
/**
 * Panics caught in the receiver or the settle task (each also a sync issue).
 */
panics: number, settle_last_error: string | null, 
/**
 * Stripe's rate limit as this process keeps it (settle's reads wait their turn there).
 */
stripe_rate?: RateStatus, };

export type RateStatus = { 
/**
 * Requests a second Tollgate allows itself; 0 when unlimited.
 */
limit_per_second: number, 
/**
 * Requests sent to Stripe by this process.
 */
requests: number, 
/**
 * Requests that waited for their turn under the limit.
 */
throttled: number, 
/**
 * Answers of 429 from Stripe (each followed by a backoff of the whole limiter).
 */
rate_limited: number, 
/**
 * Until when (Unix ms) every request waits after a 429; absent when not paused.
 */
paused_until_ms?: number, };

export type CommissionQuery = { from: string, to: string, period: Period, group_by: Array<Dim>, currency: string | null, tier: string | null, plan_type: string | null, 
/**
 * An organization id.
 */
expert: string | null, 
/**
 * Only the rows whose charge differs from the rate (the "flagged rows" view).
 */
flagged_only: boolean, };

export type CommissionReport = { time_zone: string, from: string, to: string, period: Period, group_by: Array<Dim>, groups: Array<CommissionGroup>, 
/**
 * How many groups the report has: more than `groups` holds when the screen asked for the
 * first ones only.
 */
groups_total: number, 
/**
 * One per currency.
 */
totals: Array<CommissionGroup>, 
/**
 * Where the numbers came from: "daily rollups", "monthly expert rollups" or "ledger rows".
 */
source: string, elapsed_us: number, };

export type CommissionView = { report: CommissionReport, chart: CommissionReport, };

export type CommissionGroup = { period: string | null, tier: string | null, plan_type: string | null, 
/**
 * Organization id (None: the expert's account maps to no organization).
 */
expert: string | null, expert_name: string | null, currency: string, 
/**
 * Appointment charges, and refunds, in the group.
 */
charges: number, refunds: number, 
/**
 * Minor units, net of refunds.
 */
gross: number, 
/**
 * What was charged (application fees), net of refunds.
 */
commission: number, 
/**
 * What the rates imply, over the rows that have a rate.
 */
implied: number, 
/**
 * Rows without a rate.
 */
unrated: number, 
/**
 * Rows whose charge differs from the rate (or that have none).
 */
flagged: number, 
/**
 * commission / gross in basis points, half-up; None when gross is 0.
 */
effective_bps: number | null, 
/**
 * The first and last local day with rows in the group: its drill-down is the same query
 * over these days and the group's key.
 */
first_day: string | null, last_day: string | null, };

export type CommissionRow = { id: string, 
/**
 * charge or refund
 */
kind: string, charge_id: string, org_id: string | null, org_name: string | null, expert_account_id: string | null, plan_type: string, tier: string, currency: string, gross: number, commission: number, implied: number | null, rate_bps: number | null, flagged: boolean, payment_intent_id: string | null, transfer_id: string | null, occurred_at: number, local_day: string, };

export type CommissionRowsPage = { total: number, rows: Array<CommissionRow>, };

export type Period = "day" | "week" | "month" | "quarter";

export type Dim = "period" | "tier" | "plan_type" | "expert" | "currency";

export type RateRow = { id: number, plan_type: string, tier: string, rate_bps: number, effective_from: number, effective_to: number | null, source: string, note: string | null, };

export type RateInput = { plan_type: string, tier: string, 
/**
 * A percentage with up to two decimals ("12", "8.5").
 */
rate: string, from: string, to: string | null, note: string | null, };

export type ExportResult = { path: string, rows: number, cancelled: boolean, };

export type TimeZoneChange = { time_zone: string, moved: number, };

export type Overview = { time_zone: string, 
/**
 * The months of every trend, oldest first: `2025-12` … `2026-11`.
 */
months: Array<string>, 
/**
 * MRR per currency (all tiers), and per currency and tier. ARR is twelve times MRR.
 */
mrr: Array<MoneyTrend>, mrr_by_tier: Array<MoneyTrend>, 
/**
 * active, trialing, past_due, canceled: how many now, and at each month's end (ended is
 * canceled; else the status the store recorded then, from the subscription's status
 * changes; without any, in its trial, else its status now, active for a past-due one).
 */
statuses: Array<CountTrend>, 
/**
 * Subscriptions started and ended in each month.
 */
new_subscriptions: CountTrend, churned_subscriptions: CountTrend, 
/**
 * MRR of past-due and unpaid subscriptions, per currency, at each month's end.
 */
past_due_at_risk: Array<MoneyTrend>, commissions: Array<CommissionMonths>, 
/**
 * Subscriptions left out of MRR: no flat amount, or an interval that cannot be spread.
 */
unpriced: number, elapsed_us: number, };

export type MoneyTrend = { currency: string, 
/**
 * Present when the figure is per tier.
 */
tier: string | null, value: number, trend: number[], };

export type CountTrend = { label: string, value: number, trend: number[], };

export type CommissionMonths = { currency: string, this_month: number, last_month: number, trend: number[], };

export type EventKind = { 
/**
 * What `tollgate trigger` takes: the event type, with `:variant` where one type has two
 * shapes (`checkout.session.completed:payment`).
 */
name: string, 
/**
 * The event's `type`.
 */
event_type: string, 
/**
 * The resource of `data.object` (its `object` name).
 */
resource: string, summary: string, 
/**
 * Sent because of an API request (carries `request.id`), not by Stripe on its own.
 */
from_request: boolean, };

export type ScenarioInfo = { name: string, summary: string, };

export type SubjectChoice = { org_id: string, org_name: string, customer_id: string, subscription_id: string | null, status: string | null, tier: string | null, };

export type Subject = { 
/**
 * True when nothing came from the store: every id is generated.
 */
generated: boolean, org_id: string, org_name: string, 
/**
 * The customer metadata key that names the organization.
 */
org_key: string, customer_id: string, email: string | null, customer_name: string | null, customer_created: number, 
/**
 * The organization's subscription (its best one: active first), or a generated id.
 */
subscription_id: string, 
/**
 * False when the organization has no subscription in the store.
 */
subscription_known: boolean, status: string, subscription_created: number, period_start: number, period_end: number, trial_end: number | null, cancel_at_period_end: boolean, quantity: number, price: PriceFacts, 
/**
 * The Top price of the same interval and currency (the upgrade story's target).
 */
upgrade: PriceFacts | null, 
/**
 * The latest invoice the store saw in an event for this subscription.
 */
invoice_id: string | null, 
/**
 * The expert (connected account) the organization last paid, with that charge.
 */
expert_account: string | null, last_charge: string | null, 
/**
 * Entitlement features (id, lookup key) the customer holds.
 */
features: Array<[string, string]>, };

export type PriceFacts = { id: string, product_id: string, product_name: string, lookup_key: string | null, nickname: string | null, unit_amount: number, currency: string, 
/**
 * `month`, `year`, …; `None` for a one-time price.
 */
interval: string | null, interval_count: number, tier: string | null, 
/**
 * JSON object.
 */
metadata: string, created: number, };

export type BuiltEvent = { kind: EventKind, subject: Subject, 
/**
 * The event, pretty-printed: what the screen shows and lets you edit.
 */
body: string, };

export type DeliveryOptions = { 
/**
 * The endpoint; none: the app's running receiver, else `http://127.0.0.1:4242/webhook`.
 */
to?: string, mode: SigningMode, 
/**
 * Milliseconds to wait for an answer (default 10,000).
 */
timeout_ms?: number, 
/**
 * Retries of a non-2xx answer or of no answer (default 0: shown, not retried).
 */
retries: number, };

export type ScenarioInput = { name: string, org?: string, 
/**
 * For `out-of-order`: the story to reverse (default renewal-failed-then-recovered).
 */
of?: string, 
/**
 * For `duplicate` and `burst`: the event type (default invoice.paid).
 */
kind?: string, 
/**
 * For `burst`: how many events (default 100) and how many at once (default 16).
 */
count?: number, concurrency?: number, delivery: DeliveryOptions, };

export type RunResult = { run_id: string, scenario: string | null, url: string, mode: SigningMode, 
/**
 * Events sent (steps).
 */
events: number, 
/**
 * Attempts made (events plus retries).
 */
attempts: number, 
/**
 * Attempts answered 2xx.
 */
ok: number, 
/**
 * Events whose last attempt got the answer a correct endpoint gives (2xx to a valid
 * signature, 4xx to any other mode).
 */
as_expected: number, outcomes: Array<OutcomeCount>, latency_p50_us: number | null, latency_p95_us: number | null, elapsed_ms: number, 
/**
 * Events per second over the whole run.
 */
per_second: number, 
/**
 * The first attempts in step order (all of them for a story); the history has every one.
 */
deliveries: Array<Delivery>, cancelled: boolean, };

export type OutcomeCount = { outcome: Outcome, attempts: number, };

export type SigningMode = "valid" | "wrong-secret" | "stale" | "unsigned" | "tampered";

export type Outcome = "ok" | "redirect" | "client_error" | "server_error" | "timeout" | "unreachable" | "error";

export type Delivery = { id: number, 
/**
 * Groups the deliveries of one send, scenario or burst.
 */
run_id: string, scenario: string | null, 
/**
 * The step within the scenario (0 for a single send).
 */
step: number, 
/**
 * 1 for the first try, then each retry asked for.
 */
attempt: number, 
/**
 * The delivery this one replayed.
 */
replay_of: number | null, url: string, event_id: string, event_type: string, org_id: string | null, mode: SigningMode, 
/**
 * The headers sent, in order.
 */
request_headers: Array<[string, string]>, 
/**
 * The exact body sent.
 */
body: string, outcome: Outcome, http_status: number | null, response_headers: Array<[string, string]>, 
/**
 * The first [`deliver::MAX_RESPONSE_BODY`] bytes of the answer.
 */
response_body: string | null, response_truncated: boolean, 
/**
 * Why there was no answer (timeout, refused, DNS), or what the answer means.
 */
error: string | null, latency_us: number | null, 
/**
 * Local milliseconds when the request left.
 */
sent_at_ms: number, 
/**
 * Whether the endpoint answered as a correct one would: 2xx for a validly signed event,
 * 4xx for any other mode.
 */
as_expected: boolean, };

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

  /** The plans from the store; with `refresh`, read from Stripe first (the store's copy and */
  /** the reason if Stripe cannot be read). `op` names the operation for progress. */
  catalog: (refresh: boolean, op?: string | null): Promise<Catalog> => invoke<Catalog>("catalog", { refresh, op }),

  /** Creates a price in Stripe (the form's `request_id` makes a double click one price). */
  price_create: (input: NewPrice, confirm?: string | null): Promise<CreatedPrice> => invoke<CreatedPrice>("price_create", { input, confirm }),

  /** Checks a lookup key against the convention and reads back its parts. */
  lookup_key_parse: (lookup_key: string): Promise<LookupKeyParts> => invoke<LookupKeyParts>("lookup_key_parse", { lookup_key }),

  /** The dry run of a lookup-key map (JSON text) against Stripe now. */
  lookup_keys_plan: (map: string, op?: string | null): Promise<MapPlan> => invoke<MapPlan>("lookup_keys_plan", { map, op }),

  /** Applies a lookup-key map; refuses one with conflicts. Progress under `op`. */
  lookup_keys_apply: (map: string, op?: string | null, confirm?: string | null): Promise<ApplyReport> => invoke<ApplyReport>("lookup_keys_apply", { map, op, confirm }),

  /** Checks expected keys (JSON text) at Stripe: green or red per key. */
  lookup_keys_verify: (expected: string): Promise<VerifyReport> => invoke<VerifyReport>("lookup_keys_verify", { expected }),

  /** Resolves lookup keys through the cached resolver. */
  lookup_keys_resolve: (keys: Array<string>): Promise<ResolveResult> => invoke<ResolveResult>("lookup_keys_resolve", { keys }),

  /** The resolver's counters: hits, misses, API calls. */
  resolver_stats: (): Promise<ResolverStats> => invoke<ResolverStats>("resolver_stats", {}),

  /** Attaches or detaches an entitlement feature on a product in Stripe. */
  product_feature_set: (product: string, feature: string, attach: boolean, confirm?: string | null): Promise<Catalog> => invoke<Catalog>("product_feature_set", { product, feature, attach, confirm }),

  /** The audit log, newest first; `before` pages back from an entry id. */
  activity: (limit: number, before?: number | null): Promise<Array<AuditEntry>> => invoke<Array<AuditEntry>>("activity", { limit, before }),

  /** Backfill (when `full`, or before the first sync), the events cursor, then reads of what */
  /** the events touched. Progress under `op`; waits for a sync already running. */
  sync: (full: boolean, op?: string | null): Promise<SyncReport> => invoke<SyncReport>("sync", { full, op }),

  /** The sync engine's checkpoint, counts and open issues. */
  sync_state: (): Promise<SyncState> => invoke<SyncState>("sync_state", {}),

  /** One filtered, sorted page of organizations' subscriptions from the store. */
  subscriptions: (query: SubscriptionQuery): Promise<SubscriptionPage> => invoke<SubscriptionPage>("subscriptions", { query }),

  /** Writes every row the filter matches as CSV to the downloads folder; returns the path. */
  subscriptions_export: (query: SubscriptionQuery): Promise<string> => invoke<string>("subscriptions_export", { query }),

  /** The finance overview: MRR/ARR, statuses, new and churned, at risk, commissions. */
  overview: (): Promise<Overview> => invoke<Overview>("overview", {}),

  /** A commission report (the period in the reports' time zone, grouped as asked) and its */
  /** chart by period and tier under the same filters; with `first_groups`, the report's */
  /** first groups only (`groups_total` counts them all). */
  commission_view: (query: CommissionQuery, first_groups?: number | null): Promise<CommissionView> => invoke<CommissionView>("commission_view", { query, first_groups }),

  /** The ledger rows behind a report or one of its groups, oldest first. */
  commission_rows: (query: CommissionQuery, offset: number, limit: number): Promise<CommissionRowsPage> => invoke<CommissionRowsPage>("commission_rows", { query, offset, limit }),

  /** Writes every ledger row behind the query as CSV to the downloads folder, with progress. */
  commissions_export: (query: CommissionQuery, op?: string | null): Promise<ExportResult> => invoke<ExportResult>("commissions_export", { query, op }),

  /** The time zone reports bucket days in. */
  report_time_zone: (): Promise<string> => invoke<string>("report_time_zone", {}),

  /** Sets the reports' time zone (every row's day is computed again); returns rows moved. */
  set_report_time_zone: (zone: string): Promise<TimeZoneChange> => invoke<TimeZoneChange>("set_report_time_zone", { zone }),

  /** Every commission rate, with the days it covers. */
  commission_rates: (): Promise<Array<RateRow>> => invoke<Array<RateRow>>("commission_rates", {}),

  /** Adds a rate; refused when it overlaps another of the same plan type and tier. */
  commission_rate_add: (input: RateInput): Promise<RateRow> => invoke<RateRow>("commission_rate_add", { input }),

  /** Ends a rate at the start of a day. */
  commission_rate_end: (id: number, at: string): Promise<RateRow> => invoke<RateRow>("commission_rate_end", { id, at }),

  /** An organization: subscriptions, access and its history, timeline, entitlements, claim. */
  org_detail: (org: string): Promise<OrgDetail> => invoke<OrgDetail>("org_detail", { org }),

  /** One filtered page of PlatformAccess rows, with counts per status. */
  access: (query: AccessQuery): Promise<AccessPage> => invoke<AccessPage>("access", { query }),

  /** A manual grant or revoke (or clearing one) with its reason, written to the audit log. */
  access_override: (org: string, plan: string, action: AccessAction, reason: string): Promise<OrgDetail> => invoke<OrgDetail>("access_override", { org, plan, action, reason }),

  /** Compares the store with Stripe now; progress under `op`. */
  access_drift: (op?: string | null): Promise<DriftReport> => invoke<DriftReport>("access_drift", { op }),

  /** Reads an organization's customers and subscriptions from Stripe again. */
  resync_org: (org: string): Promise<OrgDetail> => invoke<OrgDetail>("resync_org", { org }),

  /** Starts the webhook receiver on 127.0.0.1:`port` (restarts it if running). */
  receiver_start: (port: number): Promise<ReceiverStatus> => invoke<ReceiverStatus>("receiver_start", { port }),

  /** Stops the webhook receiver. */
  receiver_stop: (): Promise<ReceiverStatus> => invoke<ReceiverStatus>("receiver_stop", {}),

  /** Whether the receiver runs, where, and what it has received. */
  receiver_status: (): Promise<ReceiverStatus> => invoke<ReceiverStatus>("receiver_status", {}),

  /** The test-fire catalog: every event type it builds. */
  testfire_catalog: (): Promise<Array<EventKind>> => invoke<Array<EventKind>>("testfire_catalog", {}),

  /** The scenarios: Stripe's stories, duplicate, out of order, burst. */
  testfire_scenarios: (): Promise<Array<ScenarioInfo>> => invoke<Array<ScenarioInfo>>("testfire_scenarios", {}),

  /** Organizations to fill events from, by name, organization id or customer id. */
  testfire_choices: (search: string): Promise<Array<SubjectChoice>> => invoke<Array<SubjectChoice>>("testfire_choices", { search }),

  /** Where a delivery goes when none is named: the running receiver, else port 4242. */
  testfire_default_target: (): Promise<string> => invoke<string>("testfire_default_target", {}),

  /** Builds one event of `kind` for `org` (or one from the store), with `set` overrides. */
  testfire_build: (kind: string, set: Array<string>, org?: string | null): Promise<BuiltEvent> => invoke<BuiltEvent>("testfire_build", { kind, set, org }),

  /** Signs and sends a body as given (the edited preview); records every attempt. */
  testfire_send: (body: string, delivery: DeliveryOptions, org?: string | null): Promise<RunResult> => invoke<RunResult>("testfire_send", { body, delivery, org }),

  /** Runs a scenario, with progress under `op` (a burst can be cancelled). */
  testfire_scenario: (input: ScenarioInput, op?: string | null): Promise<RunResult> => invoke<RunResult>("testfire_scenario", { input, op }),

  /** Test-fired deliveries, newest first; `before` pages back from a delivery id. */
  testfire_history: (limit: number, before?: number | null): Promise<Array<Delivery>> => invoke<Array<Delivery>>("testfire_history", { limit, before }),

  /** One delivery: the exact request and what came back. */
  testfire_delivery: (id: number): Promise<Delivery> => invoke<Delivery>("testfire_delivery", { id }),

  /** Sends a past delivery again, byte for byte. */
  testfire_replay: (id: number): Promise<RunResult> => invoke<RunResult>("testfire_replay", { id }),

  /** Opens a Stripe Dashboard page in the default browser (no other address is opened). */
  open_dashboard: (url: string): Promise<void> => invoke<void>("open_dashboard", { url }),

  /** Progress of a running operation, by the id the UI gave it. */
  op_progress: (op: string): Promise<ProgressView | null> => invoke<ProgressView | null>("op_progress", { op }),

  /** Asks a running operation to stop between two steps. */
  op_cancel: (op: string): Promise<boolean> => invoke<boolean>("op_cancel", { op }),

  /** make bench's screen probe, `SCREEN[:INPUT]` (none normally): the screen to open and */
  /** measure, and what it types. */
  ui_probe: (): Promise<string | null> => invoke<string | null>("ui_probe", {}),

  /** The screen probe's figures (make bench); the app exits after printing them. */
  ui_probe_report: (report: string): Promise<void> => invoke<void>("ui_probe_report", { report }),

  /** Called by the UI once its first screen is on display (start-up figure for make bench). */
  ui_ready: (): Promise<void> => invoke<void>("ui_ready", {}),
};
