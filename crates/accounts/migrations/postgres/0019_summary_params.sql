-- A model's parameter count for `num_parameters` ranges (see ../sqlite).
ALTER TABLE repo_summaries ADD COLUMN params BIGINT NOT NULL DEFAULT 0;
CREATE INDEX repo_summaries_by_params ON repo_summaries (repo_type, params, full_id, listed, private);
