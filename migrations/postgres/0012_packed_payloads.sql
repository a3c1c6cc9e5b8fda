-- SQLite keeps an event's payload inside the retention window deflated once it is a day old
-- (store::compact); `payload` is then ''. Postgres never fills it: TOAST compresses there.
ALTER TABLE stripe_events ADD COLUMN payload_z BYTEA;
