-- Nodes that answer session lookups from memory (src/store/cache.rs). Each holds a lease
-- it renews every second; a write that changes remembered data notifies a probe number on
-- channel `deadbolt_cache` and waits until every node whose lease is live has acknowledged
-- that number (or, failing that, has been revoked and its lease has run out).
CREATE TABLE cache_nodes (
    id TEXT PRIMARY KEY,
    lease_until TIMESTAMPTZ NOT NULL,
    acked BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE SEQUENCE cache_probes;

-- Takes the next probe number and notifies it; the notification is delivered when the
-- calling statement commits, after every change committed before it.
CREATE FUNCTION cache_probe() RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    probe BIGINT := nextval('cache_probes');
BEGIN
    PERFORM pg_notify('deadbolt_cache', probe::text);
    RETURN probe;
END;
$$;
