-- OpenID Connect refresh tokens (SPEC §12, scope `offline_access`), by hash only. A family
-- is every token descended from one code (`code_hash`); a token is spent once, by one
-- conditional update (`spent_at`), and presenting a spent one revokes its family: the
-- code is marked reused (so nothing more is issued from it) and the family's refresh and
-- access tokens are deleted. A token is used only while its session lives.
CREATE TABLE oidc_refresh_tokens (
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
    expires_at     INTEGER NOT NULL,
    spent_at       INTEGER
) STRICT;

CREATE INDEX oidc_refresh_tokens_by_code ON oidc_refresh_tokens (code_hash);
CREATE INDEX oidc_refresh_tokens_by_session ON oidc_refresh_tokens (session_id);
CREATE INDEX oidc_refresh_tokens_by_account ON oidc_refresh_tokens (account_id);
CREATE INDEX oidc_refresh_tokens_by_expiry ON oidc_refresh_tokens (expires_at);
CREATE INDEX oidc_access_tokens_by_account ON oidc_access_tokens (account_id);
