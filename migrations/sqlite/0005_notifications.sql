-- The notification outbox: one row per delivery (an e-mail to one recipient, or one
-- webhook POST), written in the same transaction as the event it reports, and worked off
-- by a background worker. A row is done when delivered_at or abandoned_at is set.

CREATE TABLE notification_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER NOT NULL REFERENCES security_events (id),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient_id    TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    abandoned_at    INTEGER
) STRICT;

CREATE INDEX notification_outbox_due ON notification_outbox (channel, next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
