-- Periodic work that runs once per cluster (see ../sqlite/0006_periodic.sql).
CREATE TABLE periodic_runs (
    name     TEXT PRIMARY KEY,
    next_run BIGINT NOT NULL,
    last_run BIGINT NOT NULL,
    holder   TEXT NOT NULL
);
