-- Repos imported from another hub and kept in sync with it. `upstream` is the endpoint
-- (never with credentials) and `upstream_repo` the repo there; `token_env` names the
-- environment variable holding the upstream token (the token itself is never stored).
-- `findings`: JSON, what the validator said of the last import or sync.
CREATE TABLE mirrors (
    repo_id       INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    upstream      TEXT NOT NULL,
    upstream_repo TEXT NOT NULL,
    token_env     TEXT,
    last_sync_at  TEXT,
    last_error    TEXT,
    findings      TEXT NOT NULL DEFAULT '[]'
);
