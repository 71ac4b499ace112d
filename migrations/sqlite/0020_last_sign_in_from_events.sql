-- An account's last sign-in is read from its audit trail (the newest `sign_in_succeeded`
-- event, which every way of signing in records in the commit that starts the session), not
-- kept on the account: a sign-in no longer rewrites its account's row. (One process serves
-- a SQLite database, so no node of the previous release still uses the column; on
-- PostgreSQL it stays until a later release, for rolling upgrades.)
ALTER TABLE accounts DROP COLUMN last_sign_in_at;
