//! Answering a sign-in challenge on PostgreSQL: one read for everything the answer needs, and
//! one transaction (one commit) for everything a right answer changes.

use super::{batch, journal, PostgresStore};
use crate::domain::ids::TokenHash;
use crate::domain::throttle::Counter;
use crate::store::rows::CounterRow;
use crate::store::{
    notifies, AfterPassword, ChallengeContext, Completion, CounterClaim, Journal,
    PasswordSettlement, RecoveryFollowUp, SignInCompletion, SpentFactor, StoreError,
};

impl PostgresStore {
    /// One read for everything the answer needs, shared with the other challenges read
    /// meanwhile (`batch.rs`).
    pub(super) async fn read_challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        let read = batch::Read {
            token: token.0.clone(),
            counter_prefix: counter_prefix.to_owned(),
        };
        self.batcher.read(read).await
    }

    /// The hot path, a code with nothing to notify: one statement, so one round trip and
    /// one commit, shared with the other right codes answered meanwhile (`batch.rs`).
    async fn complete_with_step(
        &self,
        completion: &SignInCompletion<'_>,
        step: i64,
        secret: &[u8],
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        let item = batch::Item::new(completion, step, secret, journal.events);
        self.batcher.complete(item).await
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
        // Checked first (without locking, as in batch.rs): an answer whose counter moved, or
        // whose challenge is gone, ends the same way whatever its factor. The changes below
        // still decide, each by its own condition.
        if let CounterClaim::Unchanged(expected) = completion.counter {
            let current: Option<CounterRow> = sqlx::query_as(
                "SELECT failures, window_start, locked_until FROM throttle_counters WHERE key = $1",
            )
            .bind(completion.throttle_key)
            .fetch_optional(&mut *tx)
            .await?;
            if current.map(Counter::from) != expected.copied() {
                return Ok(Completion::CounterMoved);
            }
        }
        let open: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM challenges
                            WHERE token_hash = $1 AND account_id = $2 AND expires_at > $3)",
        )
        .bind(&completion.challenge.0)
        .bind(account)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if !open {
            return Ok(Completion::ChallengeGone);
        }
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
