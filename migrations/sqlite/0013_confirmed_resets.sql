-- Lost everything, confirmed (SPEC §11): a reset request carries the marks an admin may
-- require before resetting. `email_confirmed_at` is stamped when the link e-mailed to the
-- account's address is spent (with the token, in one transaction); each owner of a
-- workspace the person belongs to may vouch once per request (the primary key decides
-- between racing vouches). Closing a request keeps its marks.
ALTER TABLE reset_requests ADD COLUMN email_confirmed_at INTEGER;

CREATE TABLE reset_vouches (
    request_id   TEXT NOT NULL REFERENCES reset_requests (id) ON DELETE CASCADE,
    owner_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    PRIMARY KEY (request_id, owner_id)
) STRICT;
