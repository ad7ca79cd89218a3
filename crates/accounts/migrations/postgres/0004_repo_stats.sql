-- Download counts, as the Hub counts them (one per fetch of the repo's entry file).
ALTER TABLE repos ADD COLUMN downloads BIGINT NOT NULL DEFAULT 0;
