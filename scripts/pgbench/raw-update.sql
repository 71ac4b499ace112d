\set a random(1, 1500)
UPDATE two_factor SET last_step = last_step + 1 WHERE account_id = 'acct' || :a AND last_step < 9000000000;
