-- Events as their changes commit them (store.EventStore): one row each, the event
-- as JSON, with no index but its uuid's. FlushEvents moves them, in batches, into
-- system_log and its indexes, which a write would otherwise update five times per
-- event; ListEvents flushes first, so a read sees every committed event. A release
-- from before this table writes into system_log directly, and the two coexist.
CREATE TABLE system_log_pending (
    id    INTEGER PRIMARY KEY,
    uuid  TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL
) STRICT;
