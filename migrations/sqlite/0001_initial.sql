-- Tollgate's mirror of Stripe, plus its own ledgers. Stripe is the source of truth; rows here are
-- written by the one event processor. Timestamps are Stripe's: UTC seconds. Money is integer
-- minor units plus a currency; rates are basis points. Flags are 0/1 integers in both dialects.

CREATE TABLE organizations (
    id                  TEXT PRIMARY KEY,            -- the platform's organization id (customer metadata organization_id)
    name                TEXT NOT NULL,
    email               TEXT,
    stripe_customer_id  TEXT UNIQUE,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE TABLE products (
    stripe_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    description   TEXT,
    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
    metadata      TEXT NOT NULL DEFAULT '{}',
    livemode      INTEGER NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    created       INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Plans: a Stripe price plus what the platform reads off it. Immutable in what is billed: a
-- change of amount, currency or interval is a new row (a new Stripe price), never an update.
CREATE TABLE prices (
    stripe_id            TEXT PRIMARY KEY,
    product_id           TEXT NOT NULL REFERENCES products (stripe_id),
    lookup_key           TEXT,
    nickname             TEXT,
    tier                 TEXT CHECK (tier IN ('community', 'top', 'lecturer', 'partner')),
    audience             TEXT CHECK (audience IN ('expert', 'partner', 'clinic')),
    plan_type            TEXT CHECK (plan_type IN ('commission', 'monthly', 'annual', 'one_time')),
    billing_interval     TEXT CHECK (billing_interval IN ('day', 'week', 'month', 'year')),
    interval_count       INTEGER,
    unit_amount          INTEGER CHECK (unit_amount >= 0),
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    commission_rate_bps  INTEGER CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    active               INTEGER NOT NULL CHECK (active IN (0, 1)),
    metadata             TEXT NOT NULL DEFAULT '{}',
    livemode             INTEGER NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    created              INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
-- Stripe keeps a lookup key on at most one price; so does the mirror.
CREATE UNIQUE INDEX prices_lookup_key ON prices (lookup_key) WHERE lookup_key IS NOT NULL;
CREATE INDEX prices_product ON prices (product_id);

CREATE TRIGGER prices_immutable BEFORE UPDATE OF unit_amount, currency, billing_interval, interval_count, product_id ON prices
WHEN OLD.unit_amount IS NOT NEW.unit_amount OR OLD.currency IS NOT NEW.currency
  OR OLD.billing_interval IS NOT NEW.billing_interval OR OLD.interval_count IS NOT NEW.interval_count
  OR OLD.product_id IS NOT NEW.product_id
BEGIN
    SELECT RAISE(ABORT, 'prices are immutable: a change of amount, currency, interval or product is a new price');
END;

CREATE TABLE entitlement_features (
    stripe_id   TEXT PRIMARY KEY,
    lookup_key  TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    metadata    TEXT NOT NULL DEFAULT '{}',
    livemode    INTEGER NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    updated_at  INTEGER NOT NULL
);

CREATE TABLE product_features (
    stripe_id   TEXT PRIMARY KEY,
    product_id  TEXT NOT NULL REFERENCES products (stripe_id),
    feature_id  TEXT NOT NULL REFERENCES entitlement_features (stripe_id),
    updated_at  INTEGER NOT NULL,
    UNIQUE (product_id, feature_id)
);

-- An organization's subscription (the subscription_plans fields of the lookup-key design).
CREATE TABLE org_subscriptions (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL UNIQUE REFERENCES organizations (id),
    stripe_subscription_id  TEXT UNIQUE,
    stripe_customer_id      TEXT,
    stripe_price_id         TEXT REFERENCES prices (stripe_id),
    plan_type               TEXT CHECK (plan_type IN ('commission', 'monthly', 'annual')),
    tier_level              TEXT CHECK (tier_level IN ('community', 'top')),
    billing_interval        TEXT CHECK (billing_interval IN ('month', 'year')),
    monthly_fee             INTEGER CHECK (monthly_fee >= 0),
    annual_fee              INTEGER CHECK (annual_fee >= 0),
    currency                TEXT CHECK (currency IS NULL OR length(currency) = 3),
    commission_rate_bps     INTEGER CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    subscription_status     TEXT CHECK (subscription_status IN
        ('trialing', 'active', 'past_due', 'unpaid', 'canceled', 'incomplete', 'incomplete_expired', 'paused')),
    current_period_start    INTEGER,
    current_period_end      INTEGER,
    cancel_at_period_end    INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    canceled_at             INTEGER,
    -- Ordering watermark: the `created` of the newest event applied, and the status rank it set.
    last_event_created      INTEGER,
    status_rank             INTEGER,
    -- Set when a payload was applied without Stripe confirming it; a refetch clears it.
    dirty                   INTEGER NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE INDEX org_subscriptions_status ON org_subscriptions (subscription_status);

-- The entitlement that gates the platform. ended_at NULL means lifetime (or still running).
CREATE TABLE platform_access (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organizations (id),
    plan_id                 TEXT NOT NULL REFERENCES prices (stripe_id),
    status                  TEXT NOT NULL CHECK (status IN ('ACTIVE', 'PAST_DUE', 'CANCELED')),
    started_at              INTEGER NOT NULL,
    ended_at                INTEGER,
    stripe_subscription_id  TEXT,
    updated_at              INTEGER NOT NULL,
    UNIQUE (org_id, plan_id),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX platform_access_status ON platform_access (status);
CREATE INDEX platform_access_subscription ON platform_access (stripe_subscription_id);

-- Commission on each appointment payment: an immutable snapshot at transaction time.
CREATE TABLE transaction_commissions (
    id                          TEXT PRIMARY KEY,
    org_id                      TEXT REFERENCES organizations (id),
    expert_account_id           TEXT,
    plan_type_at_transaction    TEXT CHECK (plan_type_at_transaction IN ('commission', 'monthly', 'annual')),
    tier_level_at_transaction   TEXT CHECK (tier_level_at_transaction IN ('community', 'top')),
    gross_amount                INTEGER NOT NULL CHECK (gross_amount >= 0),
    commission_rate             INTEGER NOT NULL CHECK (commission_rate BETWEEN 0 AND 10000),
    commission_amount           INTEGER NOT NULL CHECK (commission_amount >= 0),
    refunded_amount             INTEGER NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    currency                    TEXT NOT NULL CHECK (length(currency) = 3),
    stripe_payment_intent_id    TEXT UNIQUE,
    stripe_charge_id            TEXT,
    stripe_application_fee_id   TEXT,
    stripe_transfer_id          TEXT,
    occurred_at                 INTEGER NOT NULL,
    created_at                  INTEGER NOT NULL
);
CREATE INDEX transaction_commissions_occurred ON transaction_commissions (occurred_at);
CREATE INDEX transaction_commissions_org ON transaction_commissions (org_id);

-- Plan and status changes, for an organization's history.
CREATE TABLE subscription_events (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                  TEXT REFERENCES organizations (id),
    stripe_event_id         TEXT,
    stripe_subscription_id  TEXT,
    event_type              TEXT NOT NULL,
    previous_plan_type      TEXT,
    new_plan_type           TEXT,
    previous_tier           TEXT,
    new_tier                TEXT,
    previous_status         TEXT,
    new_status              TEXT,
    occurred_at             INTEGER NOT NULL,
    created_at              INTEGER NOT NULL
);
CREATE INDEX subscription_events_org ON subscription_events (org_id, occurred_at);

-- The processed-event ledger: an event id is applied once, in the same transaction as its effects.
CREATE TABLE stripe_events (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    created       INTEGER NOT NULL,
    livemode      INTEGER NOT NULL CHECK (livemode IN (0, 1)),
    api_version   TEXT,
    object_id     TEXT,
    source        TEXT NOT NULL CHECK (source IN ('backfill', 'cursor', 'webhook')),
    outcome       TEXT NOT NULL CHECK (outcome IN ('applied', 'ignored', 'stale')),
    processed_at  INTEGER NOT NULL
);
CREATE INDEX stripe_events_created ON stripe_events (created);

CREATE TABLE sync_cursors (
    name                TEXT PRIMARY KEY,
    last_event_created  INTEGER,
    last_event_id       TEXT,
    updated_at          INTEGER NOT NULL
);

-- Test-fired events and what each endpoint answered.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_url     TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    scenario         TEXT,
    signature        TEXT NOT NULL CHECK (signature IN ('valid', 'bad', 'stale', 'none')),
    attempt          INTEGER NOT NULL DEFAULT 1,
    http_status      INTEGER,
    response_excerpt TEXT,
    error            TEXT,
    duration_ms      INTEGER,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

-- Who did what, from this console. Never holds a secret: at most its masked form.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    environment  TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    detail       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
