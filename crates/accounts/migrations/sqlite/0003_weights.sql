-- What validation learnt about LFS weight files (formats, parameter counts per dtype), by
-- object id: computed once, shown by the API and the pages.
CREATE TABLE lfs_weights (
    oid        TEXT PRIMARY KEY REFERENCES lfs_objects (oid),
    info       TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
