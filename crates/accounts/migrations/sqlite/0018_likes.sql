-- Likes: one per user per repo. The count is kept beside the listing's other columns, so
-- `sort=likes` is an index walk like the other sorts.
CREATE TABLE repo_likes (
    repo_id    INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX repo_likes_by_user ON repo_likes (user_id, created_at);
ALTER TABLE repo_summaries ADD COLUMN likes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX repo_summaries_by_likes ON repo_summaries (repo_type, likes, full_id, listed, private);
