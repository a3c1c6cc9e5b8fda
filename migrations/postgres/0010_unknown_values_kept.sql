-- What Stripe adds is kept, not refused (#22): a subscription status this version does not
-- know (one Stripe adds next year) is stored as it came. 0003 allowed only today's eight, so
-- such a subscription could not be mirrored at all.
ALTER TABLE org_subscriptions DROP CONSTRAINT IF EXISTS org_subscriptions_subscription_status_check;
ALTER TABLE org_subscriptions ADD CONSTRAINT org_subscriptions_status_as_it_came
    CHECK (length(subscription_status) BETWEEN 1 AND 64);
