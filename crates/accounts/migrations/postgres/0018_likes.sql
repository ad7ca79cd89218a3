-- Likes, one per user per repo, and their count in the listing's table (see ../sqlite).
CREATE TABLE repo_likes (
    repo_id    BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    PRIMARY KEY (repo_id, user_id)
);
CREATE INDEX repo_likes_by_user ON repo_likes (user_id, created_at);
ALTER TABLE repo_summaries ADD COLUMN likes BIGINT NOT NULL DEFAULT 0;
CREATE INDEX repo_summaries_by_likes ON repo_summaries (repo_type, likes, full_id, listed, private);
