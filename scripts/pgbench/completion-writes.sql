\set a random(1, 1500)
WITH step AS (UPDATE two_factor SET last_step = last_step + 1 WHERE account_id = 'acct' || :a AND secret IS NOT NULL AND last_step < 9000000000 RETURNING account_id),
session AS (INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent) SELECT md5(random()::text), 'acct' || :a, decode(md5(random()::text), 'hex'), 1, 1, 2, '127.0.0.1', 'agent' FROM step RETURNING account_id),
recorded AS (INSERT INTO security_events (account_id, actor_id, kind, at, ip, user_agent, details, workspace_id) SELECT 'acct' || :a, NULL, 'sign_in_succeeded', 1, '127.0.0.1', 'agent', '{"method":"totp"}', NULL FROM step)
SELECT (SELECT COUNT(*) FROM step), (SELECT COUNT(*) FROM session), (SELECT COUNT(*) FROM recovery_codes WHERE account_id = 'acct' || :a);
