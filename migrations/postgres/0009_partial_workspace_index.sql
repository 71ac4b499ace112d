-- Most security events (sign-ins, codes, recovery codes) belong to no workspace, and only
-- the workspace audit log reads this index, always with `workspace_id = ?`: it now holds
-- only the events that have a workspace, so every sign-in writes one index entry fewer
-- (BENCHMARKS.md, fourth session).
DROP INDEX security_events_by_workspace;
CREATE INDEX security_events_by_workspace ON security_events (workspace_id, id)
    WHERE workspace_id IS NOT NULL;
