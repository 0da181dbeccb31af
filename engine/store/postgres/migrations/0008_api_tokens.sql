-- Management API tokens ("gatehouse tokens create"), kept by the hex SHA-256 of the
-- token; the token itself is never stored. Revoked tokens stay, with revoked_at
-- set, so that "gatehouse tokens list" still shows them. Ids compare bytewise
-- (COLLATE "C") so that ListAPITokens breaks ties as SQLite does.
-- Additive: a release from before it never reads the table.
CREATE TABLE api_tokens (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    read_only    BOOLEAN NOT NULL,
    created_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_created_at ON api_tokens (created_at, id);
