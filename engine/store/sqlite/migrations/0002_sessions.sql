-- SSO sessions: one row per completed sign-in, found by the hash of the browser's
-- session cookie, named in tokens by its public id (the "sid" claim).
CREATE TABLE sessions (
    id              TEXT NOT NULL PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    user_id         TEXT NOT NULL,
    auth_time       INTEGER,
    amr             TEXT NOT NULL,
    client_ids      TEXT NOT NULL,
    created_at      INTEGER,
    last_seen_at    INTEGER,
    idle_expires_at INTEGER,
    expires_at      INTEGER,
    ended_at        INTEGER
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The session a code was issued in, and the grant that may redeem it: '' for the
-- interaction_code grant, 'authorization_code' for a code from /v1/authorize.
ALTER TABLE interaction_codes ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE interaction_codes ADD COLUMN grant_type TEXT NOT NULL DEFAULT '';
