-- A model's parameter count (its safetensors' total; 0 when unknown), for `num_parameters`
-- ranges in listings.
ALTER TABLE repo_summaries ADD COLUMN params INTEGER NOT NULL DEFAULT 0;
CREATE INDEX repo_summaries_by_params ON repo_summaries (repo_type, params, full_id, listed, private);
