//! The code exchange on PostgreSQL: the exchanges arriving on this node at about the same
//! time share one statement (`exchange_codes.sql`, which says why it keeps each promise),
//! through the exchange queue of `batch.rs`; for a code spent before, the reuse's mark and
//! revocation follow in a transaction of their own.
//!
//! **Each exchange ends as it would alone.** Per item, the statement does what the
//! one-item statement does; a batch never holds two exchanges of one code (the queue keys
//! them by code: the second waits for the next batch). A batch that PostgreSQL aborted to
//! break a deadlock (two nodes' batches spending the same codes in another order) changed
//! nothing; each of its items is then run again alone.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::PgConnection;

use super::batch::{fail_all, Lane, Lease, Queued};
use super::PostgresStore;
use crate::store::cache::Write;
use crate::store::oidc::GrantRow;
use crate::store::oidc_exchange::{offline, CodeExchange, Exchange, Refusal, Subject};
use crate::store::{OidcExchanges, OidcGrant, StoreError};

const EXCHANGE_ALL: &str = include_str!("exchange_codes.sql");

/// What the exchange read of a spent code: the code, and its account and session.
#[derive(sqlx::FromRow)]
pub(super) struct JudgedRow {
    /// The item's position in its batch (from 1).
    idx: i64,
    #[sqlx(flatten)]
    grant: GrantRow,
    email: Option<String>,
    name: Option<String>,
    email_verified_at: Option<i64>,
    suspended_at: Option<i64>,
    session_live: bool,
    /// Whether the statement issued tokens.
    issued: bool,
}

impl JudgedRow {
    /// The grant, and its account when there is one.
    fn split(self) -> (OidcGrant, Option<Subject>) {
        let subject = self.email.map(|email| Subject {
            email,
            email_verified: self.email_verified_at.is_some(),
            name: self.name,
            suspended: self.suspended_at.is_some(),
        });
        (self.grant.into(), subject)
    }
}

/// One exchange waiting in the queue, keyed by its code.
pub(super) struct Job {
    code: String,
    exchange: CodeExchange,
}

impl Job {
    pub(super) fn new(exchange: &CodeExchange) -> Job {
        let code = exchange
            .code_hash
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Job {
            code,
            exchange: exchange.clone(),
        }
    }
}

/// Code exchanges: one per code in a batch.
pub(super) struct Exchanges;

impl Lane for Exchanges {
    type Job = Job;
    type Outcome = Result<Option<JudgedRow>, StoreError>;
    fn key(job: &Job) -> Option<&str> {
        Some(&job.code)
    }
    async fn run(mut lease: Lease, batch: Vec<Queued<Job, Self::Outcome>>) -> Lease {
        run(&mut lease, batch).await;
        lease
    }
}

/// Runs one batch and answers each exchange: what the statement read of its code, or
/// `None` when it spent none; a batch aborted by a deadlock is run again item by item.
async fn run(lease: &mut Lease, batch: Vec<Queued<Job, <Exchanges as Lane>::Outcome>>) {
    let jobs: Vec<&CodeExchange> = batch.iter().map(|q| &q.job.exchange).collect();
    match async { exchange_all(lease.connection().await?, &jobs).await }.await {
        Ok(mut judged) => {
            for (queued, idx) in batch.into_iter().zip(1i64..) {
                let _ = queued.reply.send(Ok(judged.remove(&idx)));
            }
        }
        Err(error) if jobs.len() > 1 && deadlocked(&error) => {
            lease
                .run_alone(batch, |pool, job| async move {
                    let mut connection = pool.acquire().await?;
                    let mut judged = exchange_all(&mut connection, &[&job.exchange]).await?;
                    Ok(judged.remove(&1))
                })
                .await;
        }
        Err(error) => {
            lease.release();
            fail_all(batch, "code exchange", error);
        }
    }
}

/// Whether PostgreSQL aborted the statement to break a deadlock (it changed nothing).
fn deadlocked(error: &StoreError) -> bool {
    match error {
        StoreError::Backend(sqlx::Error::Database(db)) => db.code().as_deref() == Some("40P01"),
        _ => false,
    }
}

/// Runs `exchange_codes.sql` for `jobs`: what it read of each code it spent, by position.
async fn exchange_all(
    connection: &mut PgConnection,
    jobs: &[&CodeExchange],
) -> Result<HashMap<i64, JudgedRow>, StoreError> {
    fn column<T>(jobs: &[&CodeExchange], f: impl Fn(&CodeExchange) -> T) -> Vec<T> {
        jobs.iter().map(|job| f(job)).collect()
    }
    let rows: Vec<JudgedRow> = sqlx::query_as(EXCHANGE_ALL)
        .bind(column(jobs, |j| j.code_hash.0.clone()))
        .bind(column(jobs, |j| j.now.0))
        .bind(column(jobs, |j| j.client_id.clone()))
        .bind(column(jobs, |j| j.redirect_uri.clone()))
        .bind(column(jobs, |j| j.challenge.clone()))
        .bind(column(jobs, |j| j.access_token.0.clone()))
        .bind(column(jobs, |j| j.access_expires_at.0))
        .bind(column(jobs, |j| j.refresh_token.0.clone()))
        .bind(column(jobs, |j| j.refresh_expires_at.0))
        .bind(column(jobs, |j| j.ip.clone()))
        .bind(column(jobs, |j| j.user_agent.clone()))
        .fetch_all(connection)
        .await?;
    Ok(rows.into_iter().map(|row| (row.idx, row)).collect())
}

#[async_trait]
impl OidcExchanges for PostgresStore {
    async fn exchange_oidc_code(&self, exchange: &CodeExchange) -> Result<Exchange, StoreError> {
        // Publishes only a reuse (it revokes what the code issued, which nodes may remember);
        // a plain exchange adds tokens no node knows yet.
        self.cache
            .write_if(
                Write::ExchangeOidcCode,
                async {
                    let Some(judged) = self.batcher.exchange(Job::new(exchange)).await? else {
                        return self.reused(exchange).await;
                    };
                    let (session_live, issued) = (judged.session_live, judged.issued);
                    let (grant, subject) = judged.split();
                    let refusal = Refusal::of(&grant, exchange, subject.as_ref(), session_live);
                    match (refusal, subject, issued) {
                        (Some(refusal), _, false) => Ok(Exchange::Refused(refusal)),
                        (None, Some(subject), true) => Ok(Exchange::Issued {
                            refresh: offline(&grant.scope),
                            grant: Box::new(grant),
                            subject,
                        }),
                        _ => Err(StoreError::Schema(
                            "exchange_codes.sql and Refusal::of judged a code differently"
                                .to_owned(),
                        )),
                    }
                },
                |done| matches!(done, Exchange::Reused { .. }),
            )
            .await
    }
}
impl PostgresStore {
    /// A code the exchange did not spend: unknown, or spent before. Marked reused first (an
    /// exchange issuing from it holds its row until it commits, so this waits for it, and
    /// one after finds the code spent), then what it issued is revoked by a second
    /// statement, which sees every token committed before the mark.
    async fn reused(&self, exchange: &CodeExchange) -> Result<Exchange, StoreError> {
        let mut tx = self.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE oidc_codes SET reused_at = COALESCE(reused_at, $2)
             WHERE code_hash = $1 AND spent_at IS NOT NULL",
        )
        .bind(&exchange.code_hash.0)
        .bind(exchange.now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 0 {
            tx.commit().await?;
            return Ok(Exchange::Unknown);
        }
        let revoked =
            super::oidc_refresh::revoke_family(&mut tx, &exchange.code_hash.0, exchange.now.0)
                .await?;
        tx.commit().await?;
        Ok(Exchange::Reused { revoked })
    }
}
