-- Who may do what, cached by several nodes at once (PostgreSQL; see src/coherence.rs). SQLite
-- has one server, so it never writes these; they exist so both schemas stay alike.
-- The number of the last change of authorization announced to the nodes.
CREATE TABLE cache_events (
    seq BIGINT NOT NULL
);
INSERT INTO cache_events (seq) VALUES (0);
-- Each running node: the last change it has applied to its caches (acked), and until when
-- (Unix milliseconds, the database's clock) its caches may be trusted without asking again.
CREATE TABLE cache_nodes (
    node        TEXT PRIMARY KEY,
    acked       BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
);
