-- Repos imported from another hub (see ../sqlite/0022_mirrors.sql).
CREATE TABLE mirrors (
    repo_id       BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    upstream      TEXT NOT NULL,
    upstream_repo TEXT NOT NULL,
    token_env     TEXT,
    last_sync_at  TEXT,
    last_error    TEXT,
    findings      TEXT NOT NULL DEFAULT '[]'
);
