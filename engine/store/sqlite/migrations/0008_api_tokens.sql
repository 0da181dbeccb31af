-- Management API tokens ("gatehouse tokens create"), kept by the hex SHA-256 of the
-- token; the token itself is never stored. Revoked tokens stay, with revoked_at
-- set, so that "gatehouse tokens list" still shows them.
-- Additive: a release from before it never reads the table.
CREATE TABLE api_tokens (
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    read_only    INTEGER NOT NULL,
    created_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
CREATE INDEX api_tokens_created_at ON api_tokens (created_at, id);
