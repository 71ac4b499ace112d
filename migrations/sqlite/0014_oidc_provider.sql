-- OpenID Connect provider (SPEC §12). A session records how it was signed in: `amr`, its
-- RFC 8176 method values separated by spaces (`pwd`, `email`, `otp`); its `created_at` is
-- its `auth_time`, since every sign-in starts a new session. Sessions from before this
-- migration have no methods recorded and count as one factor. A challenge records its
-- first factor, so that completing it records both.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN first_factor TEXT NOT NULL DEFAULT 'pwd';

-- Relying parties: from `[[oidc.clients]]` (source `config`, synced at start) or the admin
-- API and CLI (source `admin`). Only a keyed hash of a confidential client's secret is kept.
CREATE TABLE oidc_clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL,
    secret_hash               BLOB,
    workspace_id              TEXT,
    require_two_factor        INTEGER NOT NULL DEFAULT 0,
    trusted                   INTEGER NOT NULL DEFAULT 0,
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
    backchannel_logout_uri    TEXT,
    id_token_alg              TEXT NOT NULL DEFAULT 'ES256',
    source                    TEXT NOT NULL,
    created_at                INTEGER NOT NULL
) STRICT;

-- Consent, once per account and client.
CREATE TABLE oidc_consents (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, client_id)
) STRICT;

-- Authorization codes, by hash only; `spent_at` is set once, by one conditional update.
-- `reused_at` marks a code presented again: no access token is issued from it after that.
CREATE TABLE oidc_codes (
    code_hash      BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    amr            TEXT NOT NULL,
    access         TEXT NOT NULL,
    deadline       INTEGER,
    workspace_role TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    spent_at       INTEGER,
    reused_at      INTEGER
) STRICT;

CREATE INDEX oidc_codes_by_expiry ON oidc_codes (expires_at);

-- Access tokens, by hash only, each linked to the code (and session) it came from so that
-- a reused code, or the end of the session, revokes it.
CREATE TABLE oidc_access_tokens (
    token_hash     BLOB PRIMARY KEY,
    code_hash      BLOB NOT NULL,
    client_id      TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL,
    scope          TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    amr            TEXT NOT NULL,
    access         TEXT NOT NULL,
    deadline       INTEGER,
    workspace_role TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX oidc_access_tokens_by_code ON oidc_access_tokens (code_hash);
CREATE INDEX oidc_access_tokens_by_session ON oidc_access_tokens (session_id);
CREATE INDEX oidc_access_tokens_by_expiry ON oidc_access_tokens (expires_at);
