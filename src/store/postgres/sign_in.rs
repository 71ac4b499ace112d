//! The statements of a sign-in on PostgreSQL: what a password attempt reads (one statement),
//! settling a right password, and answering a challenge: one read for everything the answer needs
//! (`challenge_read.rs`), and one statement for everything a right answer changes
//! (`completion.rs`), each shared with the other answers of the moment (`batch.rs`).

use async_trait::async_trait;

use super::{challenge_read, completion, journal, PostgresStore};
use crate::domain::account::Account;
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::throttle::Counter;
use crate::store::cache::Write;
use crate::store::rows::{AccountRow, CounterRow};
use crate::store::{
    notifies, AfterPassword, ChallengeContext, Completion, Journal, PasswordAttempt,
    PasswordSettlement, SignInCompletion, SignIns, SpentFactor, StoreError, ACCOUNT_COLUMNS,
};

#[async_trait]
impl SignIns for PostgresStore {
    async fn password_attempt(
        &self,
        address: &str,
        account_key: &str,
        email: Option<&Email>,
    ) -> Result<PasswordAttempt, StoreError> {
        use sqlx::{FromRow, Row};
        // One statement instead of three: each costs PostgreSQL about as much as the rows
        // it reads, and a password sign-in shares the cores with argon2 (BENCHMARKS.md).
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS},
                    k1.failures AS k1_failures, k1.window_start AS k1_window_start,
                    k1.locked_until AS k1_locked_until,
                    k2.failures AS k2_failures, k2.window_start AS k2_window_start,
                    k2.locked_until AS k2_locked_until
             FROM (SELECT 1) AS one
             LEFT JOIN throttle_counters k1 ON k1.key = $1
             LEFT JOIN throttle_counters k2 ON k2.key = $2
             LEFT JOIN accounts a ON a.email = $3"
        ))
        .bind(address)
        .bind(account_key)
        .bind(email.map(Email::as_str))
        .fetch_one(&self.pool)
        .await?;
        let counter = |prefix: &str| -> Result<Option<Counter>, sqlx::Error> {
            let column = |name: &str| row.try_get(format!("{prefix}_{name}").as_str());
            Ok(CounterRow::joined(
                column("failures")?,
                column("window_start")?,
                column("locked_until")?,
            ))
        };
        let id: Option<String> = row.try_get("id")?;
        Ok(PasswordAttempt {
            address: counter("k1")?,
            account_counter: counter("k2")?,
            account: match id {
                Some(_) => Some(Account::from(AccountRow::from_row(&row)?)),
                None => None,
            },
        })
    }

    /// One read for everything the answer needs, shared with the other challenges read
    /// meanwhile (`batch.rs`).
    async fn challenge_context(
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
    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError> {
        // A TOTP sign-in only adds a session; a recovery code changes the count (and
        // its follow-up may turn two-factor off).
        let spent_code = matches!(completion.factor, SpentFactor::RecoveryCode(_));
        self.cache
            .write_if(
                Write::CompleteSignIn,
                async {
                    self.batcher
                        .complete(completion::Item::new(completion, journal))
                        .await
                },
                move |done| spent_code && matches!(done, Completion::SignedIn { .. }),
            )
            .await
    }

    /// A second-factor failure judged from a ticket, counted by the completions' statement.
    async fn count_judged_failure(
        &self,
        account: &AccountId,
        key: &str,
        failure: &Counter,
    ) -> Result<bool, StoreError> {
        self.cache
            .write(Write::SwapCounter, async {
                let item = completion::Item::failure(account, key, failure);
                match self.batcher.complete(item).await? {
                    Completion::FailureCounted => Ok(true),
                    Completion::CounterMoved => Ok(false),
                    other => Err(StoreError::Task(format!(
                        "a judged failure was answered {other:?}"
                    ))),
                }
            })
            .await
    }

    /// A right password: one statement when nothing notifies anyone (the usual case), else
    /// one transaction.
    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError> {
        self.cache
            .write(Write::SettlePassword, async {
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
                             INSERT INTO sessions (id, account_id, token_hash, created_at,
                                                   last_seen_at, expires_at, ip, user_agent,
                                                   amr)
                             VALUES ($3, $4, $5, $6, $7, $8, $9, $10, $11))"
                    }
                    AfterPassword::Challenge { .. } => {
                        "started AS (
                         INSERT INTO challenges (token_hash, account_id, expires_at, failures)
                         VALUES ($3, $4, $5, 0))"
                    }
                };
                let first_event = match settle.then {
                    AfterPassword::Session(_) => 12,
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
                        .bind(&new.session.user_agent)
                        .bind(&new.amr),
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
            })
            .await
    }
}
