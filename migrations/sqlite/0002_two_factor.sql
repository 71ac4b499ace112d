-- Two-factor: the authenticator (sealed secrets), recovery-code hashes, sign-in challenges,
-- the security log, and instance secrets sealed under the master key.

CREATE TABLE two_factor (
    account_id         TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_id             TEXT,
    secret             BLOB,
    enabled_at         INTEGER,
    last_step          INTEGER NOT NULL DEFAULT -1,
    pending_key_id     TEXT,
    pending_secret     BLOB,
    pending_expires_at INTEGER
) STRICT;

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    PRIMARY KEY (account_id, code_hash)
) STRICT;

CREATE TABLE challenges (
    token_hash BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    failures   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX challenges_by_expiry ON challenges (expires_at);

CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT,
    actor_id   TEXT,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    details    TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX security_events_by_account ON security_events (account_id, id);

CREATE TABLE instance_secrets (
    name   TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    sealed BLOB NOT NULL
) STRICT;
