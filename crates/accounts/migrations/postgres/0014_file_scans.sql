-- What validation found about code in a file, by object (see ../sqlite/0014_file_scans.sql).
CREATE TABLE file_scans (
    object     TEXT PRIMARY KEY,
    scan       TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
