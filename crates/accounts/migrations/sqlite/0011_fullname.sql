-- The full name users and organisations show (`modelhub user create NAME --fullname`, settable
-- later), returned by whoami, the user and organisation APIs and pages.
ALTER TABLE accounts ADD COLUMN fullname TEXT NOT NULL DEFAULT '';
