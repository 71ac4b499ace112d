-- The audit trail is append-only: the database itself refuses to change or remove an
-- event, whatever code runs against it.
CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
BEGIN
    SELECT RAISE(ABORT, 'security_events is append-only');
END;

CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
BEGIN
    SELECT RAISE(ABORT, 'security_events is append-only');
END;

-- One open lost-device reset request per account, however many are filed at once.
UPDATE reset_requests SET closed_at = created_at
WHERE closed_at IS NULL
  AND id NOT IN (SELECT MIN(id) FROM reset_requests WHERE closed_at IS NULL GROUP BY account_id);

CREATE UNIQUE INDEX reset_requests_one_open ON reset_requests (account_id)
    WHERE closed_at IS NULL;
