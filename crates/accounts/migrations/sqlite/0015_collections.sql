-- Collections: a user's or organisation's curated, ordered list of repos, papers and other
-- collections, each with a note. `public_id` is the 24-hex id that ends a collection's slug
-- (`ns/title-words-<public_id>`) and names an item in the API, so a new title changes the
-- slug and old links keep working. An item names exactly one thing (`item_key`: `repo:ID`,
-- `collection:ID`, `paper:ARXIV-ID`); one naming a repo or collection goes when it does.
CREATE TABLE collections (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    namespace_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    private      INTEGER NOT NULL DEFAULT 0,
    theme        TEXT NOT NULL,
    position     INTEGER NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX collections_by_namespace ON collections (namespace_id, position);
CREATE INDEX collections_by_updated ON collections (updated_at);

CREATE TABLE collection_items (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT NOT NULL UNIQUE,
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    item_key      TEXT NOT NULL,
    repo_id       INTEGER REFERENCES repos (id) ON DELETE CASCADE,
    target_id     INTEGER REFERENCES collections (id) ON DELETE CASCADE,
    paper_id      TEXT,
    position      INTEGER NOT NULL,
    note          TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (collection_id, item_key)
);
CREATE INDEX collection_items_by_key ON collection_items (item_key);
CREATE INDEX collection_items_by_repo ON collection_items (repo_id);
CREATE INDEX collection_items_by_target ON collection_items (target_id);
