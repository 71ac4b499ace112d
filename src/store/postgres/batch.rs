//! Group commit of code sign-ins on PostgreSQL: the right codes answered on this node at about
//! the same time are completed by one statement, in one commit; and the challenges answered
//! at about the same time are read by one statement.
//!
//! What one completion writes (the step spent, the challenge consumed, the failure counter
//! claimed, the session, the account's last sign-in, the audit event) touches six tables and a
//! dozen indexes. PostgreSQL pays most of it per statement, not per row: locking some twenty
//! relations, starting the executor on a plan of a dozen nodes, one commit, one round trip.
//! A statement over arrays pays that once for the whole batch. The same holds, on a smaller
//! scale, for the read of the challenge, its account, authenticator and counter that comes
//! before each answer is judged.
//!
//! Batching never waits for company: when nothing of its queue is running, a job starts a
//! statement at once, and whatever arrives while it runs forms the next batch. One answer
//! alone is one statement, as before; under load the queue fills and batches grow by
//! themselves. A second statement runs beside the first only when enough is waiting to make
//! it worth its fixed cost, or when the first is held up (see [`dispatch`]).
//!
//! **Each answer ends as it would alone.** Per item, the statement does exactly what the
//! one-item statement does: each part runs only if the part before it changed that item's
//! row, and a right code whose counter claim fails aborts the statement through
//! `counter_moved()` (SQLSTATE `DB001`). A batch aborted that way (or by a deadlock, which
//! only answers for one account on two batches at once can cause) changed nothing; each of
//! its items is then run again alone, so only the answer whose counter moved gets
//! [`Completion::CounterMoved`]. A batch never holds two answers for one account: the second
//! waits for the next batch.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::journal;
use crate::domain::event::NewEvent;
use crate::store::rows::ChallengeContextRow;
use crate::store::{ChallengeContext, Completion, CounterClaim, SignInCompletion, StoreError};

/// Statements of one queue in flight at once per node: one, and a second beside it only
/// when [`SECOND_BATCH`] jobs wait or the first is slow. Measured on two cores with
/// `bash scripts/load postgres 3 --totp-only` (BENCHMARKS.md): always one in flight made
/// batches of 6 and cost PostgreSQL about 205 µs per completion; always two made batches of
/// 3.5 and cost about 270 µs for no more completions per second, since two small statements
/// compete for the same cores; one, and a second when 8 wait, cost 200–220 µs and completed
/// the most.
const IN_FLIGHT: usize = 2;

/// Jobs that must be waiting before a second statement starts beside a running one.
const SECOND_BATCH: usize = 8;

/// A statement running this long (a row lock held by another node's answer for the same
/// account, say) no longer holds up the queue: the next batch may start beside it.
const SLOW_STATEMENT: Duration = Duration::from_millis(20);

/// The most answers one statement completes.
const MAX_BATCH: usize = 64;

/// One right code to complete: everything the statement needs, owned so it can wait in the
/// queue.
#[derive(Debug, Clone)]
pub(super) struct Item {
    challenge: Vec<u8>,
    account: String,
    step: i64,
    secret: Vec<u8>,
    now: i64,
    key: String,
    /// The attempt was counted first: the counter is cleared, whatever it holds.
    counted: bool,
    /// Claimed from this value; `None` (and not counted) claims it from "no counter".
    claim: Option<(i64, i64, i64)>,
    session_id: String,
    session_token: Vec<u8>,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
    events: Vec<NewEvent>,
}

impl Item {
    pub(super) fn new(
        completion: &SignInCompletion<'_>,
        step: i64,
        secret: &[u8],
        events: &[NewEvent],
    ) -> Item {
        let session = &completion.session.session;
        let (counted, claim) = match completion.counter {
            CounterClaim::Counted => (true, None),
            CounterClaim::Unchanged(None) => (false, None),
            CounterClaim::Unchanged(Some(c)) => (
                false,
                Some((i64::from(c.failures), c.window_start.0, c.locked_until.0)),
            ),
        };
        Item {
            challenge: completion.challenge.0.clone(),
            account: session.account_id.as_str().to_owned(),
            step,
            secret: secret.to_vec(),
            now: completion.now.0,
            key: completion.throttle_key.to_owned(),
            counted,
            claim,
            session_id: session.id.as_str().to_owned(),
            session_token: completion.session.token_hash.0.clone(),
            expires_at: session.expires_at.0,
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            events: events.to_vec(),
        }
    }
}

/// A job waiting in a lane, and where its outcome goes.
struct Queued<J, O> {
    job: J,
    reply: oneshot::Sender<O>,
}

/// What one queue batches, and how.
trait Lane: 'static {
    type Job: Send + 'static;
    type Outcome: Send + 'static;
    /// Two jobs with the same key never share a batch (`None`: any may).
    fn key(job: &Self::Job) -> Option<&str>;
    /// Runs a batch and answers every job in it.
    fn run(
        pool: PgPool,
        batch: Vec<Queued<Self::Job, Self::Outcome>>,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// Right codes to complete: one per account in a batch.
struct Completions;

impl Lane for Completions {
    type Job = Item;
    type Outcome = Result<Completion, StoreError>;
    fn key(job: &Item) -> Option<&str> {
        Some(&job.account)
    }
    async fn run(pool: PgPool, batch: Vec<Queued<Item, Self::Outcome>>) {
        run(&pool, batch).await
    }
}

/// Challenge reads: any number in a batch.
struct Reads;

impl Lane for Reads {
    type Job = Read;
    type Outcome = Result<Option<ChallengeContext>, StoreError>;
    fn key(_: &Read) -> Option<&str> {
        None
    }
    async fn run(pool: PgPool, batch: Vec<Queued<Read, Self::Outcome>>) {
        read_all(&pool, batch).await
    }
}

/// One challenge to read: its token digest, and the prefix of its failure counter's key.
pub(super) struct Read {
    pub(super) token: Vec<u8>,
    pub(super) counter_prefix: String,
}

/// The queues of this node's code sign-ins waiting for a statement.
#[derive(Debug)]
pub(super) struct Batcher {
    completions: mpsc::UnboundedSender<Queued<Item, <Completions as Lane>::Outcome>>,
    reads: mpsc::UnboundedSender<Queued<Read, <Reads as Lane>::Outcome>>,
}

impl<J, O> std::fmt::Debug for Queued<J, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queued")
    }
}

impl Batcher {
    /// Starts the dispatchers, with [`IN_FLIGHT`] connections each of their own (opened when
    /// first needed); they end when the last handle to the store is dropped.
    ///
    /// On those connections PostgreSQL always uses the statements' generic plans. Left to
    /// choose, it plans the completion afresh for every batch (its estimate for a custom plan
    /// knows the batch size, so it looks cheaper), and planning a statement of twelve parts
    /// costs about a millisecond, more than running it for a small batch. The generic plans
    /// reach every row through its key (see [`COMPLETE_ALL`]).
    pub(super) fn start(options: &PgConnectOptions, acquire_timeout: Duration) -> Batcher {
        let options = options.clone().options([
            ("plan_cache_mode", "force_generic_plan"),
            // A generic plan is made once, perhaps while a table is still nearly empty,
            // and kept until the table's statistics change: it must not scan a table
            // that has since grown.
            ("enable_seqscan", "off"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(2 * IN_FLIGHT as u32)
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        let (completions, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch::<Completions>(pool.clone(), receiver));
        let (reads, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch::<Reads>(pool, receiver));
        Batcher { completions, reads }
    }

    /// Completes `item` with whatever else is waiting.
    pub(super) async fn complete(&self, item: Item) -> Result<Completion, StoreError> {
        Self::submit(&self.completions, item).await?
    }

    /// Reads a challenge and everything its answer needs, with whatever else is waiting.
    pub(super) async fn read(&self, read: Read) -> Result<Option<ChallengeContext>, StoreError> {
        Self::submit(&self.reads, read).await?
    }

    async fn submit<J, O>(
        queue: &mpsc::UnboundedSender<Queued<J, O>>,
        job: J,
    ) -> Result<O, StoreError> {
        let (reply, outcome) = oneshot::channel();
        queue
            .send(Queued { job, reply })
            .map_err(|_| StoreError::Task("a statement queue has stopped".to_owned()))?;
        outcome
            .await
            .map_err(|_| StoreError::Task("a batched statement was dropped".to_owned()))
    }
}

/// Forms batches and runs them: a batch starts when no statement of this queue is running;
/// a second starts beside it only when [`SECOND_BATCH`] jobs are waiting, or when the running
/// one has taken longer than [`SLOW_STATEMENT`]. Each batch takes everything waiting (up to
/// [`MAX_BATCH`], at most one job per key).
async fn dispatch<L: Lane>(
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<Queued<L::Job, L::Outcome>>,
) {
    let (done, mut finished) = mpsc::unbounded_channel::<u64>();
    // When each running batch started, by number.
    let mut running: Vec<(u64, Instant)> = Vec::new();
    let mut waiting = VecDeque::new();
    let mut open = true;
    for number in 0u64.. {
        // Until a batch may start.
        loop {
            while let Ok(queued) = receiver.try_recv() {
                waiting.push_back(queued);
            }
            while let Ok(ended) = finished.try_recv() {
                running.retain(|(n, _)| *n != ended);
            }
            if !open && waiting.is_empty() {
                return;
            }
            let oldest = running.iter().map(|(_, started)| *started).min();
            let now = Instant::now();
            let ready = match oldest {
                None => !waiting.is_empty(),
                Some(_) if running.len() >= IN_FLIGHT => false,
                Some(started) => {
                    waiting.len() >= SECOND_BATCH
                        || (!waiting.is_empty() && now >= started + SLOW_STATEMENT)
                }
            };
            if ready {
                break;
            }
            // Wait for a job, a batch to end, or the running one to become slow.
            let slow = match oldest {
                Some(started) if !waiting.is_empty() && running.len() < IN_FLIGHT => {
                    started + SLOW_STATEMENT
                }
                _ => now + Duration::from_secs(3600),
            };
            tokio::select! {
                queued = receiver.recv(), if open => match queued {
                    Some(queued) => waiting.push_back(queued),
                    None => open = false,
                },
                Some(ended) = finished.recv() => running.retain(|(n, _)| *n != ended),
                () = tokio::time::sleep_until(slow.into()) => {}
            }
        }
        let batch = take_batch::<L>(&mut waiting);
        running.push((number, Instant::now()));
        let (pool, ended) = (pool.clone(), Ended(number, done.clone()));
        tokio::spawn(async move {
            L::run(pool, batch).await;
            drop(ended);
        });
    }
}

/// Reports batch `.0` ended when dropped, so that a batch whose task panicked still frees
/// its place.
struct Ended(u64, mpsc::UnboundedSender<u64>);

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.1.send(self.0);
    }
}

/// Takes the next batch from `waiting`: in order, up to [`MAX_BATCH`], skipping (and leaving
/// in place) a job whose key is already in the batch.
fn take_batch<L: Lane>(
    waiting: &mut VecDeque<Queued<L::Job, L::Outcome>>,
) -> Vec<Queued<L::Job, L::Outcome>> {
    let mut keys: HashSet<String> = HashSet::new();
    let mut batch = Vec::new();
    let mut later = VecDeque::new();
    while let Some(next) = waiting.pop_front() {
        if batch.len() == MAX_BATCH {
            later.push_back(next);
            continue;
        }
        match L::key(&next.job) {
            Some(key) if !keys.insert(key.to_owned()) => later.push_back(next),
            _ => batch.push(next),
        }
    }
    *waiting = later;
    batch
}

/// Runs one batch and answers each item; a batch that aborted is run again item by item.
async fn run(pool: &PgPool, batch: Vec<Queued<Item, <Completions as Lane>::Outcome>>) {
    let items: Vec<&Item> = batch.iter().map(|q| &q.job).collect();
    match complete_all(pool, &items).await {
        Ok(outcomes) => {
            for (queued, outcome) in batch.into_iter().zip(outcomes) {
                let _ = queued.reply.send(Ok(outcome));
            }
        }
        Err(error) if items.len() > 1 && rolled_back(&error) => {
            let mut alone = tokio::task::JoinSet::new();
            for queued in batch {
                let pool = pool.clone();
                alone.spawn(async move {
                    let outcome = complete_all(&pool, &[&queued.job]).await;
                    let outcome = match outcome {
                        Ok(mut outcomes) => Ok(outcomes.remove(0)),
                        Err(error) if counter_moved(&error) => Ok(Completion::CounterMoved),
                        Err(error) => Err(StoreError::Backend(error)),
                    };
                    let _ = queued.reply.send(outcome);
                });
            }
            while alone.join_next().await.is_some() {}
        }
        Err(error) if counter_moved(&error) => {
            for queued in batch {
                let _ = queued.reply.send(Ok(Completion::CounterMoved));
            }
        }
        Err(error) => fail_all(batch, "completion", error),
    }
}

/// Answers every job of a failed batch: the first with `error` itself, the others with its
/// message.
fn fail_all<J, T>(batch: Vec<Queued<J, Result<T, StoreError>>>, what: &str, error: sqlx::Error) {
    let message = error.to_string();
    let mut batch = batch.into_iter();
    if let Some(first) = batch.next() {
        let _ = first.reply.send(Err(StoreError::Backend(error)));
    }
    for queued in batch {
        let failed = format!("a batched {what} failed: {message}");
        let _ = queued.reply.send(Err(StoreError::Task(failed)));
    }
}

/// Whether `error` is the abort raised when a claimed counter moved (migration 0008).
fn counter_moved(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("DB001"))
}

/// Whether the statement certainly changed nothing: a counter moved, or PostgreSQL broke a
/// deadlock by aborting it.
fn rolled_back(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("DB001" | "40P01")))
}

/// The statement, with its reasoning: `complete_sign_ins.sql`.
const COMPLETE_ALL: &str = include_str!("complete_sign_ins.sql");

/// Completes `items` (at most one per account) in one statement; their outcomes, in order.
async fn complete_all(pool: &PgPool, items: &[&Item]) -> Result<Vec<Completion>, sqlx::Error> {
    fn column<T>(items: &[&Item], f: impl Fn(&Item) -> T) -> Vec<T> {
        items.iter().map(|item| f(item)).collect()
    }
    // Each event with the position (from 1) of its item, for `WHERE e.item IN granted`.
    let (positions, events): (Vec<i64>, Vec<&NewEvent>) = items
        .iter()
        .zip(1i64..)
        .flat_map(|(item, n)| item.events.iter().map(move |event| (n, event)))
        .unzip();
    let query = sqlx::query_as(COMPLETE_ALL)
        .bind(column(items, |i| i.challenge.clone()))
        .bind(column(items, |i| i.account.clone()))
        .bind(column(items, |i| i.step))
        .bind(column(items, |i| i.secret.clone()))
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
        .bind(positions);
    let query = journal::bind_events(query, &events);
    type Row = (bool, bool, bool, bool, i64, Option<i64>);
    let rows: Vec<Row> = query.fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(moved, open, stepped, signed_in, remaining, _)| {
            if moved {
                Completion::CounterMoved
            } else if !open {
                Completion::ChallengeGone
            } else if !stepped {
                Completion::FactorRefused
            } else if !signed_in {
                Completion::ChallengeGone
            } else {
                Completion::SignedIn {
                    recovery_codes_remaining: u32::try_from(remaining).unwrap_or(0),
                }
            }
        })
        .collect())
}

/// The challenge read, for many challenges at once: each row also names its challenge. The
/// account, authenticator and counter are each looked up by key for each challenge
/// (`LATERAL … OFFSET 0` keeps PostgreSQL from turning them into hash joins, which in the
/// generic plan would scan those whole tables for a handful of rows).
const READ_ALL: &str = "
SELECT c.token_hash, c.account_id, c.expires_at, c.failures,
       a.id, a.email, a.name, a.password_hash, a.is_admin, a.created_at, a.last_sign_in_at,
       t.key_id, t.secret, t.enabled_at, COALESCE(t.last_step, -1) AS last_step,
       t.pending_key_id, t.pending_secret, t.pending_expires_at,
       k.failures AS k_failures, k.window_start AS k_window_start,
       k.locked_until AS k_locked_until,
       (SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = c.account_id)
           AS recovery_codes_remaining
FROM challenges c
CROSS JOIN LATERAL (SELECT * FROM accounts a WHERE a.id = c.account_id OFFSET 0) a
LEFT JOIN LATERAL (SELECT * FROM two_factor t WHERE t.account_id = c.account_id OFFSET 0) t
    ON TRUE
LEFT JOIN LATERAL (
    SELECT * FROM throttle_counters k WHERE k.key = $2 || c.account_id OFFSET 0) k ON TRUE
WHERE c.token_hash = ANY($1)";

/// Reads a batch of challenges (one statement per counter prefix; there is one in practice)
/// and answers each read.
async fn read_all(pool: &PgPool, batch: Vec<Queued<Read, <Reads as Lane>::Outcome>>) {
    use sqlx::{FromRow, Row};
    let mut by_prefix: std::collections::HashMap<String, Vec<Queued<Read, _>>> =
        std::collections::HashMap::new();
    for queued in batch {
        by_prefix
            .entry(queued.job.counter_prefix.clone())
            .or_default()
            .push(queued);
    }
    for (prefix, batch) in by_prefix {
        let tokens: Vec<Vec<u8>> = batch.iter().map(|q| q.job.token.clone()).collect();
        let rows = sqlx::query(READ_ALL)
            .bind(&tokens)
            .bind(&prefix)
            .fetch_all(pool)
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                fail_all(batch, "read", error);
                continue;
            }
        };
        let found: Result<std::collections::HashMap<Vec<u8>, ChallengeContext>, sqlx::Error> = rows
            .iter()
            .map(|row| {
                let token: Vec<u8> = row.try_get("token_hash")?;
                Ok((token, ChallengeContextRow::from_row(row)?.into()))
            })
            .collect();
        match found {
            Ok(found) => {
                for queued in batch {
                    let _ = queued.reply.send(Ok(found.get(&queued.job.token).cloned()));
                }
            }
            Err(error) => fail_all(batch, "read", error),
        }
    }
}
