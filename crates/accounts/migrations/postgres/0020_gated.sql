-- Gated repos and access requests (see ../sqlite/0020_gated.sql).
ALTER TABLE repo_settings ADD COLUMN gated TEXT NOT NULL DEFAULT 'false';
CREATE TABLE access_requests (
    repo_id          BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    user_id          BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    fields           TEXT NOT NULL DEFAULT '{}',
    rejection_reason TEXT,
    created_at       TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX access_requests_by_status ON access_requests (repo_id, status, created_at);
