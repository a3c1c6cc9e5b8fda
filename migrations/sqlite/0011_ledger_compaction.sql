-- A ledger that stays small: past the retention window (settings `ledger_retention_days`,
-- 35 days by default: Stripe's 30 plus a margin), an event's raw payload is dropped and what
-- de-duplication and the timeline need stays (id, type, created, the object, customer and
-- subscription ids). `compacted_at`: when (NULL: the payload is whole).
ALTER TABLE stripe_events ADD COLUMN compacted_at BIGINT;
