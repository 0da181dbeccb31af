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
-- deletes the user. Ids compare bytewise (COLLATE "C") so that ListPendingPhones
-- breaks ties as SQLite does.
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN status_changed_at BIGINT;
ALTER TABLE users ADD COLUMN activated_at BIGINT;

CREATE TABLE pending_phones (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    method       TEXT NOT NULL,
    challenge_id TEXT NOT NULL,
    created_at   BIGINT,
    updated_at   BIGINT,
    UNIQUE (user_id, method)
);
