-- The Subscriptions list at 100,000 organizations: every sortable column's index ends with the
-- tie-breaker the page query sorts by, so a filtered, sorted page walks an index instead of
-- sorting; the plan filters count from a covering index; search scans a narrow index instead
-- of the table.
DROP INDEX org_subscriptions_status;
DROP INDEX org_subscriptions_name;
DROP INDEX org_subscriptions_period_end;
DROP INDEX org_subscriptions_amount;
DROP INDEX org_subscriptions_created;
CREATE INDEX org_subscriptions_status ON org_subscriptions (subscription_status, org_name, stripe_subscription_id);
CREATE INDEX org_subscriptions_name ON org_subscriptions (org_name, stripe_subscription_id);
CREATE INDEX org_subscriptions_period_end ON org_subscriptions (current_period_end, stripe_subscription_id);
CREATE INDEX org_subscriptions_amount ON org_subscriptions (amount, stripe_subscription_id);
CREATE INDEX org_subscriptions_created ON org_subscriptions (created, stripe_subscription_id);
CREATE INDEX org_subscriptions_email ON org_subscriptions (email, stripe_subscription_id);
CREATE INDEX org_subscriptions_plan ON org_subscriptions (tier, billing_interval, currency, subscription_status);
CREATE INDEX org_subscriptions_search ON org_subscriptions (search, stripe_subscription_id);
