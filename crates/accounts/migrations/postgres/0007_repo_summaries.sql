-- Per-repo summaries for listings and search (see ../sqlite/0007_repo_summaries.sql).
-- Substring search uses pg_trgm's trigram index (a trusted extension: the database's owner
-- may create it; it ships with Debian's postgresql package and every managed PostgreSQL).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- What listings and search read of each repo, one narrow row per repo with everything they
-- filter and sort by (so a listing, its count and its page are index scans of this table):
-- the registry's visibility, namespace, downloads and creation time, kept in step by every
-- statement that changes them in `repos`, and what the server described of the main branch
-- (`listed` once described; `sha` NULL until then, '' when it could not be), rewritten on
-- every ref change. The description itself (model_info's JSON without siblings) is in
-- repo_summary_docs, read only for the rows of a page.
CREATE TABLE repo_summaries (
    repo_id       BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    repo_type     TEXT NOT NULL,
    namespace_id  BIGINT NOT NULL,
    private       BOOLEAN NOT NULL,
    downloads     BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    -- "namespace/name" in lowercase, in the "C" collation (LIKE and
    -- the trigram index need a deterministic one): what `search` matches and the id sort orders by.
    full_id       TEXT COLLATE "C" NOT NULL,
    listed        BOOLEAN NOT NULL DEFAULT FALSE,
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
CREATE INDEX repo_summaries_search ON repo_summaries USING gin (full_id gin_trgm_ops);
CREATE TABLE repo_summary_docs (
    repo_id BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    summary TEXT NOT NULL
);

-- The tags a listing's `filter` matches (the card's tags, library, license, languages, ...).
CREATE TABLE repo_tags (
    repo_id BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (tag, repo_id)
);
CREATE INDEX repo_tags_of ON repo_tags (repo_id);

-- Repos made before this migration are described by the server at start and as it lists.
INSERT INTO repo_summaries (repo_id, repo_type, namespace_id, private, downloads, created_at, full_id)
    SELECT r.id, r.repo_type, r.namespace_id, r.private, r.downloads, r.created_at,
           lower(a.name || '/' || r.name) COLLATE "C"
    FROM repos r JOIN accounts a ON a.id = r.namespace_id;
