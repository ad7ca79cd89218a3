-- What the garbage collector and the doors that accept content agree on (see
-- ../../src/claims.rs). One row per stored thing a commit can come to rely on: `lfs:<sha256>`
-- (an LFS object, whole or as a Xet file) and `xorb:<hash>`. A door that accepts or finds
-- content stamps `touched_at` (unix ms) first, and waits while `doomed_at` is set; the
-- collector sets `doomed_at` only on a row untouched since its cut-off, deletes the bytes,
-- then the row.
CREATE TABLE store_claims (
    name       TEXT PRIMARY KEY,
    touched_at BIGINT NOT NULL,
    doomed_at  BIGINT
);
