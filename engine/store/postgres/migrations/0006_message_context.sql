-- Outbox messages name the sign-in and the user they are for, so that delivery log
-- lines can say whose code went out or failed. Rows queued before this migration
-- (and back-channel logout notices, which belong to no sign-in) keep empty values.
-- Additive: a release from before it reads and writes the table as before.
ALTER TABLE outbox_messages ADD COLUMN transaction_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox_messages ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
