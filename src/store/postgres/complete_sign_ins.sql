-- Completes a batch of sign-ins in one statement (completion.rs): every second-factor
-- sign-in on PostgreSQL ends here, whatever its factor.
--
-- Each row of `input` is one right factor, judged in memory against the authenticator read
-- with its challenge: a TOTP code (`step` under `secret`), a recovery code (`recovery`,
-- its keyed hash) or a WebAuthn assertion (`credential`, its `signed` counter, its
-- `ceremony`). A batch never holds two answers for one account. Per item the statement does
-- exactly what a one-item statement does: each part runs only if the part before it changed
-- that item's rows, so one item's refusal changes nothing for the others, and nothing for
-- it but what it spent before the refusal (a step, or a ceremony, stays spent).
--
-- The promises, and the line that keeps each:
-- 1. A code is accepted once, on any node: `step` updates `last_step` only where it is
--    still below the step, under the very secret the code was judged against. Of two
--    statements (on any nodes) with the same step, the row lock makes the second see the
--    first's `last_step` and update nothing. A recovery code is deleted by `used_code`; of
--    two statements deleting it only one finds the row.
-- 2. A challenge completes once: `challenge` deletes it (live, of this account); of two
--    answers to one challenge only one delete finds the row.
-- 3. No wrong answer goes uncounted, and a success erases no failure it did not see. A
--    right answer was judged without being counted, against the failure counter as read
--    with its challenge (NULL `failures`: no failures, which is also what a ticket
--    assumes). `moved` compares: an item whose counter no longer reads so changes nothing
--    and is answered CounterMoved; the flow then counts it first like any attempt
--    (`counted` = true) and runs it again, clearing the counter instead. From "no
--    failures" there is nothing to clear, so nothing is written: a failure another answer
--    counts meanwhile stays counted. From a value, `claimed_from_value` deletes exactly
--    that value by compare-and-swap; if the challenge was consumed but that claim lost a
--    race after `moved` was checked, `counter_moved()` raises SQLSTATE DB001 and the whole
--    statement rolls back; completion.rs then runs each item alone.
-- 4. A session exists only for a granted item, with its events, in the same commit (its
--    `sign_in_succeeded` event is also the account's last sign-in; nothing else about the
--    account is written). What a granted item may need besides (a recovery code's
--    follow-up, the deliveries of an event that notifies someone) runs after this statement
--    in the same transaction (completion.rs), using the event ids returned here.
--
-- A part that only some factors use first asks whether the item carries its column
-- (`i.recovery IS NOT NULL`, say), a test on the batch's own rows: it would match nothing
-- without it, but this way a batch of TOTP codes never probes the tables of the others.
--
-- Every table is also matched with `= ANY(array)`: the plan PostgreSQL keeps for this
-- statement cannot know the batch size, and the array lets it reach rows through their
-- keys' indexes instead of scanning and hashing whole tables.
--
-- $1–$16 and $26–$32: one array per item column (below; `step` and `secret` are NULL for a
-- recovery code, `recovery` for a TOTP code, and all three for a wrong code, whose
-- `fail_*` columns hold the counter to store, and for a WebAuthn assertion, whose
-- `credential`, `signed` counter and `ceremony` are NULL otherwise); $17: each event's item
-- position (from 1); $18–$25: the events' columns, bound by journal::bind_events.
--
-- A wrong code judged from a challenge ticket is an item too (`failed`): counted here, from
-- "no failures", so that a right code and a wrong one take one path at one cost, and a
-- counter that holds failures (a lock, say) answers both alike (`moved`).
WITH input AS MATERIALIZED (
    SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::int8[], $4::bytea[], $5::int8[],
                         $6::text[], $7::bool[], $8::int8[], $9::int8[], $10::int8[],
                         $11::text[], $12::bytea[], $13::int8[], $14::text[], $15::text[],
                         $16::bytea[], $26::int8[], $27::int8[], $28::int8[], $29::text[],
                         $30::int8[], $31::text[], $32::bytea[])
        WITH ORDINALITY AS i(challenge, account, step, secret, now, key, counted, failures,
                             window_start, locked_until, session_id, session_token,
                             expires_at, ip, user_agent, recovery, fail_failures,
                             fail_window_start, fail_locked_until, credential, signed,
                             second_amr, ceremony, idx)),
-- Promise 3: items whose counter is no longer the value read (only uncounted items).
moved AS MATERIALIZED (
    SELECT i.idx FROM input i
    LEFT JOIN LATERAL (SELECT * FROM throttle_counters k WHERE k.key = i.key OFFSET 0) k ON TRUE
    WHERE NOT i.counted
      AND CASE WHEN i.failures IS NULL
               -- Claimed from "no failures": no counter, or one that counts none.
               THEN COALESCE(k.failures, 0) > 0
               ELSE (k.failures, k.window_start, k.locked_until)
                    IS DISTINCT FROM (i.failures, i.window_start, i.locked_until)
          END),
live AS MATERIALIZED (
    SELECT i.* FROM input i WHERE i.idx NOT IN (SELECT idx FROM moved)),
-- The challenge is still there (it is consumed below, after the step).
open AS MATERIALIZED (
    SELECT i.idx FROM live i
    WHERE EXISTS (
        SELECT 1 FROM challenges c
        WHERE c.token_hash = ANY($1) AND c.token_hash = i.challenge
          AND c.account_id = i.account AND c.expires_at > i.now)),
-- Promise 1, for a TOTP code.
step AS (
    UPDATE two_factor t SET last_step = i.step FROM live i
    WHERE t.account_id = ANY($2) AND t.account_id = i.account AND i.recovery IS NULL
      AND t.secret = i.secret AND t.last_step < i.step AND i.idx IN (SELECT idx FROM open)
    RETURNING i.idx),
-- Promise 1, for a recovery code.
used_code AS (
    DELETE FROM recovery_codes r USING live i
    WHERE i.recovery IS NOT NULL AND r.account_id = ANY($2) AND r.account_id = i.account
      AND r.code_hash = i.recovery AND i.idx IN (SELECT idx FROM open)
    RETURNING i.idx),
-- Promise 1, for a security key or passkey: its ceremony (read when the answer was judged,
-- of this account) is deleted here; of two statements deleting it only one finds the row.
-- Then its signature counter moves forward, once (or stays 0 for a key that keeps none).
ceremony AS (
    DELETE FROM webauthn_ceremonies e USING live i
    WHERE i.ceremony IS NOT NULL AND e.id_hash = i.ceremony AND e.purpose = 'second_factor'
      AND e.account_id = i.account AND e.expires_at > i.now
      AND i.idx IN (SELECT idx FROM open)
    RETURNING i.idx),
key_used AS (
    UPDATE webauthn_credentials w SET counter = i.signed, last_used_at = i.now FROM live i
    WHERE w.id = i.credential AND w.account_id = i.account
      AND (w.counter < i.signed OR (w.counter = 0 AND i.signed = 0))
      AND i.idx IN (SELECT idx FROM ceremony)
    RETURNING i.idx),
spent AS (
    SELECT idx FROM step UNION ALL SELECT idx FROM used_code
    UNION ALL SELECT idx FROM key_used),
-- Promise 2.
challenge AS (
    DELETE FROM challenges c USING input i
    WHERE c.token_hash = ANY($1) AND c.token_hash = i.challenge
      AND c.account_id = i.account AND c.expires_at > i.now
      AND i.idx IN (SELECT idx FROM spent)
    RETURNING i.idx, c.first_factor),
-- Promise 3: a counted attempt clears the counter; one claimed from a value swaps it.
cleared AS (
    DELETE FROM throttle_counters k USING input i
    WHERE k.key = ANY($6) AND k.key = i.key AND i.counted
      AND i.idx IN (SELECT idx FROM challenge)),
claimed_from_value AS (
    DELETE FROM throttle_counters k USING input i
    WHERE i.failures IS NOT NULL AND k.key = ANY($6) AND k.key = i.key AND NOT i.counted
      AND k.failures = i.failures
      AND k.window_start = i.window_start AND k.locked_until = i.locked_until
      AND i.idx IN (SELECT idx FROM challenge)
    RETURNING k.key),
granted AS (
    SELECT i.* FROM input i
    WHERE i.idx IN (SELECT idx FROM challenge)
      AND (i.counted OR i.failures IS NULL
           OR i.key IN (SELECT key FROM claimed_from_value))),
-- A wrong code: its failure, from "no failures" (promise 3).
failed AS (
    INSERT INTO throttle_counters (key, failures, window_start, locked_until)
    SELECT i.key, i.fail_failures, i.fail_window_start, i.fail_locked_until FROM live i
    WHERE i.fail_failures IS NOT NULL
    ON CONFLICT (key) DO UPDATE
    SET failures = EXCLUDED.failures, window_start = EXCLUDED.window_start,
        locked_until = EXCLUDED.locked_until
    WHERE throttle_counters.failures = 0
    RETURNING key),
-- Promise 4. The session records both factors: the challenge's first, then the second's
-- (`otp` for a code from the authenticator or a recovery code, both one-time passwords;
-- `hwk` or `swk` for a security key or passkey).
session AS (
    INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at, expires_at,
                          ip, user_agent, amr)
    SELECT g.session_id, g.account, g.session_token, g.now, g.now, g.expires_at, g.ip,
           g.user_agent, c.first_factor || ' ' || g.second_amr
    FROM granted g JOIN challenge c ON c.idx = g.idx),
recorded AS (
    INSERT INTO security_events
        (account_id, actor_id, kind, at, ip, user_agent, details, workspace_id)
    SELECT e.account_id, e.actor_id, e.kind, e.at, e.ip, e.user_agent, e.details,
           e.workspace_id
    FROM UNNEST($17::int8[], $18::text[], $19::text[], $20::text[], $21::int8[],
                $22::text[], $23::text[], $24::text[], $25::text[])
        WITH ORDINALITY AS e(item, account_id, actor_id, kind, at, ip, user_agent, details,
                             workspace_id, n)
    WHERE e.item IN (SELECT idx FROM granted)
    ORDER BY e.n
    RETURNING id, account_id, kind)
-- Per item, in order: moved, open, spent, granted; the recovery codes it had before this
-- statement (all parts of a statement see the same snapshot); the ids and kinds of the
-- events recorded for it; a column that is NULL unless a claim lost its race, when
-- counter_moved() aborts (promise 3); and whether a wrong code's failure was counted.
SELECT i.idx IN (SELECT idx FROM moved),
       i.idx IN (SELECT idx FROM open),
       i.idx IN (SELECT idx FROM spent),
       i.idx IN (SELECT idx FROM granted),
       (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = i.account),
       ARRAY(SELECT r.id FROM recorded r WHERE r.account_id = i.account ORDER BY r.id),
       ARRAY(SELECT r.kind FROM recorded r WHERE r.account_id = i.account ORDER BY r.id),
       (SELECT counter_moved() FROM challenge c JOIN input m ON m.idx = c.idx
        WHERE NOT m.counted AND c.idx NOT IN (SELECT idx FROM granted) LIMIT 1),
       i.key IN (SELECT key FROM failed)
FROM input i
ORDER BY i.idx
