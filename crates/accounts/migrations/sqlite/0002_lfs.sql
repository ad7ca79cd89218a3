-- LFS objects known to the store, and which repos may serve them. An object is linked to a
-- repo when its bytes were uploaded through that repo (or, later, when a validated push
-- references it); a repo never serves an object that is not linked to it.
CREATE TABLE lfs_objects (
    oid        TEXT PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE lfs_repo_objects (
    repo_id   INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    oid       TEXT NOT NULL REFERENCES lfs_objects (oid),
    linked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (repo_id, oid)
);

CREATE TABLE lfs_locks (
    id        INTEGER PRIMARY KEY,
    repo_id   INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    ref_name  TEXT,
    owner_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    locked_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (repo_id, path)
);
