-- Plans as Stripe holds them: any tier or audience word (the lookup-key convention is not
-- closed), how the price bills (per unit, tiered, metered, custom amount), and the count of
-- active subscribers. SQLite cannot drop a CHECK, so the table is rebuilt (the tables that
-- reference prices are not written yet, so the drop finds nothing to check).

CREATE TABLE prices_v2 (
    stripe_id            TEXT PRIMARY KEY,
    product_id           TEXT NOT NULL REFERENCES products (stripe_id),
    lookup_key           TEXT,
    nickname             TEXT,
    tier                 TEXT,
    audience             TEXT,
    plan_type            TEXT,
    price_type           TEXT NOT NULL DEFAULT 'recurring' CHECK (price_type IN ('recurring', 'one_time')),
    billing_interval     TEXT CHECK (billing_interval IN ('day', 'week', 'month', 'year')),
    interval_count       INTEGER,
    usage_type           TEXT CHECK (usage_type IN ('licensed', 'metered')),
    billing_scheme       TEXT NOT NULL DEFAULT 'per_unit' CHECK (billing_scheme IN ('per_unit', 'tiered')),
    unit_amount          INTEGER CHECK (unit_amount >= 0),
    unit_amount_decimal  TEXT,
    tiers_mode           TEXT CHECK (tiers_mode IN ('graduated', 'volume')),
    tiers                TEXT,
    transform_divide_by  INTEGER,
    transform_round      TEXT CHECK (transform_round IN ('up', 'down')),
    custom_unit_amount   TEXT,
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    commission_rate_bps  INTEGER CHECK (commission_rate_bps BETWEEN 0 AND 10000),
    active               INTEGER NOT NULL CHECK (active IN (0, 1)),
    active_subscribers   INTEGER NOT NULL DEFAULT 0 CHECK (active_subscribers >= 0),
    metadata             TEXT NOT NULL DEFAULT '{}',
    livemode             INTEGER NOT NULL DEFAULT 0 CHECK (livemode IN (0, 1)),
    created              INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
INSERT INTO prices_v2 (stripe_id, product_id, lookup_key, nickname, tier, audience, plan_type,
    price_type, billing_interval, interval_count, unit_amount, currency, commission_rate_bps,
    active, metadata, livemode, created, updated_at)
SELECT stripe_id, product_id, lookup_key, nickname, tier, audience, plan_type,
    CASE WHEN billing_interval IS NULL THEN 'one_time' ELSE 'recurring' END,
    billing_interval, interval_count, unit_amount, currency, commission_rate_bps,
    active, metadata, livemode, created, updated_at
FROM prices;
DROP TABLE prices;
ALTER TABLE prices_v2 RENAME TO prices;

CREATE UNIQUE INDEX prices_lookup_key ON prices (lookup_key) WHERE lookup_key IS NOT NULL;
CREATE INDEX prices_product ON prices (product_id);

CREATE TRIGGER prices_immutable BEFORE UPDATE OF unit_amount, currency, billing_interval, interval_count, product_id, tiers, billing_scheme ON prices
WHEN OLD.unit_amount IS NOT NEW.unit_amount OR OLD.currency IS NOT NEW.currency
  OR OLD.billing_interval IS NOT NEW.billing_interval OR OLD.interval_count IS NOT NEW.interval_count
  OR OLD.product_id IS NOT NEW.product_id OR OLD.tiers IS NOT NEW.tiers OR OLD.billing_scheme IS NOT NEW.billing_scheme
BEGIN
    SELECT RAISE(ABORT, 'prices are immutable: a change of amount, currency, interval or product is a new price');
END;

-- Who did it from where, and which Stripe objects it touched (space-separated ids).
ALTER TABLE audit_log ADD COLUMN surface TEXT;
ALTER TABLE audit_log ADD COLUMN stripe_ids TEXT NOT NULL DEFAULT '';
