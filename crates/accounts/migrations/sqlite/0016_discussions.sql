-- Discussions and pull requests of a repo (the Hub's Community tab). Numbers are per repo,
-- shared by both kinds and never given twice (a pull request's ref is refs/pr/NUM). Events
-- are the comments, status and title changes; a pull request's commits are read from its
-- ref. `public_id` (24 hex) names an event in the API.
CREATE TABLE discussions (
    id           INTEGER PRIMARY KEY,
    repo_id      INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    num          INTEGER NOT NULL,
    is_pr        INTEGER NOT NULL DEFAULT 0,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'closed', 'merged', 'draft')),
    author_id    INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    -- A pull request's target (refs/heads/NAME), the commit it started from (its commits
    -- are those of refs/pr/NUM since), and its merge commit once merged.
    base_ref     TEXT,
    base_commit  TEXT,
    merge_commit TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (repo_id, num)
);
CREATE INDEX discussions_by_repo ON discussions (repo_id, status, num);

CREATE TABLE discussion_events (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT NOT NULL UNIQUE,
    discussion_id INTEGER NOT NULL REFERENCES discussions (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('comment', 'status-change', 'title-change')),
    author_id     INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    -- JSON: a comment's text and its edit history, the new status, the old and new title.
    data          TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX discussion_events_by_discussion ON discussion_events (discussion_id, id);

-- Per-repo switches set through `update_repo_settings`.
CREATE TABLE repo_settings (
    repo_id              INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    discussions_disabled INTEGER NOT NULL DEFAULT 0
);
