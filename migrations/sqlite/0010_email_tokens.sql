-- One-time e-mail tokens (SPEC §11), for every purpose: verification, e-mail sign-in,
-- password reset, e-mail proof, reset-request confirmation, address change. Only keyed
-- hashes are kept. The key (account, purpose) keeps at most one token per purpose: issuing
-- one replaces the row, which voids the one before. A link is spent by one conditional
-- DELETE on its hash; a code by one on (account, purpose, hash) while `failures` is below
-- the limit, and a wrong code counts in `failures`.
CREATE TABLE email_tokens (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    email      TEXT NOT NULL,
    link_hash  BLOB NOT NULL UNIQUE,
    code_hash  BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    failures   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, purpose)
) STRICT;
