-- Security keys and passkeys (SPEC §13). A credential is the public half an authenticator
-- registered (`credential`: webauthn-rs's record of it, as JSON; nothing secret), found by
-- its WebAuthn id (unique across accounts: a passkey names no account) and counting its
-- signatures in `counter`, which only moves forward, by one conditional update.
CREATE TABLE webauthn_credentials (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    counter       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);

CREATE INDEX webauthn_credentials_by_account ON webauthn_credentials (account_id);

-- A ceremony's server-side state (webauthn-rs's, as JSON: the challenge it awaits an answer
-- to), under the hash of its random id. It is spent by one DELETE … RETURNING that also
-- checks its purpose and expiry, so it answers once, on any node.
CREATE TABLE webauthn_ceremonies (
    id_hash    BYTEA PRIMARY KEY,
    purpose    TEXT NOT NULL,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies (expires_at);
