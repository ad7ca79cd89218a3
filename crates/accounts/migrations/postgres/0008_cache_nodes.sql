-- Who may do what, cached by several nodes at once (see ../sqlite/0008_cache_nodes.sql and
-- src/coherence.rs).
CREATE TABLE cache_events (
    seq BIGINT NOT NULL
);
INSERT INTO cache_events (seq) VALUES (0);
CREATE TABLE cache_nodes (
    node        TEXT PRIMARY KEY,
    acked       BIGINT NOT NULL,
    lease_until BIGINT NOT NULL
);
