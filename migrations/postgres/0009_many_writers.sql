-- Many processes, one store (#16): two desktop apps on one team Postgres, the CLI beside the
-- app. Every derived row gets its natural unique key, so a row learned twice is one row: rows
-- already doubled by concurrent runs are folded into their first copy here.

-- A subscription is created once; any other change is one row per (what changed, when).
DELETE FROM subscription_events WHERE change = 'created' AND id NOT IN (
    SELECT min(id) FROM subscription_events WHERE change = 'created' GROUP BY stripe_subscription_id);
DELETE FROM subscription_events WHERE id NOT IN (
    SELECT min(id) FROM subscription_events
    GROUP BY stripe_subscription_id, change, occurred_at, COALESCE(previous_status, ''), COALESCE(new_status, ''),
             COALESCE(previous_price, ''), COALESCE(new_price, ''));
CREATE UNIQUE INDEX subscription_events_created_once ON subscription_events (stripe_subscription_id) WHERE change = 'created';
CREATE UNIQUE INDEX subscription_events_once ON subscription_events (stripe_subscription_id, change, occurred_at,
    COALESCE(previous_status, ''), COALESCE(new_status, ''), COALESCE(previous_price, ''), COALESCE(new_price, ''));

-- An access change an event caused is one row per (organization, plan, event, outcome), however
-- often the event is learned. Changes without an event (a backfill, a manual override) are kept
-- as they come: the store's write lock already makes each such change one row, and a key with
-- their time in it could drop a real A -> B -> A within one second.
DELETE FROM platform_access_history WHERE cause LIKE 'evt%' AND id NOT IN (
    SELECT min(id) FROM platform_access_history WHERE cause LIKE 'evt%'
    GROUP BY org_id, plan_id, cause, COALESCE(status, ''), COALESCE(ended_at, -1), COALESCE(source, ''));
CREATE UNIQUE INDEX platform_access_history_once ON platform_access_history (org_id, plan_id, cause,
    COALESCE(status, ''), COALESCE(ended_at, -1), COALESCE(source, '')) WHERE cause LIKE 'evt%';

-- Rates of one plan type and tier never overlap, so two cannot start at the same moment (two
-- processes seeding the same rate from price metadata).
DELETE FROM commission_rates WHERE id NOT IN (
    SELECT min(id) FROM commission_rates GROUP BY plan_type, tier, effective_from);
CREATE UNIQUE INDEX commission_rates_once ON commission_rates (plan_type, tier, effective_from);

-- Runs that would only duplicate each other's work (a backfill and the events cursor: `sync`;
-- reading changed objects: `settle`) hold a lease: the second waits, and says whose it is.
-- On SQLite the row is the lock (freed when its holder's process is gone or its heartbeat is
-- older than 30 s); on Postgres an advisory lock is, and the row says who holds it.
CREATE TABLE sync_leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           BIGINT NOT NULL,
    token         TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
