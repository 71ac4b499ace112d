\set a random(1, 1500)
WITH step AS (UPDATE two_factor SET last_step = last_step + 1 WHERE account_id = 'acct' || :a AND secret IS NOT NULL AND last_step < 9000000000 RETURNING account_id),
claim AS (INSERT INTO throttle_counters (key, failures, window_start, locked_until) SELECT 'sf:' || account_id || random()::text, 0, 1, 0 FROM step ON CONFLICT (key) DO NOTHING RETURNING key),
session AS (INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent) SELECT md5(random()::text), 'acct' || :a, decode(md5(random()::text), 'hex'), 1, 1, 2, '127.0.0.1', 'agent' FROM claim RETURNING account_id),
signed_in AS (UPDATE accounts SET last_sign_in_at = 1 WHERE id = 'acct' || :a AND EXISTS (SELECT 1 FROM claim)),
recorded AS (INSERT INTO security_events (account_id, actor_id, kind, at, ip, user_agent, details, workspace_id) SELECT 'acct' || :a, NULL, 'sign_in_succeeded', 1, '127.0.0.1', 'agent', '{"method":"totp"}', NULL FROM claim)
SELECT (SELECT COUNT(*) FROM step), (SELECT COUNT(*) FROM session), (SELECT COUNT(*) FROM recovery_codes WHERE account_id = 'acct' || :a);
