-- The commission ledger (issue #6), built by the sync engine from Stripe's destination charges.
-- Replaces 0001's unused transaction_commissions: one row per charge and one per refund (a
-- refund reverses proportionally in a row of its own; rows are never rewritten), no foreign key
-- to organizations (an appointment can be recorded before its organization is mirrored, and
-- history outlives the organization), and tiers beyond community/top (partner plans).
DROP TABLE transaction_commissions;
CREATE TABLE transaction_commissions (
    id                          TEXT PRIMARY KEY,
    kind                        TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    stripe_charge_id            TEXT NOT NULL,
    org_id                      TEXT,
    expert_account_id           TEXT,
    plan_type_at_transaction    TEXT NOT NULL CHECK (plan_type_at_transaction IN ('commission', 'monthly', 'annual')),
    tier_level_at_transaction   TEXT NOT NULL,
    currency                    TEXT NOT NULL CHECK (length(currency) = 3),
    -- Minor units; negative on a refund row.
    gross_amount                BIGINT NOT NULL,
    -- What was charged: the application fee.
    commission_amount           BIGINT NOT NULL,
    -- What the rate implies, half-up to the minor unit; NULL when no rate covers the moment.
    implied_amount              BIGINT,
    commission_rate             BIGINT CHECK (commission_rate BETWEEN 0 AND 10000),
    flagged                     BIGINT NOT NULL CHECK (flagged IN (0, 1)),
    stripe_payment_intent_id    TEXT,
    stripe_application_fee_id   TEXT,
    stripe_transfer_id          TEXT,
    occurred_at                 BIGINT NOT NULL,
    -- The day of occurred_at in the reports' time zone (settings `report_time_zone`), kept
    -- current when that setting changes: reports bucket by it.
    local_day                   TEXT NOT NULL,
    created_at                  BIGINT NOT NULL
);
CREATE INDEX transaction_commissions_day ON transaction_commissions (local_day, currency);
CREATE INDEX transaction_commissions_occurred ON transaction_commissions (occurred_at, id);
CREATE INDEX transaction_commissions_org ON transaction_commissions (org_id, occurred_at);
CREATE INDEX transaction_commissions_charge ON transaction_commissions (stripe_charge_id);
CREATE INDEX transaction_commissions_flagged ON transaction_commissions (flagged, local_day);

-- The ledger summed per local day, currency, tier and plan type, kept in the transaction that
-- adds a row: a year's report reads a few thousand rows instead of a million.
CREATE TABLE commission_days (
    local_day       TEXT NOT NULL,
    currency        TEXT NOT NULL,
    tier            TEXT NOT NULL,
    plan_type       TEXT NOT NULL,
    charges         BIGINT NOT NULL,
    refunds         BIGINT NOT NULL,
    gross_amount    BIGINT NOT NULL,
    commission      BIGINT NOT NULL,
    implied         BIGINT NOT NULL,
    -- Rows without a rate (implied unknown) and rows whose charge differs from the rate.
    unrated         BIGINT NOT NULL,
    flagged         BIGINT NOT NULL,
    PRIMARY KEY (local_day, currency, tier, plan_type)
);

-- The same per local month and expert organization ('' when the charge named none): a year
-- grouped by expert reads twelve rows per organization, not every appointment.
CREATE TABLE commission_expert_months (
    month           TEXT NOT NULL,
    org_id          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    tier            TEXT NOT NULL,
    plan_type       TEXT NOT NULL,
    charges         BIGINT NOT NULL,
    refunds         BIGINT NOT NULL,
    gross_amount    BIGINT NOT NULL,
    commission      BIGINT NOT NULL,
    implied         BIGINT NOT NULL,
    unrated         BIGINT NOT NULL,
    flagged         BIGINT NOT NULL,
    PRIMARY KEY (month, org_id, currency, tier, plan_type)
);

-- Settings that belong to the store (shared by a team on Postgres), e.g. report_time_zone.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Commission rates in basis points per (plan type, tier), each over [effective_from,
-- effective_to) in UTC seconds (NULL: open-ended). Seeded from price metadata `commissionRate`;
-- admins add rows. The writer refuses a row that overlaps another of the same plan type and tier.
CREATE TABLE commission_rates (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_type       TEXT NOT NULL CHECK (plan_type IN ('commission', 'monthly', 'annual')),
    tier            TEXT NOT NULL,
    rate_bps        BIGINT NOT NULL CHECK (rate_bps BETWEEN 0 AND 10000),
    effective_from  BIGINT NOT NULL,
    effective_to    BIGINT CHECK (effective_to IS NULL OR effective_to > effective_from),
    source          TEXT NOT NULL,
    note            TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX commission_rates_key ON commission_rates (plan_type, tier, effective_from);

-- Charges join the objects an event can mark for a read from Stripe.
CREATE TABLE dirty_objects_v6 (
    object_id          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('subscription', 'customer', 'checkout_session', 'entitlements', 'catalog', 'charge')),
    generation         BIGINT NOT NULL,
    last_event_id      TEXT,
    last_event_created BIGINT NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    marked_at          BIGINT NOT NULL,
    PRIMARY KEY (object_id, kind)
);
INSERT INTO dirty_objects_v6 SELECT object_id, kind, generation, last_event_id, last_event_created, attempts, last_error, marked_at FROM dirty_objects;
DROP TABLE dirty_objects;
ALTER TABLE dirty_objects_v6 RENAME TO dirty_objects;
