-- Storage limits of users and organisations (see ../sqlite/0009_quotas.sql).
CREATE TABLE quotas (
    namespace_id BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    bytes        BIGINT NOT NULL
);
