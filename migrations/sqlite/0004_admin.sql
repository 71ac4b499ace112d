-- Lost-device reset requests, answered by an audited admin reset.

CREATE TABLE reset_requests (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    message    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    closed_at  INTEGER
) STRICT;

CREATE INDEX reset_requests_open ON reset_requests (closed_at, created_at);
CREATE INDEX security_events_by_kind ON security_events (kind, id);
