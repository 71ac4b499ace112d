-- Workspaces, their members and invitations, two-factor enforcement, the instance policy,
-- and workspace-scoped security events.

CREATE TABLE workspaces (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    enforcement       TEXT NOT NULL DEFAULT 'off',
    grace_period_days BIGINT NOT NULL DEFAULT 0,
    enforced_since    BIGINT
);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    joined_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, account_id)
);

CREATE INDEX memberships_by_account ON memberships (account_id);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    invited_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE instance_policy (
    id                 BIGINT PRIMARY KEY CHECK (id = 1),
    require_two_factor TEXT NOT NULL,
    grace_period_days  BIGINT NOT NULL,
    enforced_since     BIGINT,
    source             TEXT NOT NULL
);

ALTER TABLE security_events ADD COLUMN workspace_id TEXT;

CREATE INDEX security_events_by_workspace ON security_events (workspace_id, id);
