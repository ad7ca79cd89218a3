-- Names repos had before a move: the old name redirects to the repo until a repo takes it.
CREATE TABLE repo_redirects (
    repo_type TEXT NOT NULL,
    old_id    TEXT NOT NULL,
    repo_id   INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    PRIMARY KEY (repo_type, old_id)
);
