-- The system log (store.EventStore): one row per event, written in the same
-- transaction as the change it records. The columns are what queries filter and
-- order on; body is the whole event as JSON. seq orders events published in the
-- same millisecond and never goes back (AUTOINCREMENT), so that it can be part of
-- a paging cursor. search_text is the lower-cased text keyword searches (q) match.
-- Targets are in a table of their own, for target.id filters.
-- Additive: a release from before it never reads these tables.
CREATE TABLE system_log (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid               TEXT NOT NULL UNIQUE,
    published          INTEGER NOT NULL,
    event_type         TEXT NOT NULL,
    severity           TEXT NOT NULL,
    outcome_result     TEXT NOT NULL,
    actor_id           TEXT NOT NULL,
    actor_alternate_id TEXT NOT NULL,
    transaction_id     TEXT NOT NULL,
    session_id         TEXT NOT NULL,
    search_text        TEXT NOT NULL,
    body               TEXT NOT NULL
) STRICT;
CREATE INDEX system_log_published ON system_log (published, seq);
CREATE INDEX system_log_event_type ON system_log (event_type, published);
CREATE INDEX system_log_actor ON system_log (actor_id, published);
CREATE INDEX system_log_session ON system_log (session_id, published);

CREATE TABLE system_log_targets (
    target_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    published INTEGER NOT NULL,
    PRIMARY KEY (target_id, seq)
) STRICT;
CREATE INDEX system_log_targets_published ON system_log_targets (published);
