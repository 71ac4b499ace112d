-- Accounts proven by e-mail (SPEC §11).
--
-- An account without a password keeps '' in password_hash, as on SQLite (which cannot relax
-- the column's NOT NULL without rebuilding the table); the store reads '' as "no password"
-- on both backends.
ALTER TABLE accounts ADD COLUMN email_verified_at BIGINT;

-- An e-mail token's message waits in the outbox like any notification. It goes to
-- to_address (a new address is not yet the account's), and carries its link and code
-- sealed under the master key (message_key names the key); both are erased once the
-- delivery is done or given up.
ALTER TABLE notification_outbox ADD COLUMN to_address TEXT;
ALTER TABLE notification_outbox ADD COLUMN message_key TEXT;
ALTER TABLE notification_outbox ADD COLUMN message BYTEA;

-- A code is spent by the address it was sent to (the same statement whether or not the
-- address has an account, so a wrong code costs the same for any address). Wrong codes are
-- counted per address and purpose on throttle_counters (`email-code:PURPOSE:ADDRESS`),
-- before the code is judged; email_tokens.failures is no longer used.
CREATE INDEX email_tokens_by_address ON email_tokens (email, purpose);
