-- An account's last sign-in is read from its audit trail (the newest `sign_in_succeeded`
-- event, which every way of signing in records in the commit that starts the session), not
-- kept on the account: a sign-in no longer rewrites its account's row. The column stays,
-- unread and unwritten, because nodes of the previous release still read and write it while
-- a rolling upgrade replaces them; a later release drops it.
COMMENT ON COLUMN accounts.last_sign_in_at IS
    'Unused since migration 0020 (kept for nodes of the previous release during a rolling upgrade); the last sign-in is the newest sign_in_succeeded event.';
