-- A locked discussion takes comments from the repo's writers only.
ALTER TABLE discussions ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
