-- API tokens (SPEC §14): bearer credentials for scripts, by keyed hash only (HMAC-SHA256
-- under the instance key). A token lives until `expires_at` or until revoked (deleted): by
-- its owner, or with the account's other credentials by an admin reset, a password reset,
-- two-factor turned off, or a suspension. `last_used_at` is NULL until first use, which one
-- conditional update claims (the `api_token_first_used` event), then moves at most once a
-- minute.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash   BLOB NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER
) STRICT;

CREATE INDEX api_tokens_by_account ON api_tokens (account_id, created_at);
