-- Plans as Stripe holds them: any tier or audience word (the lookup-key convention is not
-- closed), how the price bills (per unit, tiered, metered, custom amount), and the count of
-- active subscribers.

ALTER TABLE prices DROP CONSTRAINT IF EXISTS prices_tier_check;
ALTER TABLE prices DROP CONSTRAINT IF EXISTS prices_audience_check;
ALTER TABLE prices DROP CONSTRAINT IF EXISTS prices_plan_type_check;
ALTER TABLE prices ADD COLUMN price_type TEXT NOT NULL DEFAULT 'recurring' CHECK (price_type IN ('recurring', 'one_time'));
ALTER TABLE prices ADD COLUMN usage_type TEXT CHECK (usage_type IN ('licensed', 'metered'));
ALTER TABLE prices ADD COLUMN billing_scheme TEXT NOT NULL DEFAULT 'per_unit' CHECK (billing_scheme IN ('per_unit', 'tiered'));
ALTER TABLE prices ADD COLUMN unit_amount_decimal TEXT;
ALTER TABLE prices ADD COLUMN tiers_mode TEXT CHECK (tiers_mode IN ('graduated', 'volume'));
ALTER TABLE prices ADD COLUMN tiers TEXT;
ALTER TABLE prices ADD COLUMN transform_divide_by BIGINT;
ALTER TABLE prices ADD COLUMN transform_round TEXT CHECK (transform_round IN ('up', 'down'));
ALTER TABLE prices ADD COLUMN custom_unit_amount TEXT;
ALTER TABLE prices ADD COLUMN active_subscribers BIGINT NOT NULL DEFAULT 0 CHECK (active_subscribers >= 0);
UPDATE prices SET price_type = 'one_time' WHERE billing_interval IS NULL;

CREATE OR REPLACE FUNCTION prices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.unit_amount IS DISTINCT FROM NEW.unit_amount OR OLD.currency IS DISTINCT FROM NEW.currency
       OR OLD.billing_interval IS DISTINCT FROM NEW.billing_interval
       OR OLD.interval_count IS DISTINCT FROM NEW.interval_count
       OR OLD.product_id IS DISTINCT FROM NEW.product_id
       OR OLD.tiers IS DISTINCT FROM NEW.tiers OR OLD.billing_scheme IS DISTINCT FROM NEW.billing_scheme THEN
        RAISE EXCEPTION 'prices are immutable: a change of amount, currency, interval or product is a new price';
    END IF;
    RETURN NEW;
END $$;

-- Who did it from where, and which Stripe objects it touched (space-separated ids).
ALTER TABLE audit_log ADD COLUMN surface TEXT;
ALTER TABLE audit_log ADD COLUMN stripe_ids TEXT NOT NULL DEFAULT '';
