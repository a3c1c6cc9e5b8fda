-- The Subscriptions list at 100,000 organizations, second pass. Search keeps the narrow scan
-- of 0004 here (pg_trgm is an extension a team's server may not carry).
-- Every sort index carries the four filter columns after its order, so a filtered page can walk
-- the sort index alone, skipping rows that fail the filter without reading the table; which of
-- that and "filter first, then sort" a page uses is the query's choice (store/sync_views.rs),
-- from the count it reads first. Low-cardinality columns sort by name within each value.
DROP INDEX org_subscriptions_status;
DROP INDEX org_subscriptions_name;
DROP INDEX org_subscriptions_period_end;
DROP INDEX org_subscriptions_amount;
DROP INDEX org_subscriptions_created;
DROP INDEX org_subscriptions_email;
CREATE INDEX org_subscriptions_by_name ON org_subscriptions (org_name, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_email ON org_subscriptions (email, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_amount ON org_subscriptions (amount, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_period_end ON org_subscriptions (current_period_end, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_created ON org_subscriptions (created, stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_id ON org_subscriptions (stripe_subscription_id, subscription_status, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_status ON org_subscriptions (subscription_status, org_name, stripe_subscription_id, tier, billing_interval, currency);
CREATE INDEX org_subscriptions_by_tier ON org_subscriptions (tier, org_name, stripe_subscription_id, subscription_status, billing_interval, currency);
CREATE INDEX org_subscriptions_by_interval ON org_subscriptions (billing_interval, org_name, stripe_subscription_id, subscription_status, tier, currency);

-- The event ledger: 3 indexes a row was 1 too many for the door's throughput. Nothing reads by
-- `created` alone; an object's own events (a subscription's customer.subscription.*, a checkout
-- session's) are found by object id, which before had no index at all.
DROP INDEX stripe_events_created;
DROP INDEX stripe_events_subscription;
CREATE INDEX stripe_events_object ON stripe_events (object_id, created);
