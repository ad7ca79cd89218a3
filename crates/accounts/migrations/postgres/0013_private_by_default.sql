-- An organisation's setting (see ../sqlite/0013_private_by_default.sql).
ALTER TABLE accounts ADD COLUMN private_by_default BOOLEAN NOT NULL DEFAULT FALSE;
