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

-- Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a session ends, by
-- whichever statement deletes it (sign-out, revocation, a password reset, an admin reset,
-- suspension, expiry), each client with a `backchannel_logout_uri` that holds a token
-- issued under it is queued a logout, in the same transaction. The worker signs the logout
-- token when it sends it, and retries a failing receiver like the notification outbox.
-- `next_attempt_at` 0: due at once.
CREATE TABLE oidc_logout_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    uri             TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    abandoned_at    INTEGER
) STRICT;

CREATE INDEX oidc_logout_outbox_due ON oidc_logout_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;

CREATE TRIGGER oidc_backchannel_logout AFTER DELETE ON sessions
BEGIN
    INSERT INTO oidc_logout_outbox
        (client_id, uri, account_id, session_id, next_attempt_at, created_at)
    SELECT c.client_id, c.backchannel_logout_uri, OLD.account_id, OLD.id, 0, OLD.last_seen_at
    FROM oidc_clients c
    WHERE c.backchannel_logout_uri IS NOT NULL
      AND (EXISTS (SELECT 1 FROM oidc_refresh_tokens r
                   WHERE r.session_id = OLD.id AND r.client_id = c.client_id)
           OR EXISTS (SELECT 1 FROM oidc_access_tokens t
                      WHERE t.session_id = OLD.id AND t.client_id = c.client_id));
END;
