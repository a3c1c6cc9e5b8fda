-- The sync engine (#5). Stripe objects are mirrored by one event processor; PlatformAccess and
-- entitlements are functions of the mirrored rows. The tables 0001 sketched for this are
-- rebuilt: no release wrote to them.
--
-- Ordering columns, on every mirrored object:
--   confirmed   1 when the row is Stripe's own copy, read after the last recorded event for
--               the object; 0 when it came from an event payload while Stripe was unreachable.
--   watermark   Stripe seconds: the newest event `created` the row reflects.
--   fetched_ms  local milliseconds of the read that produced a confirmed row, so an older read
--               (a backfill page) never overwrites a newer one (a refetch).

DROP TABLE subscription_events;
DROP TABLE platform_access;
DROP TABLE org_subscriptions;
DROP TABLE stripe_events;

-- Which customer metadata key named the organization; NULL: the customer carried none and the
-- organization is the customer itself.
ALTER TABLE organizations ADD COLUMN org_key TEXT;

CREATE TABLE customers (
    stripe_id   TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    name        TEXT,
    email       TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    deleted     BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    livemode    BIGINT NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    created     BIGINT NOT NULL,
    confirmed   BIGINT NOT NULL CHECK (confirmed IN (0, 1)),
    watermark   BIGINT NOT NULL,
    fetched_ms  BIGINT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX customers_org ON customers (org_id);

-- One row per Stripe subscription, with what the Subscriptions screen shows denormalized so a
-- filtered, sorted page over 100,000 rows is an index walk. org_id NULL: the customer is not
-- (yet) known; such rows are reported, never dropped.
CREATE TABLE org_subscriptions (
    stripe_subscription_id  TEXT PRIMARY KEY,
    stripe_customer_id      TEXT NOT NULL,
    org_id                  TEXT REFERENCES organizations (id),
    org_name                TEXT,
    email                   TEXT,
    stripe_price_id         TEXT,
    stripe_product_id       TEXT,
    items                   TEXT NOT NULL DEFAULT '[]',
    tier                    TEXT,
    plan_type               TEXT,
    billing_interval        TEXT,
    interval_count          BIGINT,
    amount                  BIGINT,
    currency                TEXT,
    commission_rate_bps     BIGINT,
    subscription_status     TEXT NOT NULL CHECK (subscription_status IN
        ('trialing', 'active', 'past_due', 'unpaid', 'canceled', 'incomplete', 'incomplete_expired', 'paused')),
    status_rank             BIGINT NOT NULL,
    current_period_start    BIGINT,
    current_period_end      BIGINT,
    cancel_at_period_end    BIGINT NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    canceled_at             BIGINT,
    ended_at                BIGINT,
    trial_end               BIGINT,
    start_date              BIGINT NOT NULL,
    created                 BIGINT NOT NULL,
    metadata                TEXT NOT NULL DEFAULT '{}',
    livemode                BIGINT NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    search                  TEXT NOT NULL,
    confirmed               BIGINT NOT NULL CHECK (confirmed IN (0, 1)),
    watermark               BIGINT NOT NULL,
    fetched_ms              BIGINT,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX org_subscriptions_org ON org_subscriptions (org_id);
CREATE INDEX org_subscriptions_customer ON org_subscriptions (stripe_customer_id);
CREATE INDEX org_subscriptions_status ON org_subscriptions (subscription_status, org_name);
CREATE INDEX org_subscriptions_name ON org_subscriptions (org_name);
CREATE INDEX org_subscriptions_period_end ON org_subscriptions (current_period_end);
CREATE INDEX org_subscriptions_amount ON org_subscriptions (amount);
CREATE INDEX org_subscriptions_created ON org_subscriptions (created);

-- Completed one-time Checkout payments: lifetime access to the plan bought.
CREATE TABLE purchases (
    checkout_session_id  TEXT PRIMARY KEY,
    stripe_customer_id   TEXT NOT NULL,
    stripe_price_id      TEXT NOT NULL,
    amount               BIGINT,
    currency             TEXT,
    completed_at         BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX purchases_customer ON purchases (stripe_customer_id);

-- A customer's active entitlements as Stripe last reported them (summary events or a read).
CREATE TABLE customer_entitlements (
    stripe_customer_id  TEXT NOT NULL,
    feature_id          TEXT NOT NULL,
    lookup_key          TEXT NOT NULL,
    watermark           BIGINT NOT NULL,
    PRIMARY KEY (stripe_customer_id, feature_id)
);

-- The entitlement that gates the platform, one row per (org, plan), derived from current rows.
CREATE TABLE platform_access (
    org_id                  TEXT NOT NULL REFERENCES organizations (id),
    plan_id                 TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('ACTIVE', 'PAST_DUE', 'CANCELED')),
    started_at              BIGINT NOT NULL,
    ended_at                BIGINT,
    stripe_subscription_id  TEXT,
    source                  TEXT NOT NULL CHECK (source IN ('subscription', 'purchase', 'manual')),
    updated_at              BIGINT NOT NULL,
    PRIMARY KEY (org_id, plan_id),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX platform_access_status ON platform_access (status);
CREATE INDEX platform_access_subscription ON platform_access (stripe_subscription_id);

CREATE TABLE platform_access_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      TEXT NOT NULL,
    plan_id     TEXT NOT NULL,
    status      TEXT CHECK (status IS NULL OR status IN ('ACTIVE', 'PAST_DUE', 'CANCELED')),
    ended_at    BIGINT,
    source      TEXT,
    cause       TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX platform_access_history_org ON platform_access_history (org_id, id);

-- A manual grant (ACTIVE) or revoke (CANCELED) wins over what Stripe's state gives, until cleared.
CREATE TABLE access_overrides (
    org_id   TEXT NOT NULL REFERENCES organizations (id),
    plan_id  TEXT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('ACTIVE', 'CANCELED')),
    reason   TEXT NOT NULL CHECK (length(reason) > 0),
    actor    TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (org_id, plan_id)
);

-- What changed in an organization's subscriptions, and which event it followed.
CREATE TABLE subscription_events (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id                  TEXT,
    stripe_customer_id      TEXT NOT NULL,
    stripe_subscription_id  TEXT NOT NULL,
    stripe_event_id         TEXT,
    change                  TEXT NOT NULL CHECK (change IN ('created', 'status', 'plan', 'cancel_at_period_end')),
    previous_status         TEXT,
    new_status              TEXT,
    previous_price          TEXT,
    new_price               TEXT,
    occurred_at             BIGINT NOT NULL,
    recorded_at             BIGINT NOT NULL
);
CREATE INDEX subscription_events_customer ON subscription_events (stripe_customer_id, id);

-- The processed-event ledger: one row per event id, whatever the source; inserted in the same
-- transaction that marks what the event touches as dirty.
CREATE TABLE stripe_events (
    event_id         TEXT PRIMARY KEY,
    event_type       TEXT NOT NULL,
    created          BIGINT NOT NULL,
    livemode         BIGINT NOT NULL CHECK (livemode IN (0, 1)),
    api_version      TEXT,
    object_id        TEXT,
    customer_id      TEXT,
    subscription_id  TEXT,
    source           TEXT NOT NULL CHECK (source IN ('cursor', 'webhook', 'import')),
    outcome          TEXT NOT NULL CHECK (outcome IN ('recorded', 'ignored')),
    payload          TEXT NOT NULL,
    received_at      BIGINT NOT NULL
);
CREATE INDEX stripe_events_created ON stripe_events (created);
CREATE INDEX stripe_events_customer ON stripe_events (customer_id, created);
CREATE INDEX stripe_events_subscription ON stripe_events (subscription_id, created);

-- Objects an event touched that still await a read from Stripe. `generation` rises with each
-- event, so a read that began before a newer event does not clear the mark.
CREATE TABLE dirty_objects (
    object_id          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('subscription', 'customer', 'checkout_session', 'entitlements', 'catalog')),
    generation         BIGINT NOT NULL,
    last_event_id      TEXT,
    last_event_created BIGINT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    last_error         TEXT,
    marked_at          BIGINT NOT NULL,
    PRIMARY KEY (object_id, kind)
);

-- What the processor could not place: an event for a customer Stripe does not know, an object
-- it could not read. Reported in `tollgate sync status` and on the Access screen.
CREATE TABLE sync_issues (
    object_id    TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    event_id     TEXT,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL
);
