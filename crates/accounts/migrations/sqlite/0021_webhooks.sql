-- Webhooks: what a user asked to be told about (`watched`: users, organisations, repos; for
-- the `repo` and `discussion` domains), the outbox of events, one delivery per webhook and
-- event (retried until it is answered with a 2xx or a day passed), and each attempt's log.
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    owner_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    secret        TEXT,
    -- Comma-separated: `repo`, `discussion`.
    domains       TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    -- Why it was disabled by the server (failing for a day), shown on its page.
    note          TEXT,
    -- Unix ms of the first failure of the current run of failures (NULL: the last one worked).
    failing_since INTEGER,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id);

-- `kind`: user, org, model, dataset, space; `name` as registered (`ns/name` for a repo),
-- matched whatever its case.
CREATE TABLE webhook_watches (
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'org', 'model', 'dataset', 'space')),
    name       TEXT NOT NULL,
    PRIMARY KEY (webhook_id, kind, name)
);
CREATE INDEX webhook_watches_by_name ON webhook_watches (kind, name);

-- The outbox. `tentative`: written by a push's hook before git moves the refs (`payload` holds
-- the ref updates), made `sent` once the refs are seen moved, dropped if they never were;
-- `sent`: its deliveries were made (in the same transaction). `uid` is the id a receiver
-- de-duplicates by.
CREATE TABLE webhook_events (
    id         INTEGER PRIMARY KEY,
    uid        TEXT NOT NULL UNIQUE,
    repo_id    INTEGER,
    domain     TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('tentative', 'sent')),
    payload    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX webhook_events_by_state ON webhook_events (state, repo_id);
CREATE INDEX webhook_events_by_age ON webhook_events (created_ms);

CREATE TABLE webhook_deliveries (
    id            INTEGER PRIMARY KEY,
    webhook_id    TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id      INTEGER NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    attempts      INTEGER NOT NULL DEFAULT 0,
    due_ms        INTEGER NOT NULL,
    -- A node sending it holds it until then (so one node sends it at a time).
    claimed_until INTEGER NOT NULL DEFAULT 0,
    done          INTEGER NOT NULL DEFAULT 0,
    replay        INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (done, due_ms);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);

-- Every attempt: its HTTP status (NULL: no answer), latency, and the answer's first KiB or
-- the error.
CREATE TABLE webhook_logs (
    id          INTEGER PRIMARY KEY,
    webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    INTEGER REFERENCES webhook_events (id) ON DELETE SET NULL,
    event_uid   TEXT NOT NULL,
    scope       TEXT NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    response    TEXT NOT NULL,
    replay      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX webhook_logs_by_webhook ON webhook_logs (webhook_id, id);
