-- Users and organisations share one namespace: a repo id's first part names either.
CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    is_admin   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE org_members (
    org_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (org_id, user_id)
);

-- Only the SHA-256 of a token is kept: tokens are 192 random bits, so a fast hash is enough
-- and lets a request find its token with one indexed lookup.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('read', 'write')),
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE repos (
    id           INTEGER PRIMARY KEY,
    repo_type    TEXT NOT NULL CHECK (repo_type IN ('model', 'dataset', 'space')),
    namespace_id INTEGER NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL COLLATE NOCASE,
    private      INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (repo_type, namespace_id, name)
);
