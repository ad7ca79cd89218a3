-- Per-repo summaries for listings and search (see ../sqlite/0007_repo_summaries.sql).
-- Substring search uses pg_trgm's trigram index (a trusted extension: the database's owner
-- may create it; it ships with Debian's postgresql package and every managed PostgreSQL).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE repo_summaries (
    repo_id       BIGINT PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
    repo_type     TEXT NOT NULL,
    -- Lowercase, and in the "C" collation: LIKE and the trigram index need a deterministic one.
    full_id       TEXT COLLATE "C" NOT NULL,
    sha           TEXT,
    last_modified TEXT,
    pipeline_tag  TEXT,
    summary       TEXT
);
CREATE INDEX repo_summaries_by_id ON repo_summaries (repo_type, full_id);
CREATE INDEX repo_summaries_by_modified ON repo_summaries (repo_type, last_modified);
CREATE INDEX repo_summaries_by_task ON repo_summaries (pipeline_tag, repo_type);
CREATE INDEX repo_summaries_undescribed ON repo_summaries (repo_type) WHERE sha IS NULL;
CREATE INDEX repo_summaries_search ON repo_summaries USING gin (full_id gin_trgm_ops);

CREATE TABLE repo_tags (
    repo_id BIGINT NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (tag, repo_id)
);
CREATE INDEX repo_tags_of ON repo_tags (repo_id);

CREATE INDEX repos_by_downloads ON repos (repo_type, downloads);
CREATE INDEX repos_by_created ON repos (repo_type, created_at);

INSERT INTO repo_summaries (repo_id, repo_type, full_id)
    SELECT r.id, r.repo_type, lower(a.name || '/' || r.name) COLLATE "C"
    FROM repos r JOIN accounts a ON a.id = r.namespace_id;
