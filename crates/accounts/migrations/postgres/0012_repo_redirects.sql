-- Names repos had before a move (see ../sqlite/0012_repo_redirects.sql).
CREATE TABLE repo_redirects (
    repo_type TEXT NOT NULL,
    old_id    TEXT NOT NULL,
    repo_id   BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    PRIMARY KEY (repo_type, old_id)
);
