-- Gatehouse schema, SQLite. Conventions (shared with the PostgreSQL schema and relied
-- on by engine/store/sqlstore):
--   * times are INTEGER unix milliseconds, NULL for "not set";
--   * string lists are JSON arrays in TEXT columns;
--   * booleans are INTEGER 0/1.
-- Tables are STRICT so that a value of the wrong type is an error, not a silent
-- conversion. Tables with a text primary key and small rows are WITHOUT ROWID: one
-- b-tree instead of a rowid table plus a primary-key index, which halves the writes
-- of a bulk import.

CREATE TABLE users (
    id          TEXT NOT NULL PRIMARY KEY,
    login       TEXT NOT NULL UNIQUE,
    email       TEXT NOT NULL,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    locale      TEXT NOT NULL,
    disabled    INTEGER NOT NULL,
    created_at  INTEGER,
    updated_at  INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE passwords (
    user_id    TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    updated_at INTEGER
) STRICT, WITHOUT ROWID;

-- Clustered by user: a user's phones are read together, and a bulk import (sorted by
-- user id) appends to this b-tree instead of writing all over it.
CREATE TABLE phone_enrollments (
    id           TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    sms          INTEGER NOT NULL,
    voice        INTEGER NOT NULL,
    created_at   INTEGER,
    PRIMARY KEY (user_id, phone_number)
) STRICT, WITHOUT ROWID;

-- Searchable fields in columns, the rest in data (JSON); see sqlstore/transactions.go.
CREATE TABLE transactions (
    id                      TEXT NOT NULL PRIMARY KEY,
    interaction_handle_hash TEXT UNIQUE,
    state_handle_hash       TEXT UNIQUE,
    user_id                 TEXT,
    expires_at              INTEGER,
    revision                INTEGER NOT NULL,
    data                    TEXT NOT NULL
) STRICT;
CREATE INDEX transactions_user_id ON transactions (user_id);
CREATE INDEX transactions_expires_at ON transactions (expires_at);

CREATE TABLE challenges (
    id             TEXT NOT NULL PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    phone_number   TEXT NOT NULL,
    method         TEXT NOT NULL,
    code_mac       BLOB,
    created_at     INTEGER,
    expires_at     INTEGER,
    consumed_at    INTEGER,
    invalidated    INTEGER NOT NULL
) STRICT;
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
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    provider_id     TEXT NOT NULL,
    last_error      TEXT NOT NULL,
    created_at      INTEGER,
    sent_at         INTEGER,
    finished_at     INTEGER -- derived by the store, for garbage collection
) STRICT;
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
    auth_time      INTEGER,
    amr            TEXT NOT NULL,
    created_at     INTEGER,
    expires_at     INTEGER,
    used_at        INTEGER
) STRICT;
CREATE INDEX interaction_codes_expires_at ON interaction_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    auth_time  INTEGER,
    amr        TEXT NOT NULL,
    created_at INTEGER,
    expires_at INTEGER,
    used_at    INTEGER,
    revoked_at INTEGER
) STRICT;
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT NOT NULL PRIMARY KEY,
    expires_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE signing_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key BLOB,
    created_at  INTEGER
) STRICT;

CREATE TABLE secrets (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB
) STRICT;

CREATE TABLE throttles (
    throttle_key  TEXT NOT NULL PRIMARY KEY,
    count         INTEGER NOT NULL,
    window_start  INTEGER,
    last_at       INTEGER,
    blocked_until INTEGER,
    expires_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX throttles_expires_at ON throttles (expires_at);
