-- Aborts a sign-in completion (rolling back its one statement) when the second-factor
-- failure counter changed after it was read: see CounterClaim::Unchanged.
CREATE FUNCTION counter_moved() RETURNS BIGINT
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the failure counter changed meanwhile' USING ERRCODE = 'DB001';
END;
$$;
