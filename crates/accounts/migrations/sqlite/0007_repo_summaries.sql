-- What listings and search read of each repo's main branch (card metadata, tags, task,
-- parameters, last change), kept up to date on every ref change, so a listing is one query
-- with its filters, sort, page and visibility in SQL, not a walk over the repos. Every repo
-- has a row from its creation (`sha` NULL until it is first described; '' when it could not
-- be); visibility, downloads and creation time are read from `repos` itself.
CREATE TABLE repo_summaries (
    repo_id       INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    repo_type     TEXT NOT NULL,
    -- "namespace/name" in lowercase, what `search` matches and the id sort orders by.
    full_id       TEXT NOT NULL,
    sha           TEXT,
    last_modified TEXT,
    pipeline_tag  TEXT,
    -- model_info's JSON of the main branch, without siblings.
    summary       TEXT
);
CREATE INDEX repo_summaries_by_id ON repo_summaries (repo_type, full_id);
CREATE INDEX repo_summaries_by_modified ON repo_summaries (repo_type, last_modified);
CREATE INDEX repo_summaries_by_task ON repo_summaries (pipeline_tag, repo_type);
CREATE INDEX repo_summaries_undescribed ON repo_summaries (repo_type) WHERE sha IS NULL;

-- The tags a listing's `filter` matches (the card's tags, library, license, languages, ...).
CREATE TABLE repo_tags (
    repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (tag, repo_id)
);
CREATE INDEX repo_tags_of ON repo_tags (repo_id);

CREATE INDEX repos_by_downloads ON repos (repo_type, downloads);
CREATE INDEX repos_by_created ON repos (repo_type, created_at);

-- Substring search of ids: an FTS5 index of trigrams, which LIKE '%...%' uses (PostgreSQL
-- uses pg_trgm on repo_summaries.full_id instead). Kept in step by triggers; the schema
-- comparison with PostgreSQL leaves repo_search* out.
CREATE VIRTUAL TABLE repo_search USING fts5 (full_id, tokenize = 'trigram');
CREATE TRIGGER repo_search_insert AFTER INSERT ON repo_summaries BEGIN
    INSERT INTO repo_search (rowid, full_id) VALUES (new.repo_id, new.full_id);
END;
CREATE TRIGGER repo_search_update AFTER UPDATE OF full_id ON repo_summaries BEGIN
    UPDATE repo_search SET full_id = new.full_id WHERE rowid = new.repo_id;
END;
CREATE TRIGGER repo_search_delete AFTER DELETE ON repo_summaries BEGIN
    DELETE FROM repo_search WHERE rowid = old.repo_id;
END;

-- Repos made before this migration are described by the server as it next lists them.
INSERT INTO repo_summaries (repo_id, repo_type, full_id)
    SELECT r.id, r.repo_type, lower(a.name || '/' || r.name)
    FROM repos r JOIN accounts a ON a.id = r.namespace_id;
