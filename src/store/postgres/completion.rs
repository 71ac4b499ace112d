//! Completing second-factor sign-ins on PostgreSQL: every one, whatever its factor, goes
//! through the completion queue of `batch.rs` and ends in the statement of
//! `complete_sign_ins.sql`, which keeps the promises listed there.
//!
//! **Each answer ends as it would alone.** Per item, the statement does exactly what the
//! one-item statement does: each part runs only if the part before it changed that item's
//! row, and a right factor whose counter claim fails aborts the statement through
//! `counter_moved()` (SQLSTATE `DB001`). A batch aborted that way (or by a deadlock, which
//! only answers for one account on two batches at once can cause) changed nothing; each of
//! its items is then run again alone, so only the answer whose counter moved gets
//! [`Completion::CounterMoved`]. A batch never holds two answers for one account: the second
//! waits for the next batch.
//!
//! What only some sign-ins need besides (a recovery code's follow-up: two-factor turned off,
//! or a new code in place of the used one; the deliveries of an event that notifies
//! someone) runs after the statement, in the same transaction, for the granted items only.
//! A batch with none of that is the statement alone, committed by itself.

use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::batch::{fail_all, Lane, Lease, Queued};
use super::{journal, outbox};
use crate::domain::event::{EventKind, NewEvent};
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::throttle::Counter;
use crate::store::{
    notifies, Completion, CounterClaim, Journal, RecoveryFollowUp, SignInCompletion, SpentFactor,
    StoreError,
};

/// One right factor to complete: everything the statement and its follow-ups need, owned so
/// it can wait in the queue.
#[derive(Debug, Clone)]
pub(super) struct Item {
    challenge: Vec<u8>,
    account: String,
    factor: Factor,
    follow_up: FollowUp,
    now: i64,
    key: String,
    /// The attempt was counted first: the counter is cleared, whatever it holds.
    counted: bool,
    /// Claimed from this value; `None` (and not counted) claims it from "no counter".
    claim: Option<(i64, i64, i64)>,
    session_id: String,
    session_token: Vec<u8>,
    /// What the session records of the second factor (`otp`, `hwk`, `swk`).
    second_amr: String,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    events: Vec<NewEvent>,
    channels: Channels,
}

/// The factor to spend, owned; or a wrong one, judged from a ticket, to count.
#[derive(Debug, Clone)]
enum Factor {
    Step {
        step: i64,
        secret: Vec<u8>,
    },
    RecoveryCode(Vec<u8>),
    /// A WebAuthn credential's id, the assertion's signature counter and its ceremony's key.
    WebAuthn {
        credential: String,
        counter: u32,
        ceremony: Option<Vec<u8>>,
    },
    /// Store this counter from "no failures".
    Failure(Counter),
}

/// A recovery code's follow-up, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FollowUp {
    Nothing,
    DisableTwoFactor,
    AddCode(Vec<u8>),
}

impl Item {
    pub(super) fn new(completion: &SignInCompletion<'_>, journal: Journal<'_>) -> Item {
        let session = &completion.session.session;
        let (counted, claim) = match completion.counter {
            CounterClaim::Counted => (true, None),
            CounterClaim::Unchanged(None) => (false, None),
            CounterClaim::Unchanged(Some(c)) => (
                false,
                Some((i64::from(c.failures), c.window_start.0, c.locked_until.0)),
            ),
        };
        let factor = match completion.factor {
            SpentFactor::Step { step, secret } => Factor::Step {
                step,
                secret: secret.to_vec(),
            },
            SpentFactor::RecoveryCode(hash) => Factor::RecoveryCode(hash.to_vec()),
            SpentFactor::WebAuthn {
                credential,
                counter,
                ceremony,
            } => Factor::WebAuthn {
                credential: credential.to_owned(),
                counter,
                ceremony: ceremony.map(|key| key.0.clone()),
            },
        };
        let follow_up = match completion.follow_up {
            RecoveryFollowUp::Nothing => FollowUp::Nothing,
            RecoveryFollowUp::DisableTwoFactor => FollowUp::DisableTwoFactor,
            RecoveryFollowUp::AddCode(hash) => FollowUp::AddCode(hash.to_vec()),
        };
        Item {
            challenge: completion.challenge.0.clone(),
            account: session.account_id.as_str().to_owned(),
            factor,
            follow_up,
            now: completion.now.0,
            key: completion.throttle_key.to_owned(),
            counted,
            claim,
            session_id: session.id.as_str().to_owned(),
            session_token: completion.session.token_hash.0.clone(),
            second_amr: completion.session.amr.clone(),
            expires_at: session.expires_at.0,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            events: journal.events.to_vec(),
            channels: journal.channels,
        }
    }

    /// A wrong code judged from a ticket, to count as `failure` from "no failures" under
    /// `key` (see [`crate::store::Store::count_judged_failure`]).
    pub(super) fn failure(account: &AccountId, key: &str, failure: &Counter) -> Item {
        Item {
            challenge: Vec::new(),
            account: account.as_str().to_owned(),
            factor: Factor::Failure(*failure),
            follow_up: FollowUp::Nothing,
            now: failure.window_start.0,
            key: key.to_owned(),
            counted: false,
            claim: None,
            session_id: String::new(),
            session_token: Vec::new(),
            second_amr: String::new(),
            expires_at: 0,
            ip: None,
            user_agent: None,
            events: Vec::new(),
            channels: Channels::default(),
        }
    }

    /// Whether granting this item changes more than the statement does.
    fn has_follow_ups(&self) -> bool {
        self.follow_up != FollowUp::Nothing
            || self.events.iter().any(|e| notifies(e, self.channels))
    }

    /// The recovery codes left once this item is granted, from those it had before.
    fn codes_left(&self, before: i64) -> u32 {
        let after = match (&self.factor, &self.follow_up) {
            (_, FollowUp::DisableTwoFactor) => 0,
            (Factor::Step { .. } | Factor::WebAuthn { .. } | Factor::Failure(_), _) => before,
            (Factor::RecoveryCode(_), FollowUp::AddCode(_)) => before,
            (Factor::RecoveryCode(_), FollowUp::Nothing) => before - 1,
        };
        u32::try_from(after).unwrap_or(0)
    }
}

/// Right factors to complete: one per account in a batch.
pub(super) struct Completions;

impl Lane for Completions {
    type Job = Item;
    type Outcome = Result<Completion, StoreError>;
    fn key(job: &Item) -> Option<&str> {
        Some(&job.account)
    }
    async fn run(mut lease: Lease, batch: Vec<Queued<Item, Self::Outcome>>) -> Lease {
        run(&mut lease, batch).await;
        lease
    }
}

/// Runs one batch and answers each item; a batch that aborted is run again item by item.
async fn run(lease: &mut Lease, batch: Vec<Queued<Item, <Completions as Lane>::Outcome>>) {
    let items: Vec<&Item> = batch.iter().map(|q| &q.job).collect();
    match async { complete_all(lease.connection().await?, &items).await }.await {
        Ok(outcomes) => {
            for (queued, outcome) in batch.into_iter().zip(outcomes) {
                let _ = queued.reply.send(Ok(outcome));
            }
        }
        Err(error) if items.len() > 1 && rolled_back(&error) => {
            lease
                .run_alone(batch, |pool, item| async move {
                    match complete_all(&mut *pool.acquire().await?, &[&item]).await {
                        Ok(outcomes) => outcomes.into_iter().next().ok_or_else(|| {
                            StoreError::Task("a completion statement answered no row".to_owned())
                        }),
                        Err(error) if counter_moved(&error) => Ok(Completion::CounterMoved),
                        Err(error) => Err(error),
                    }
                })
                .await;
        }
        Err(error) if counter_moved(&error) => {
            for queued in batch {
                let _ = queued.reply.send(Ok(Completion::CounterMoved));
            }
        }
        Err(error) => {
            lease.release();
            fail_all(batch, "completion", error);
        }
    }
}

/// The database's error code, if `error` carries one.
fn code(error: &StoreError) -> Option<String> {
    match error {
        StoreError::Backend(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether `error` is the abort raised when a claimed counter moved (migration 0008).
fn counter_moved(error: &StoreError) -> bool {
    code(error).as_deref() == Some("DB001")
}

/// Whether the statement certainly changed nothing: a counter moved, or PostgreSQL broke a
/// deadlock by aborting it.
fn rolled_back(error: &StoreError) -> bool {
    matches!(code(error).as_deref(), Some("DB001" | "40P01"))
}

/// The statement, with its reasoning: `complete_sign_ins.sql`.
const COMPLETE_ALL: &str = include_str!("complete_sign_ins.sql");

/// What the statement answers for one item: moved, open, spent, granted, the recovery codes
/// before, the ids and kinds of its recorded events, the abort column, and whether its
/// failure was counted.
type Row = (
    bool,
    bool,
    bool,
    bool,
    i64,
    Vec<i64>,
    Vec<String>,
    Option<i64>,
    bool,
);

/// Completes `items` (at most one per account): the statement alone when no item has
/// follow-ups, else the statement and the granted items' follow-ups in one transaction.
/// Their outcomes, in order.
async fn complete_all(
    connection: &mut PgConnection,
    items: &[&Item],
) -> Result<Vec<Completion>, StoreError> {
    let rows = if items.iter().any(|item| item.has_follow_ups()) {
        let mut tx = connection.begin().await?;
        let rows = statement(&mut tx, items).await?;
        for (item, row) in items.iter().zip(&rows) {
            if row.3 {
                follow_up(&mut tx, item, row).await?;
            }
        }
        tx.commit().await?;
        rows
    } else {
        statement(connection, items).await?
    };
    Ok(items
        .iter()
        .zip(rows)
        .map(
            |(item, (moved, open, spent, granted, before, .., failed))| {
                if moved {
                    Completion::CounterMoved
                } else if let Factor::Failure(_) = item.factor {
                    if failed {
                        Completion::FailureCounted
                    } else {
                        Completion::CounterMoved
                    }
                } else if !open {
                    Completion::ChallengeGone
                } else if !spent {
                    Completion::FactorRefused
                } else if !granted {
                    Completion::ChallengeGone
                } else {
                    Completion::SignedIn {
                        recovery_codes_remaining: item.codes_left(before),
                    }
                }
            },
        )
        .collect())
}

/// Runs the statement of `complete_sign_ins.sql` for `items`.
async fn statement(conn: &mut PgConnection, items: &[&Item]) -> Result<Vec<Row>, StoreError> {
    fn column<T>(items: &[&Item], f: impl Fn(&Item) -> T) -> Vec<T> {
        items.iter().map(|item| f(item)).collect()
    }
    let step = |item: &Item| match &item.factor {
        Factor::Step { step, secret } => (Some(*step), Some(secret.clone()), None),
        Factor::RecoveryCode(hash) => (None, None, Some(hash.clone())),
        Factor::WebAuthn { .. } | Factor::Failure(_) => (None, None, None),
    };
    let key = |item: &Item| match &item.factor {
        Factor::WebAuthn {
            credential,
            counter,
            ceremony,
        } => (
            Some(credential.clone()),
            Some(i64::from(*counter)),
            ceremony.clone(),
        ),
        Factor::Step { .. } | Factor::RecoveryCode(_) | Factor::Failure(_) => (None, None, None),
    };
    let failure = |item: &Item| match &item.factor {
        Factor::Failure(counter) => Some(*counter),
        Factor::Step { .. } | Factor::RecoveryCode(_) | Factor::WebAuthn { .. } => None,
    };
    // Each event with the position (from 1) of its item, for `WHERE e.item IN granted`.
    let (positions, events): (Vec<i64>, Vec<&NewEvent>) = items
        .iter()
        .zip(1i64..)
        .flat_map(|(item, n)| item.events.iter().map(move |event| (n, event)))
        .unzip();
    let query = sqlx::query_as(COMPLETE_ALL)
        .bind(column(items, |i| i.challenge.clone()))
        .bind(column(items, |i| i.account.clone()))
        .bind(column(items, |i| step(i).0))
        .bind(column(items, |i| step(i).1))
        .bind(column(items, |i| i.now))
        .bind(column(items, |i| i.key.clone()))
        .bind(column(items, |i| i.counted))
        .bind(column(items, |i| i.claim.map(|c| c.0)))
        .bind(column(items, |i| i.claim.map(|c| c.1)))
        .bind(column(items, |i| i.claim.map(|c| c.2)))
        .bind(column(items, |i| i.session_id.clone()))
        .bind(column(items, |i| i.session_token.clone()))
        .bind(column(items, |i| i.expires_at))
        .bind(column(items, |i| i.ip.clone()))
        .bind(column(items, |i| i.user_agent.clone()))
        .bind(column(items, |i| step(i).2))
        .bind(positions);
    let query = journal::bind_events(query, &events)
        .bind(column(items, |i| failure(i).map(|c| i64::from(c.failures))))
        .bind(column(items, |i| failure(i).map(|c| c.window_start.0)))
        .bind(column(items, |i| failure(i).map(|c| c.locked_until.0)))
        .bind(column(items, |i| key(i).0))
        .bind(column(items, |i| key(i).1))
        .bind(column(items, |i| i.second_amr.clone()))
        .bind(column(items, |i| key(i).2));
    Ok(query.fetch_all(&mut *conn).await?)
}

/// A granted item's follow-ups, in the statement's transaction: its recovery code's
/// follow-up, and the deliveries of its events that notify someone.
async fn follow_up(conn: &mut PgConnection, item: &Item, row: &Row) -> Result<(), StoreError> {
    match &item.follow_up {
        FollowUp::Nothing => {}
        FollowUp::DisableTwoFactor => {
            for table in ["two_factor", "webauthn_credentials", "recovery_codes"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                    .bind(&item.account)
                    .execute(&mut *conn)
                    .await?;
            }
            // SPEC §14: two-factor turned off revokes the API tokens.
            let disabled = item
                .events
                .iter()
                .find(|e| e.kind == EventKind::TwoFactorDisabled);
            if let Some(cause) = disabled {
                super::api_tokens::revoke_all(conn, &item.account, cause).await?;
            }
        }
        FollowUp::AddCode(hash) => {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)")
                .bind(&item.account)
                .bind(hash)
                .execute(&mut *conn)
                .await?;
        }
    }
    let (_, _, _, _, _, ids, kinds, _, _) = row;
    for event in item.events.iter().filter(|e| notifies(e, item.channels)) {
        // An item's events are of distinct kinds.
        let recorded = kinds.iter().position(|kind| kind == event.kind.as_str());
        let Some(&id) = recorded.and_then(|n| ids.get(n)) else {
            return Err(StoreError::Task(format!(
                "the {} event of a granted sign-in was not recorded",
                event.kind.as_str()
            )));
        };
        outbox::enqueue(conn, id, event, item.channels).await?;
    }
    Ok(())
}
