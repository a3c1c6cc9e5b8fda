-- Test-fired webhook deliveries (#7). 0001 sketched the table with four signature values and
-- no room for the exact request; nothing has written to it, so it is rebuilt. One row per
-- attempt: the exact bytes and headers sent (so a replay is byte-identical), what came back
-- (status, headers, the first 4 KiB of the body) or why nothing did (timeout, unreachable).
-- `body` NULL: a burst's copy, whose body is its run's first (step 1, attempt 1) with its own
-- event id; a 10,000-event burst stores one body, not 60 MB of them.
DROP TABLE webhook_deliveries;

CREATE TABLE webhook_deliveries (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id              TEXT NOT NULL,
    scenario            TEXT,
    step                INTEGER NOT NULL DEFAULT 0,
    attempt             INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    replay_of           INTEGER,
    url                 TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    event_type          TEXT NOT NULL,
    org_id              TEXT,
    mode                TEXT NOT NULL CHECK (mode IN ('valid', 'wrong-secret', 'stale', 'unsigned', 'tampered')),
    request_headers     TEXT NOT NULL,
    body                TEXT,
    outcome             TEXT NOT NULL CHECK (outcome IN ('ok', 'redirect', 'client_error', 'server_error', 'timeout', 'unreachable', 'error')),
    http_status         INTEGER,
    response_headers    TEXT,
    response_body       TEXT,
    response_truncated  INTEGER NOT NULL DEFAULT 0 CHECK (response_truncated IN (0, 1)),
    error               TEXT,
    -- The answer a correct endpoint gives: 2xx to a valid signature, 4xx to any other (a
    -- replay past the tolerance is judged as a stale one).
    as_expected         INTEGER NOT NULL CHECK (as_expected IN (0, 1)),
    latency_us          BIGINT,
    sent_at_ms          BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_run ON webhook_deliveries (run_id, step, attempt);
