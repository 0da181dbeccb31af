-- Gatehouse schema, PostgreSQL. Conventions (shared with the SQLite schema and relied
-- on by engine/store/sqlstore):
--   * times are BIGINT unix milliseconds, NULL for "not set" — the same in both
--     databases, with no time zone to get wrong;
--   * string lists are JSON arrays in TEXT columns (read and written whole, never
--     searched, so jsonb would buy nothing).
-- Text keys compare bytewise (COLLATE "C") where order matters, so that ListUsers pages
-- the same way on every server whatever its locale.

CREATE TABLE users (
    id          TEXT NOT NULL PRIMARY KEY,
    login       TEXT COLLATE "C" NOT NULL UNIQUE,
    email       TEXT NOT NULL,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    locale      TEXT NOT NULL,
    disabled    BOOLEAN NOT NULL,
    created_at  BIGINT,
    updated_at  BIGINT
);

CREATE TABLE passwords (
    user_id    TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE phone_enrollments (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    sms          BOOLEAN NOT NULL,
    voice        BOOLEAN NOT NULL,
    created_at   BIGINT,
    UNIQUE (user_id, phone_number)
);

-- Searchable fields in columns, the rest in data (JSON); see sqlstore/transactions.go.
CREATE TABLE transactions (
    id                      TEXT NOT NULL PRIMARY KEY,
    interaction_handle_hash TEXT UNIQUE,
    state_handle_hash       TEXT UNIQUE,
    user_id                 TEXT,
    expires_at              BIGINT,
    revision                BIGINT NOT NULL,
    data                    TEXT NOT NULL
);
CREATE INDEX transactions_user_id ON transactions (user_id);
CREATE INDEX transactions_expires_at ON transactions (expires_at);

CREATE TABLE challenges (
    id             TEXT NOT NULL PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    phone_number   TEXT NOT NULL,
    method         TEXT NOT NULL,
    code_mac       BYTEA,
    created_at     BIGINT,
    expires_at     BIGINT,
    consumed_at    BIGINT,
    invalidated    BOOLEAN NOT NULL
);
CREATE INDEX challenges_transaction_id ON challenges (transaction_id);
CREATE INDEX challenges_expires_at ON challenges (expires_at);

CREATE TABLE outbox_messages (
    id              TEXT NOT NULL PRIMARY KEY,
    challenge_id    TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    body            TEXT NOT NULL,
    code            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    provider_id     TEXT NOT NULL,
    last_error      TEXT NOT NULL,
    created_at      BIGINT,
    sent_at         BIGINT,
    finished_at     BIGINT -- derived by the store, for garbage collection
);
CREATE INDEX outbox_messages_status ON outbox_messages (status, created_at);
CREATE INDEX outbox_messages_recipient ON outbox_messages (recipient, created_at);
CREATE INDEX outbox_messages_challenge ON outbox_messages (challenge_id);
CREATE INDEX outbox_messages_created_at ON outbox_messages (created_at);
CREATE INDEX outbox_messages_finished_at ON outbox_messages (finished_at);

CREATE TABLE interaction_codes (
    code_hash      TEXT NOT NULL PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    auth_time      BIGINT,
    amr            TEXT NOT NULL,
    created_at     BIGINT,
    expires_at     BIGINT,
    used_at        BIGINT
);
CREATE INDEX interaction_codes_expires_at ON interaction_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    auth_time  BIGINT,
    amr        TEXT NOT NULL,
    created_at BIGINT,
    expires_at BIGINT,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    expires_at BIGINT
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE signing_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key BYTEA,
    created_at  BIGINT
);

CREATE TABLE secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value BYTEA
);

CREATE TABLE throttles (
    throttle_key  TEXT NOT NULL PRIMARY KEY,
    count         INTEGER NOT NULL,
    window_start  BIGINT,
    last_at       BIGINT,
    blocked_until BIGINT,
    expires_at    BIGINT
);
CREATE INDEX throttles_expires_at ON throttles (expires_at);
