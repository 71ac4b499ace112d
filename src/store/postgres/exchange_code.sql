-- The code exchange in one statement (oidc_exchange.rs; store/oidc_exchange.rs says what
-- it promises). $1: the code's digest; $2: now; $3: the authenticated client; $4: the
-- request's redirect_uri; $5: the S256 challenge of the presented verifier; $6, $7: the
-- access token's digest and expiry; $8, $9: the refresh token's; $10, $11: the request's
-- address and user agent, for the event.
--
-- 1. `spent` spends the code: of two statements (on any nodes) spending it, the row lock
--    makes the second see `spent_at` set and update nothing (it then returns no row, and
--    the caller marks the code reused). The lock is held until this statement commits, so
--    a reuse's mark, and its revocation of what the code issued, come after the tokens
--    below are committed.
-- 2. `judged` reads the code's account and whether its session lives, in this snapshot.
-- 3. `granted` keeps the code only when nothing refuses it: these conditions are
--    `Refusal::of`'s, which the caller applies to what this returns to name a refusal
--    (`issued` says what this decided; the two must agree).
--    The challenge is compared in the clear (it was public in the authorization request).
-- 4. The access token, the refresh token (scope `offline_access`) and the event are
--    inserted only for a granted code. Every data-modifying part runs, referenced or not.
WITH spent AS (
    UPDATE oidc_codes SET spent_at = $2
    WHERE code_hash = $1 AND spent_at IS NULL AND expires_at > $2
    RETURNING code_hash, client_id, account_id, session_id, redirect_uri, scope,
              code_challenge, nonce, auth_time, amr, access, deadline, workspace_role,
              created_at, expires_at),
judged AS (
    SELECT s.*, a.email, a.name, a.email_verified_at, a.suspended_at,
           EXISTS (SELECT 1 FROM sessions x WHERE x.id = s.session_id) AS session_live
    FROM spent s LEFT JOIN accounts a ON a.id = s.account_id),
granted AS (
    SELECT * FROM judged
    WHERE client_id = $3 AND redirect_uri = $4
      AND code_challenge IS NOT DISTINCT FROM $5
      AND email IS NOT NULL AND suspended_at IS NULL AND session_live),
access AS (
    INSERT INTO oidc_access_tokens (token_hash, code_hash, client_id, account_id,
        session_id, scope, auth_time, amr, access, deadline, workspace_role, created_at,
        expires_at)
    SELECT $6, code_hash, client_id, account_id, session_id, scope, auth_time, amr, access,
           deadline, workspace_role, $2, $7
    FROM granted),
refresh AS (
    INSERT INTO oidc_refresh_tokens (token_hash, code_hash, client_id, account_id,
        session_id, scope, auth_time, amr, access, deadline, workspace_role, created_at,
        expires_at)
    SELECT $8, code_hash, client_id, account_id, session_id, scope, auth_time, amr, access,
           deadline, workspace_role, $2, $9
    FROM granted WHERE 'offline_access' = ANY (string_to_array(scope, ' '))),
event AS (
    INSERT INTO security_events (account_id, actor_id, kind, at, ip, user_agent, details,
        workspace_id)
    SELECT account_id, NULL, 'oidc_tokens_issued', $2, $10, $11,
           jsonb_build_object('client_id', client_id, 'scope', scope)::text, NULL
    FROM granted)
SELECT judged.*, EXISTS (SELECT 1 FROM granted) AS issued FROM judged
