-- Enrollments of authenticators other than the phone (authenticator apps): one per
-- user and authenticator. secret is sealed by engine/keyseal (bound to the row's
-- id); last_used is the highest time step accepted, the replay guard.
-- Additive: a release from before it never reads the table. Its rows go with their
-- user through the foreign key even when an older release deletes the user.
CREATE TABLE enrollments (
    id            TEXT NOT NULL PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    authenticator TEXT NOT NULL,
    secret        BLOB,
    last_used     INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER,
    UNIQUE (user_id, authenticator)
) STRICT;
