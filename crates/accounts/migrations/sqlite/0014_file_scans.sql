-- What validation found about code in a file (the Hub's securityFileStatus), by object: an LFS
-- object's SHA-256, or a git blob id for a pickle kept in git. Written at push time; a file
-- with no row was never read by the validator (pushed before scans were recorded).
CREATE TABLE file_scans (
    object     TEXT PRIMARY KEY,
    scan       TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
