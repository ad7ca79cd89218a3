-- Periodic work that runs once per cluster, not once per process (see Accounts::claim_run):
-- the next time each job is due, in Unix milliseconds, and which process ran it last.
CREATE TABLE periodic_runs (
    name     TEXT PRIMARY KEY,
    next_run BIGINT NOT NULL,
    last_run BIGINT NOT NULL,
    holder   TEXT NOT NULL
);
