-- The code exchanges of a batch in one statement (oidc_exchange.rs, through the exchange
-- queue of batch.rs; store/oidc_exchange.rs says what an exchange promises). Each row of
-- `input` is one token request: $1: the code's digest; $2: now; $3: the authenticated
-- client; $4: the request's redirect_uri; $5: the S256 challenge of the presented verifier;
-- $6, $7: the access token's digest and expiry; $8, $9: the refresh token's; $10, $11: the
-- request's address and user agent, for the event. Per item the statement does exactly what
-- a one-item statement does, and one item's refusal changes nothing for it and nothing for
-- the others: each part after `spent` reads only the items that part before it kept.
--
-- 1. `spent` spends each code: of two statements (on any nodes) spending it, the row lock
--    makes the second see `spent_at` set and update nothing (that item then returns no row,
--    and the caller marks the code reused). The locks are held until this statement
--    commits, so a reuse's mark, and its revocation of what the code issued, come after the
--    tokens below are committed. A batch never holds two exchanges of one code (the queue
--    keys them by code); were it to, the update changes the row once, for one of them, and
--    returns only that one (the other is answered as a reuse).
-- 2. `judged` reads each spent code's account and whether its session lives, in this
--    snapshot.
-- 3. `granted` keeps an item only when nothing refuses it: these conditions are
--    `Refusal::of`'s, which the caller applies to what this returns to name a refusal
--    (`issued` says what this decided; the two must agree).
--    The challenge is compared in the clear (it was public in the authorization request).
-- 4. The access token, the refresh token (scope `offline_access`) and the event are
--    inserted only for a granted item. Every data-modifying part runs, referenced or not.
--
-- Every table is reached by key (`= ANY(array)`, or `LATERAL … OFFSET 0`): the plan
-- PostgreSQL keeps for this statement cannot know the batch size.
WITH input AS MATERIALIZED (
    SELECT * FROM UNNEST($1::bytea[], $2::int8[], $3::text[], $4::text[], $5::text[],
                         $6::bytea[], $7::int8[], $8::bytea[], $9::int8[], $10::text[],
                         $11::text[])
        WITH ORDINALITY AS i(code, now, client, redirect, challenge, access_hash,
                             access_expires, refresh_hash, refresh_expires, ip, user_agent,
                             idx)),
spent AS (
    UPDATE oidc_codes c SET spent_at = i.now FROM input i
    WHERE c.code_hash = ANY($1) AND c.code_hash = i.code
      AND c.spent_at IS NULL AND c.expires_at > i.now
    RETURNING i.idx, c.code_hash, c.client_id, c.account_id, c.session_id, c.redirect_uri,
              c.scope, c.code_challenge, c.nonce, c.auth_time, c.amr, c.access, c.deadline,
              c.workspace_role, c.created_at, c.expires_at),
judged AS (
    SELECT s.*, a.email, a.name, a.email_verified_at, a.suspended_at,
           EXISTS (SELECT 1 FROM sessions x WHERE x.id = s.session_id) AS session_live
    FROM spent s
    LEFT JOIN LATERAL (SELECT * FROM accounts a WHERE a.id = s.account_id OFFSET 0) a
        ON TRUE),
granted AS (
    SELECT j.idx, j.code_hash, j.client_id, j.account_id, j.session_id, j.scope,
           j.auth_time, j.amr, j.access, j.deadline, j.workspace_role, i.now,
           i.access_hash, i.access_expires, i.refresh_hash, i.refresh_expires, i.ip,
           i.user_agent
    FROM judged j JOIN input i ON i.idx = j.idx
    WHERE j.client_id = i.client AND j.redirect_uri = i.redirect
      AND j.code_challenge IS NOT DISTINCT FROM i.challenge
      AND j.email IS NOT NULL AND j.suspended_at IS NULL AND j.session_live),
access AS (
    INSERT INTO oidc_access_tokens (token_hash, code_hash, client_id, account_id,
        session_id, scope, auth_time, amr, access, deadline, workspace_role, created_at,
        expires_at)
    SELECT access_hash, code_hash, client_id, account_id, session_id, scope, auth_time, amr,
           access, deadline, workspace_role, now, access_expires
    FROM granted),
refresh AS (
    INSERT INTO oidc_refresh_tokens (token_hash, code_hash, client_id, account_id,
        session_id, scope, auth_time, amr, access, deadline, workspace_role, created_at,
        expires_at)
    SELECT refresh_hash, code_hash, client_id, account_id, session_id, scope, auth_time,
           amr, access, deadline, workspace_role, now, refresh_expires
    FROM granted WHERE 'offline_access' = ANY (string_to_array(scope, ' '))),
event AS (
    INSERT INTO security_events (account_id, actor_id, kind, at, ip, user_agent, details,
        workspace_id)
    SELECT account_id, NULL, 'oidc_tokens_issued', now, ip, user_agent,
           jsonb_build_object('client_id', client_id, 'scope', scope)::text, NULL
    FROM granted ORDER BY idx)
SELECT judged.*, judged.idx IN (SELECT idx FROM granted) AS issued FROM judged
