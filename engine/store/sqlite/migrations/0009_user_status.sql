-- User lifecycle states (store.UserStatus) and the phones an operator enrolled that
-- wait for their code (store.PendingPhone).
--
-- users.status is the state ('' for a user written only by older releases, whose
-- disabled alone says whether they may sign in). disabled stays what older
-- releases read and is kept true for every state that refuses sign-in (staged,
-- suspended, deprovisioned), so that an older release refuses those users too;
-- where an older release changes disabled, disabled wins (store.User.State).
-- Additive: older releases never read the new columns or the new table. Pending
-- phones go with their user through the foreign key even when an older release
-- deletes the user.
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN status_changed_at INTEGER;
ALTER TABLE users ADD COLUMN activated_at INTEGER;

CREATE TABLE pending_phones (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    method       TEXT NOT NULL,
    challenge_id TEXT NOT NULL,
    created_at   INTEGER,
    updated_at   INTEGER,
    UNIQUE (user_id, method)
) STRICT;
