-- Signing keys get a rotation schedule, and secrets say whether their value is
-- sealed (encrypted under the key-encryption key, engine/keyseal). Rows from
-- before this migration are in the clear: the engine seals them on its next start.
ALTER TABLE signing_keys ADD COLUMN active_from INTEGER;
ALTER TABLE signing_keys ADD COLUMN retire_at INTEGER;
ALTER TABLE secrets ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
