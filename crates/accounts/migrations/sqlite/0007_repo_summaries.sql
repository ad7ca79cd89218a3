-- What listings and search read of each repo, one narrow row per repo with everything they
-- filter and sort by (so a listing, its count and its page are index scans of this table):
-- the registry's visibility, namespace, downloads and creation time, kept in step by every
-- statement that changes them in `repos`, and what the server described of the main branch
-- (`listed` once described; `sha` NULL until then, '' when it could not be), rewritten on
-- every ref change. The description itself (model_info's JSON without siblings) is in
-- repo_summary_docs, read only for the rows of a page.
CREATE TABLE repo_summaries (
    repo_id       INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    repo_type     TEXT NOT NULL,
    namespace_id  INTEGER NOT NULL,
    private       INTEGER NOT NULL,
    downloads     INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    -- "namespace/name" in lowercase: what `search` matches and the id sort orders by.
    full_id       TEXT NOT NULL,
    listed        INTEGER NOT NULL DEFAULT 0,
    sha           TEXT,
    last_modified TEXT,
    pipeline_tag  TEXT
);
-- One index per sort (a page walks it in order), each holding what a page checks on the way
-- (the id a search matches, visibility), so the walk reads no row it does not keep; and one
-- that counts what anyone may see.
CREATE INDEX repo_summaries_by_id ON repo_summaries (repo_type, full_id, listed, private);
CREATE INDEX repo_summaries_by_modified ON repo_summaries (repo_type, last_modified, full_id, listed, private);
CREATE INDEX repo_summaries_by_created ON repo_summaries (repo_type, created_at, full_id, listed, private);
CREATE INDEX repo_summaries_by_downloads ON repo_summaries (repo_type, downloads, full_id, listed, private);
CREATE INDEX repo_summaries_visible ON repo_summaries (repo_type, listed, private);
CREATE INDEX repo_summaries_by_namespace ON repo_summaries (namespace_id, repo_type);
CREATE INDEX repo_summaries_by_task ON repo_summaries (pipeline_tag, repo_type);
CREATE INDEX repo_summaries_undescribed ON repo_summaries (repo_type) WHERE sha IS NULL;

CREATE TABLE repo_summary_docs (
    repo_id INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    summary TEXT NOT NULL
);

-- The tags a listing's `filter` matches (the card's tags, library, license, languages, ...).
CREATE TABLE repo_tags (
    repo_id INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (tag, repo_id)
);
CREATE INDEX repo_tags_of ON repo_tags (repo_id);

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

-- Repos made before this migration are described by the server at start and as it lists.
INSERT INTO repo_summaries (repo_id, repo_type, namespace_id, private, downloads, created_at, full_id)
    SELECT r.id, r.repo_type, r.namespace_id, r.private, r.downloads, r.created_at,
           lower(a.name || '/' || r.name)
    FROM repos r JOIN accounts a ON a.id = r.namespace_id;
