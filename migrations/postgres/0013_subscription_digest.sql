-- A digest of what the store takes from a subscription of Stripe's (sync::objects::Subscription),
-- so a settle that reads it back unchanged moves its watermark and writes nothing else.
ALTER TABLE org_subscriptions ADD COLUMN digest TEXT;
