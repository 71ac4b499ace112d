//! Answering a sign-in challenge on PostgreSQL: one read for everything the answer needs, and
//! one transaction (one commit) for everything a right answer changes.

use super::{journal, PostgresStore};
use crate::domain::ids::TokenHash;
use crate::store::rows::ChallengeContextRow;
use crate::store::{
    notifies, AfterPassword, ChallengeContext, Completion, CounterClaim, Journal,
    PasswordSettlement, RecoveryFollowUp, SignInCompletion, SpentFactor, StoreError,
};

/// The last column of the one-statement completion when the counter is claimed: raises
/// `DB001` (see migration 0008), aborting the statement, when the challenge was consumed
/// but the claim failed.
const GUARD: &str =
    "(SELECT counter_moved() FROM challenge WHERE NOT EXISTS (SELECT 1 FROM claim))";

/// Whether `error` is the abort raised by [`GUARD`].
fn counter_moved(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("DB001"))
}

impl PostgresStore {
    pub(super) async fn read_challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        let row: Option<ChallengeContextRow> = sqlx::query_as(
            "SELECT c.account_id, c.expires_at, c.failures,
                    a.id, a.email, a.name, a.password_hash, a.is_admin, a.created_at,
                    a.last_sign_in_at,
                    t.key_id, t.secret, t.enabled_at, COALESCE(t.last_step, -1) AS last_step,
                    t.pending_key_id, t.pending_secret, t.pending_expires_at,
                    k.failures AS k_failures, k.window_start AS k_window_start,
                    k.locked_until AS k_locked_until,
                    (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = c.account_id)
                        AS recovery_codes_remaining
             FROM challenges c JOIN accounts a ON a.id = c.account_id
             LEFT JOIN two_factor t ON t.account_id = c.account_id
             LEFT JOIN throttle_counters k ON k.key = $2 || c.account_id
             WHERE c.token_hash = $1",
        )
        .bind(&token.0)
        .bind(counter_prefix)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ChallengeContext::from))
    }

    /// The hot path, a code with nothing to notify: one statement, so one round trip and
    /// one commit. Each part runs only if the one before it changed its row; a step accepted
    /// for a challenge that another request used up meanwhile stays used.
    async fn complete_with_step(
        &self,
        completion: &SignInCompletion<'_>,
        step: i64,
        secret: &[u8],
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        let new = completion.session;
        let session = &new.session;
        // The counter: cleared after a counted attempt; else claimed by a compare-and-swap
        // (from "none" by inserting a row of no failures, from a value by deleting exactly
        // it), and when the claim fails the whole statement aborts: the step stays unspent.
        let (claim, granted, guard) = match completion.counter {
            CounterClaim::Counted => (
                "DELETE FROM throttle_counters
                 WHERE key = $5 AND EXISTS (SELECT 1 FROM challenge) RETURNING key",
                "challenge",
                "NULL::bigint",
            ),
            CounterClaim::Unchanged(None) => (
                "INSERT INTO throttle_counters (key, failures, window_start, locked_until)
                 SELECT $5, 0, $4, 0 FROM challenge ON CONFLICT (key) DO NOTHING RETURNING key",
                "claim",
                GUARD,
            ),
            CounterClaim::Unchanged(Some(_)) => (
                "DELETE FROM throttle_counters
                 WHERE key = $5 AND failures = $20 AND window_start = $21 AND locked_until = $22
                   AND EXISTS (SELECT 1 FROM challenge) RETURNING key",
                "claim",
                GUARD,
            ),
        };
        let events_select = journal::unnested_events(11);
        let events_select = &events_select;
        let sql = format!(
            "WITH step AS (
                 UPDATE two_factor SET last_step = $3
                 WHERE account_id = $2 AND secret = $19 AND last_step < $3
                 RETURNING account_id),
             challenge AS (
                 DELETE FROM challenges
                 WHERE token_hash = $1 AND account_id = $2 AND expires_at > $4
                   AND EXISTS (SELECT 1 FROM step)
                 RETURNING account_id),
             claim AS ({claim}),
             session AS (
                 INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at,
                                       expires_at, ip, user_agent)
                 SELECT $6, $2, $7, $4, $4, $8, $9, $10 FROM {granted}
                 RETURNING account_id),
             signed_in AS (
                 UPDATE accounts SET last_sign_in_at = $4
                 WHERE id = $2 AND EXISTS (SELECT 1 FROM {granted})),
             recorded AS (
                 INSERT INTO security_events {EVENT_COLUMNS}
                 {events} WHERE EXISTS (SELECT 1 FROM {granted}))
             SELECT (SELECT COUNT(*) FROM step), (SELECT COUNT(*) FROM session),
                    (SELECT COUNT(*) FROM recovery_codes WHERE account_id = $2), {guard}",
            EVENT_COLUMNS = journal::EVENT_COLUMNS,
            events = events_select,
        );
        let query = sqlx::query_as(&sql)
            .bind(&completion.challenge.0)
            .bind(session.account_id.as_str())
            .bind(step)
            .bind(completion.now.0)
            .bind(completion.throttle_key)
            .bind(session.id.as_str())
            .bind(&new.token_hash.0)
            .bind(session.expires_at.0)
            .bind(&session.ip)
            .bind(&session.user_agent);
        let mut query = journal::bind_events(query, journal.events).bind(secret);
        if let CounterClaim::Unchanged(Some(counter)) = completion.counter {
            query = query
                .bind(i64::from(counter.failures))
                .bind(counter.window_start.0)
                .bind(counter.locked_until.0);
        }
        let outcome: Result<(i64, i64, i64, Option<i64>), sqlx::Error> =
            query.fetch_one(&self.pool).await;
        let (stepped, signed_in, remaining, _) = match outcome {
            Err(error) if counter_moved(&error) => return Ok(Completion::CounterMoved),
            outcome => outcome?,
        };
        Ok(match (stepped, signed_in) {
            (0, _) => Completion::FactorRefused,
            (_, 0) => Completion::ChallengeGone,
            _ => Completion::SignedIn {
                recovery_codes_remaining: u32::try_from(remaining).unwrap_or(0),
            },
        })
    }

    pub(super) async fn complete_sign_in_now(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        if let (SpentFactor::Step { step, secret }, RecoveryFollowUp::Nothing) =
            (completion.factor, completion.follow_up)
        {
            let quiet = !journal.events.iter().any(|e| notifies(e, journal.channels));
            if quiet {
                return self
                    .complete_with_step(completion, step, secret, journal)
                    .await;
            }
        }
        let new = completion.session;
        let session = &new.session;
        let account = session.account_id.as_str();
        let now = completion.now.0;
        let mut tx = self.pool.begin().await?;
        let spent = match completion.factor {
            // Security: the conditional update decides, so of two requests (on any nodes)
            // with the same code only one is accepted.
            SpentFactor::Step { step, secret } => sqlx::query(
                "UPDATE two_factor SET last_step = $2
                 WHERE account_id = $1 AND secret = $3 AND last_step < $2",
            )
            .bind(account)
            .bind(step)
            .bind(secret),
            SpentFactor::RecoveryCode(hash) => {
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1 AND code_hash = $2")
                    .bind(account)
                    .bind(hash)
            }
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            return Ok(Completion::FactorRefused);
        }
        let consumed = sqlx::query(
            "DELETE FROM challenges WHERE token_hash = $1 AND account_id = $2 AND expires_at > $3",
        )
        .bind(&completion.challenge.0)
        .bind(account)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if consumed != 1 {
            return Ok(Completion::ChallengeGone);
        }
        match completion.follow_up {
            RecoveryFollowUp::Nothing => {}
            RecoveryFollowUp::DisableTwoFactor => {
                sqlx::query("DELETE FROM two_factor WHERE account_id = $1")
                    .bind(account)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
                    .bind(account)
                    .execute(&mut *tx)
                    .await?;
            }
            RecoveryFollowUp::AddCode(hash) => {
                sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
                    .bind(account)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let claimed = match completion.counter {
            CounterClaim::Counted => {
                sqlx::query("DELETE FROM throttle_counters WHERE key = $1")
                    .bind(completion.throttle_key)
                    .execute(&mut *tx)
                    .await?;
                true
            }
            CounterClaim::Unchanged(None) => {
                sqlx::query(
                    "INSERT INTO throttle_counters (key, failures, window_start, locked_until)
                     VALUES ($1, 0, $2, 0) ON CONFLICT (key) DO NOTHING",
                )
                .bind(completion.throttle_key)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
            CounterClaim::Unchanged(Some(counter)) => {
                sqlx::query(
                    "DELETE FROM throttle_counters
                     WHERE key = $1 AND failures = $2 AND window_start = $3 AND locked_until = $4",
                )
                .bind(completion.throttle_key)
                .bind(i64::from(counter.failures))
                .bind(counter.window_start.0)
                .bind(counter.locked_until.0)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
        };
        if !claimed {
            // Dropping the transaction rolls back the spent factor too.
            return Ok(Completion::CounterMoved);
        }
        super::insert_session(&mut tx, new).await?;
        let remaining: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1")
                .bind(account)
                .fetch_one(&mut *tx)
                .await?;
        let remaining = u32::try_from(remaining).unwrap_or(0);
        journal::append_all(&mut tx, journal).await?;
        tx.commit().await?;
        Ok(Completion::SignedIn {
            recovery_codes_remaining: remaining,
        })
    }

    /// A right password: one statement when nothing notifies anyone (the usual case), else
    /// one transaction.
    pub(super) async fn settle_password_now(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        let quiet = !journal.events.iter().any(|e| notifies(e, journal.channels));
        if !quiet {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM throttle_counters WHERE key = $1")
                .bind(settle.clear)
                .execute(&mut *tx)
                .await?;
            sqlx::query(super::REFUND_FAILURE)
                .bind(settle.refund)
                .execute(&mut *tx)
                .await?;
            match settle.then {
                AfterPassword::Session(new) => super::insert_session(&mut tx, new).await?,
                AfterPassword::Challenge {
                    token,
                    account,
                    expires_at,
                } => {
                    sqlx::query(super::INSERT_CHALLENGE)
                        .bind(&token.0)
                        .bind(account.as_str())
                        .bind(expires_at.0)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            journal::append_all(&mut tx, journal).await?;
            tx.commit().await?;
            return Ok(());
        }
        let then = match settle.then {
            AfterPassword::Session(_) => {
                "started AS (
                     INSERT INTO sessions (id, account_id, token_hash, created_at, last_seen_at,
                                           expires_at, ip, user_agent)
                     VALUES ($3, $4, $5, $6, $7, $8, $9, $10)),
                 signed_in AS (UPDATE accounts SET last_sign_in_at = $6 WHERE id = $4)"
            }
            AfterPassword::Challenge { .. } => {
                "started AS (
                     INSERT INTO challenges (token_hash, account_id, expires_at, failures)
                     VALUES ($3, $4, $5, 0))"
            }
        };
        let first_event = match settle.then {
            AfterPassword::Session(_) => 11,
            AfterPassword::Challenge { .. } => 6,
        };
        let sql = format!(
            "WITH cleared AS (DELETE FROM throttle_counters WHERE key = $1),
             refunded AS (
                 UPDATE throttle_counters SET failures = failures - 1
                 WHERE key = $2 AND failures > 0),
             {then},
             recorded AS (INSERT INTO security_events {columns} {events})
             SELECT 1::bigint",
            columns = journal::EVENT_COLUMNS,
            events = journal::unnested_events(first_event),
        );
        let query = sqlx::query_as::<_, (i64,)>(&sql)
            .bind(settle.clear)
            .bind(settle.refund);
        let query = match settle.then {
            AfterPassword::Session(new) => query
                .bind(new.session.id.as_str())
                .bind(new.session.account_id.as_str())
                .bind(&new.token_hash.0)
                .bind(new.session.created_at.0)
                .bind(new.session.last_seen_at.0)
                .bind(new.session.expires_at.0)
                .bind(&new.session.ip)
                .bind(&new.session.user_agent),
            AfterPassword::Challenge {
                token,
                account,
                expires_at,
            } => query
                .bind(&token.0)
                .bind(account.as_str())
                .bind(expires_at.0),
        };
        journal::bind_events(query, journal.events)
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }
}
