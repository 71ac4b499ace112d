-- The notification outbox: one row per delivery (an e-mail to one recipient, or one
-- webhook POST), written in the same transaction as the event it reports, and worked off
-- by background workers on every node (FOR UPDATE SKIP LOCKED). A row is done when
-- delivered_at or abandoned_at is set.

CREATE TABLE notification_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        BIGINT NOT NULL REFERENCES security_events (id),
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient_id    TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    abandoned_at    BIGINT
);

CREATE INDEX notification_outbox_due ON notification_outbox (channel, next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;
