-- What validation learnt about LFS weight files, by object id (see ../sqlite/0003_weights.sql).
CREATE TABLE lfs_weights (
    oid        TEXT PRIMARY KEY REFERENCES lfs_objects (oid),
    info       TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
