-- An organisation's setting: repos created without saying private or public are private.
ALTER TABLE accounts ADD COLUMN private_by_default INTEGER NOT NULL DEFAULT 0;
