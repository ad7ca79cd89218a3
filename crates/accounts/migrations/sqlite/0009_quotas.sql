-- Storage limits of users and organisations (modelhub quota set): the bytes of distinct LFS
-- objects linked to a namespace's repos plus their git data may not grow past `bytes`.
CREATE TABLE quotas (
    namespace_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    bytes        BIGINT NOT NULL
);
