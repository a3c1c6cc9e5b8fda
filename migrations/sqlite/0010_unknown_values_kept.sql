-- What Stripe adds is kept, not refused (#22): a subscription status this version does not
-- know (one Stripe adds next year) is stored as it came. 0003 allowed only today's eight, so
-- such a subscription could not be mirrored at all. SQLite cannot drop a CHECK: the table is
-- rebuilt as it was (rowids kept, for the full-text index), with its indexes and triggers.
CREATE TABLE org_subscriptions_v10 (
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
    interval_count          INTEGER,
    amount                  BIGINT,
    currency                TEXT,
    commission_rate_bps     INTEGER,
    -- Stripe's status as it came: today's eight, or one this version does not know yet.
    subscription_status     TEXT NOT NULL CHECK (length(subscription_status) BETWEEN 1 AND 64),
    status_rank             INTEGER NOT NULL,
    current_period_start    BIGINT,
    current_period_end      BIGINT,
    cancel_at_period_end    INTEGER NOT NULL DEFAULT 0 CHECK (cancel_at_period_end IN (0, 1)),
    canceled_at             BIGINT,
    ended_at                BIGINT,
    trial_end               BIGINT,
    start_date              BIGINT NOT NULL,
    created                 BIGINT NOT NULL,
    metadata                TEXT NOT NULL DEFAULT '{}',
    livemode                INTEGER NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    search                  TEXT NOT NULL,
    confirmed               INTEGER NOT NULL CHECK (confirmed IN (0, 1)),
    watermark               BIGINT NOT NULL,
    fetched_ms              BIGINT,
    updated_at              BIGINT NOT NULL
);
INSERT INTO org_subscriptions_v10 (rowid, stripe_subscription_id, stripe_customer_id, org_id, org_name, email, stripe_price_id, stripe_product_id, items, tier, plan_type, billing_interval, interval_count, amount, currency, commission_rate_bps, subscription_status, status_rank, current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end, start_date, created, metadata, livemode, search, confirmed, watermark, fetched_ms, updated_at)
    SELECT rowid, stripe_subscription_id, stripe_customer_id, org_id, org_name, email, stripe_price_id, stripe_product_id, items, tier, plan_type, billing_interval, interval_count, amount, currency, commission_rate_bps, subscription_status, status_rank, current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end, start_date, created, metadata, livemode, search, confirmed, watermark, fetched_ms, updated_at FROM org_subscriptions;
DROP TABLE org_subscriptions;
ALTER TABLE org_subscriptions_v10 RENAME TO org_subscriptions;
CREATE INDEX org_subscriptions_org ON org_subscriptions (org_id);
CREATE INDEX org_subscriptions_customer ON org_subscriptions (stripe_customer_id);
CREATE INDEX org_subscriptions_plan ON org_subscriptions (tier, billing_interval, currency, subscription_status);
CREATE INDEX org_subscriptions_search ON org_subscriptions (search, stripe_subscription_id);
CREATE INDEX org_subscriptions_by_name ON org_subscriptions (org_name, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_email ON org_subscriptions (email, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_amount ON org_subscriptions (amount, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_period_end ON org_subscriptions (current_period_end, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_created ON org_subscriptions (created, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_id ON org_subscriptions (stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_status ON org_subscriptions (subscription_status, org_name, stripe_subscription_id, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_tier ON org_subscriptions (tier, org_name, stripe_subscription_id, subscription_status, billing_interval, currency);
CREATE INDEX org_subscriptions_by_interval ON org_subscriptions (billing_interval, org_name, stripe_subscription_id, subscription_status, tier, currency);
CREATE TRIGGER org_subscriptions_fts_insert AFTER INSERT ON org_subscriptions BEGIN
    INSERT INTO org_subscriptions_fts (rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER org_subscriptions_fts_delete AFTER DELETE ON org_subscriptions BEGIN
    INSERT INTO org_subscriptions_fts (org_subscriptions_fts, rowid, search) VALUES ('delete', old.rowid, old.search);
END;
CREATE TRIGGER org_subscriptions_fts_update AFTER UPDATE OF search ON org_subscriptions BEGIN
    INSERT INTO org_subscriptions_fts (org_subscriptions_fts, rowid, search) VALUES ('delete', old.rowid, old.search);
    INSERT INTO org_subscriptions_fts (rowid, search) VALUES (new.rowid, new.search);
END;
INSERT INTO org_subscriptions_fts (org_subscriptions_fts) VALUES ('rebuild');
