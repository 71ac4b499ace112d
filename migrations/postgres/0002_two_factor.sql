-- Two-factor: the authenticator (sealed secrets), recovery-code hashes, sign-in challenges,
-- the security log, and instance secrets sealed under the master key.

CREATE TABLE two_factor (
    account_id         TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_id             TEXT,
    secret             BYTEA,
    enabled_at         BIGINT,
    last_step          BIGINT NOT NULL DEFAULT -1,
    pending_key_id     TEXT,
    pending_secret     BYTEA,
    pending_expires_at BIGINT
);

CREATE TABLE recovery_codes (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE challenges (
    token_hash BYTEA PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    failures   BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX challenges_by_expiry ON challenges (expires_at);

CREATE TABLE security_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT,
    actor_id   TEXT,
    kind       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    details    TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX security_events_by_account ON security_events (account_id, id);

CREATE TABLE instance_secrets (
    name   TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    sealed BYTEA NOT NULL
);
