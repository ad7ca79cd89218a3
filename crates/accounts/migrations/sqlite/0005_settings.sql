-- Values every process of the database must agree on, by name (on PostgreSQL: the key that
-- signs transfer links and Xet tokens, so a link one node made is honoured by every other).
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
