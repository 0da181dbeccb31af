-- OAuth clients registered with "gatehouse clients add", beside those of the
-- configuration file. Durations are INTEGER milliseconds; lists are JSON arrays.
CREATE TABLE clients (
    id                         TEXT NOT NULL PRIMARY KEY,
    name                       TEXT NOT NULL,
    secret_hash                TEXT NOT NULL,
    public                     INTEGER NOT NULL,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    grants                     TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    access_token_ttl_ms        INTEGER NOT NULL,
    id_token_ttl_ms            INTEGER NOT NULL,
    refresh_token_ttl_ms       INTEGER NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    jwks_uri                   TEXT NOT NULL,
    jwks                       TEXT NOT NULL,
    backchannel_logout_uri     TEXT NOT NULL,
    created_at                 INTEGER,
    updated_at                 INTEGER
) STRICT;
