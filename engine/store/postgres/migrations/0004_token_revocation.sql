-- Revocation by user, SSO session or refresh-token family (store.RevokeTokens).

-- The SSO session a refresh token descends from; '' when there is none.
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id) WHERE session_id <> '';

-- One row per revoked user, session or family: every token of it issued at or
-- before revoked_at (unix milliseconds) is dead. A later revocation of the same
-- subject moves revoked_at forward. Kept until expires_at, when no access token it
-- covers can still be unexpired.
CREATE TABLE token_revocations (
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (kind, subject_id)
);
CREATE INDEX token_revocations_expires_at ON token_revocations (expires_at);
