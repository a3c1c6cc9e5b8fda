-- Tollgate's mirror of Stripe, plus its own ledgers. Stripe is the source of truth; rows here are
-- written by the one event processor. Timestamps are Stripe's: UTC seconds. Money is integer
-- minor units plus a currency; rates are basis points. Flags are 0/1 integers in both dialects.

CREATE TABLE organizations (
    id                  TEXT PRIMARY KEY,            -- the platform's organization id (customer metadata organization_id)
    name                TEXT NOT NULL,
    email               TEXT,
    stripe_customer_id  TEXT UNIQUE,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE products (
    stripe_id     TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    description   TEXT,
    active        BIGINT NOT NULL CHECK (active IN (0, 1)),
    metadata      TEXT NOT NULL DEFAULT '{}',
    livemode      BIGINT NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    created       BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
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
    interval_count       BIGINT,
    unit_amount          BIGINT CHECK (unit_amount >= 0),
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    commission_rate_bps  BIGINT CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    active               BIGINT NOT NULL CHECK (active IN (0, 1)),
    metadata             TEXT NOT NULL DEFAULT '{}',
    livemode             BIGINT NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    created              BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
-- Stripe keeps a lookup key on at most one price; so does the mirror.
CREATE UNIQUE INDEX prices_lookup_key ON prices (lookup_key) WHERE lookup_key IS NOT NULL;
CREATE INDEX prices_product ON prices (product_id);

CREATE FUNCTION prices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.unit_amount IS DISTINCT FROM NEW.unit_amount OR OLD.currency IS DISTINCT FROM NEW.currency
       OR OLD.billing_interval IS DISTINCT FROM NEW.billing_interval
       OR OLD.interval_count IS DISTINCT FROM NEW.interval_count
       OR OLD.product_id IS DISTINCT FROM NEW.product_id THEN
        RAISE EXCEPTION 'prices are immutable: a change of amount, currency, interval or product is a new price';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER prices_immutable BEFORE UPDATE ON prices FOR EACH ROW EXECUTE FUNCTION prices_immutable();

CREATE TABLE entitlement_features (
    stripe_id   TEXT PRIMARY KEY,
    lookup_key  TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    active      BIGINT NOT NULL CHECK (active IN (0, 1)),
    metadata    TEXT NOT NULL DEFAULT '{}',
    livemode    BIGINT NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    updated_at  BIGINT NOT NULL
);

CREATE TABLE product_features (
    stripe_id   TEXT PRIMARY KEY,
    product_id  TEXT NOT NULL REFERENCES products (stripe_id),
    feature_id  TEXT NOT NULL REFERENCES entitlement_features (stripe_id),
    updated_at  BIGINT NOT NULL,
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
    monthly_fee             BIGINT CHECK (monthly_fee >= 0),
    annual_fee              BIGINT CHECK (annual_fee >= 0),
    currency                TEXT CHECK (currency IS NULL OR length(currency) = 3),
    commission_rate_bps     BIGINT CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    subscription_status     TEXT CHECK (subscription_status IN
        ('trialing', 'active', 'past_due', 'unpaid', 'canceled', 'incomplete', 'incomplete_expired', 'paused')),
    current_period_start    BIGINT,
    current_period_end      BIGINT,
    cancel_at_period_end    BIGINT NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    canceled_at             BIGINT,
    -- Ordering watermark: the `created` of the newest event applied, and the status rank it set.
    last_event_created      BIGINT,
    status_rank             BIGINT,
    -- Set when a payload was applied without Stripe confirming it; a refetch clears it.
    dirty                   BIGINT NOT NULL DEFAULT 0 CHECK (dirty IN (0, 1)),
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX org_subscriptions_status ON org_subscriptions (subscription_status);

-- The entitlement that gates the platform. ended_at NULL means lifetime (or still running).
CREATE TABLE platform_access (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organizations (id),
    plan_id                 TEXT NOT NULL REFERENCES prices (stripe_id),
    status                  TEXT NOT NULL CHECK (status IN ('ACTIVE', 'PAST_DUE', 'CANCELED')),
    started_at              BIGINT NOT NULL,
    ended_at                BIGINT,
    stripe_subscription_id  TEXT,
    updated_at              BIGINT NOT NULL,
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
    gross_amount                BIGINT NOT NULL CHECK (gross_amount >= 0),
    commission_rate             BIGINT NOT NULL CHECK (commission_rate BETWEEN 0 AND 10000),
    commission_amount           BIGINT NOT NULL CHECK (commission_amount >= 0),
    refunded_amount             BIGINT NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    currency                    TEXT NOT NULL CHECK (length(currency) = 3),
    stripe_payment_intent_id    TEXT UNIQUE,
    stripe_charge_id            TEXT,
    stripe_application_fee_id   TEXT,
    stripe_transfer_id          TEXT,
    occurred_at                 BIGINT NOT NULL,
    created_at                  BIGINT NOT NULL
);
CREATE INDEX transaction_commissions_occurred ON transaction_commissions (occurred_at);
CREATE INDEX transaction_commissions_org ON transaction_commissions (org_id);

-- Plan and status changes, for an organization's history.
CREATE TABLE subscription_events (
    id                      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    occurred_at             BIGINT NOT NULL,
    created_at              BIGINT NOT NULL
);
CREATE INDEX subscription_events_org ON subscription_events (org_id, occurred_at);

-- The processed-event ledger: an event id is applied once, in the same transaction as its effects.
CREATE TABLE stripe_events (
    event_id      TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    created       BIGINT NOT NULL,
    livemode      BIGINT NOT NULL CHECK (livemode IN (0, 1)),
    api_version   TEXT,
    object_id     TEXT,
    source        TEXT NOT NULL CHECK (source IN ('backfill', 'cursor', 'webhook')),
    outcome       TEXT NOT NULL CHECK (outcome IN ('applied', 'ignored', 'stale')),
    processed_at  BIGINT NOT NULL
);
CREATE INDEX stripe_events_created ON stripe_events (created);

CREATE TABLE sync_cursors (
    name                TEXT PRIMARY KEY,
    last_event_created  BIGINT,
    last_event_id       TEXT,
    updated_at          BIGINT NOT NULL
);

-- Test-fired events and what each endpoint answered.
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_url     TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    scenario         TEXT,
    signature        TEXT NOT NULL CHECK (signature IN ('valid', 'bad', 'stale', 'none')),
    attempt          BIGINT NOT NULL DEFAULT 1,
    http_status      BIGINT,
    response_excerpt TEXT,
    error            TEXT,
    duration_ms      BIGINT,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);

-- Who did what, from this console. Never holds a secret: at most its masked form.
CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    environment  TEXT NOT NULL CHECK (environment IN ('test', 'live')),
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    detail       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
