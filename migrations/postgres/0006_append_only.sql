-- The audit trail is append-only: the database itself refuses to change, remove or
-- truncate an event, whatever code runs against it.
CREATE FUNCTION security_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'security_events is append-only';
END;
$$;

CREATE TRIGGER security_events_no_change BEFORE UPDATE OR DELETE ON security_events
    FOR EACH ROW EXECUTE FUNCTION security_events_append_only();

CREATE TRIGGER security_events_no_truncate BEFORE TRUNCATE ON security_events
    FOR EACH STATEMENT EXECUTE FUNCTION security_events_append_only();

-- One open lost-device reset request per account, however many are filed at once.
UPDATE reset_requests SET closed_at = created_at
WHERE closed_at IS NULL
  AND id NOT IN (SELECT MIN(id) FROM reset_requests WHERE closed_at IS NULL GROUP BY account_id);

CREATE UNIQUE INDEX reset_requests_one_open ON reset_requests (account_id)
    WHERE closed_at IS NULL;
