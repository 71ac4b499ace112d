//! Answering a sign-in challenge on PostgreSQL: one read for everything the answer needs
//! (`challenge_read.rs`), and one statement for everything a right answer changes
//! (`completion.rs`), each shared with the other answers of the moment (`batch.rs`).

use super::{challenge_read, completion, journal, PostgresStore};
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::throttle::Counter;
use crate::store::{
    notifies, AfterPassword, ChallengeContext, Completion, Journal, PasswordSettlement,
    SignInCompletion, StoreError,
};

impl PostgresStore {
    /// One read for everything the answer needs, shared with the other challenges read
    /// meanwhile (`batch.rs`).
    pub(super) async fn read_challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError> {
        let read = challenge_read::Read {
            token: token.0.clone(),
            counter_prefix: counter_prefix.to_owned(),
        };
        self.batcher.read(read).await
    }

    /// Every second-factor completion, whatever its factor: one statement shared with the
    /// other completions answered meanwhile, and its follow-ups in the same transaction when
    /// it has any (`completion.rs`).
    pub(super) async fn complete_sign_in_now(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        self.batcher
            .complete(completion::Item::new(completion, journal))
            .await
    }

    /// A second-factor failure judged from a ticket, counted by the completions' statement.
    pub(super) async fn count_judged_failure_now(
        &self,
        account: &AccountId,
        key: &str,
        failure: &Counter,
    ) -> Result<bool, StoreError> {
        let item = completion::Item::failure(account, key, failure);
        match self.batcher.complete(item).await? {
            Completion::FailureCounted => Ok(true),
            Completion::CounterMoved => Ok(false),
            other => Err(StoreError::Task(format!(
                "a judged failure was answered {other:?}"
            ))),
        }
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
