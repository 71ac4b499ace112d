-- Account suspension (SPEC §11 "The rest of the lifecycle"). A suspended account keeps
-- everything but cannot sign in, and no session of it is honoured: `suspended_at` is set
-- by one conditional UPDATE (`WHERE suspended_at IS NULL`) and cleared by another.
-- Deletion needs no column: the row is deleted (see store/lifecycle.rs) and every table
-- that refers to it follows by ON DELETE CASCADE, except security_events (no foreign key:
-- the audit trail keeps the account id) and invitations.invited_by (deleted explicitly).
ALTER TABLE accounts ADD COLUMN suspended_at INTEGER;
