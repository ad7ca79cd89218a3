-- Gated repos: `gated` is 'false', 'auto' (requests accepted at once) or 'manual' (a writer
-- decides). A user's request to a gated repo, with what they filled in the card's form.
ALTER TABLE repo_settings ADD COLUMN gated TEXT NOT NULL DEFAULT 'false';
CREATE TABLE access_requests (
    repo_id          INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    user_id          INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    fields           TEXT NOT NULL DEFAULT '{}',
    rejection_reason TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX access_requests_by_status ON access_requests (repo_id, status, created_at);
