//! Group commit on PostgreSQL: queues that gather the jobs arriving on this node at about
//! the same time and run them as one statement. Three queues use it: the completions of
//! second-factor sign-ins (`completion.rs`), the challenge reads that come before each
//! answer is judged (`challenge_read.rs`), and the OpenID Connect code exchanges
//! (`oidc_exchange.rs`).
//!
//! What one completion writes (the factor spent, the challenge consumed, the failure counter
//! claimed, the session, the audit event) touches five tables and a dozen indexes. PostgreSQL
//! pays most of it per statement, not per row: locking some twenty relations, starting the
//! executor on a plan of a dozen nodes, one commit, one round trip.
//! A statement over arrays pays that once for the whole batch. The same holds, on a smaller
//! scale, for the read of the challenge, its account, authenticator and counter.
//!
//! Batching never waits for company: when nothing of its queue is running, a job starts a
//! statement at once, and whatever arrives while it runs forms the next batch. One answer
//! alone is one statement; under load the queue fills and batches grow by themselves. A
//! second statement runs beside the first only when enough is waiting to make it worth its
//! fixed cost, or when the first is held up (see [`dispatch`]).
//!
//! Each queue runs its next batch on the connection its last batch ran on (a [`Lease`]), not
//! on whichever the pool hands out next. The pool gives out its idle connections oldest
//! first and pings each one it takes back: batches took turns among the connections, each
//! with one more round trip, and PostgreSQL spent more CPU per answer (BENCHMARKS.md,
//! sixteenth session).

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use super::challenge_read::{Read, Reads};
use super::completion::{Completions, Item};
use super::oidc_exchange::{Exchanges, Job, JudgedRow};
use crate::store::{ChallengeContext, Completion, StoreError};

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

/// A job waiting in a lane, and where its outcome goes.
pub(super) struct Queued<J, O> {
    pub(super) job: J,
    pub(super) reply: oneshot::Sender<O>,
}

/// What one queue batches, and how.
pub(super) trait Lane: 'static {
    type Job: Send + 'static;
    type Outcome: Send + 'static;
    /// Two jobs with the same key never share a batch (`None`: any may).
    fn key(job: &Self::Job) -> Option<&str>;
    /// Runs a batch on `lease` and answers every job in it; gives the lease back, released
    /// if the batch failed in a way that may have broken its connection.
    fn run(
        lease: Lease,
        batch: Vec<Queued<Self::Job, Self::Outcome>>,
    ) -> impl std::future::Future<Output = Lease> + Send;
}

/// The connection a batch runs on: the one the queue's last batch ran on, while it is not in
/// use, or else one from the pool, taken when the batch first needs it.
pub(super) struct Lease {
    pool: PgPool,
    connection: Option<PoolConnection<Postgres>>,
}

impl Lease {
    /// The connection, taken from the pool if this lease holds none yet.
    pub(super) async fn connection(&mut self) -> Result<&mut PgConnection, StoreError> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => self.pool.acquire().await?,
        };
        Ok(&mut **self.connection.insert(connection))
    }

    /// Gives the connection back to the pool, which tests it and closes it if it broke:
    /// after an error that was not the statement aborting itself (the database restarting,
    /// say), and before a batch's items run again one by one on connections of the pool.
    pub(super) fn release(&mut self) {
        self.connection = None;
    }

    /// Runs each job of a batch that aborted alone, beside one another, on connections from
    /// the pool: this batch's own goes back to it first, so that they never wait for it.
    /// `alone` runs one job on a connection it acquires from the pool and gives its outcome.
    pub(super) async fn run_alone<J, O, F>(
        &mut self,
        batch: Vec<Queued<J, O>>,
        alone: impl Fn(PgPool, J) -> F,
    ) where
        F: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        self.release();
        let mut running = tokio::task::JoinSet::new();
        for Queued { job, reply } in batch {
            let outcome = alone(self.pool.clone(), job);
            running.spawn(async move {
                let _ = reply.send(outcome.await);
            });
        }
        while running.join_next().await.is_some() {}
    }
}

/// The queues of this node's code sign-ins and code exchanges waiting for a statement.
#[derive(Debug)]
pub(super) struct Batcher {
    completions: mpsc::UnboundedSender<Queued<Item, <Completions as Lane>::Outcome>>,
    reads: mpsc::UnboundedSender<Queued<Read, <Reads as Lane>::Outcome>>,
    exchanges: mpsc::UnboundedSender<Queued<Job, <Exchanges as Lane>::Outcome>>,
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
            .max_connections(3 * IN_FLIGHT as u32)
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        let (completions, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch::<Completions>(pool.clone(), receiver));
        let (reads, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch::<Reads>(pool.clone(), receiver));
        let (exchanges, receiver) = mpsc::unbounded_channel();
        tokio::spawn(dispatch::<Exchanges>(pool, receiver));
        Batcher {
            completions,
            reads,
            exchanges,
        }
    }

    /// Completes `item` with whatever else is waiting.
    pub(super) async fn complete(&self, item: Item) -> Result<Completion, StoreError> {
        Self::submit(&self.completions, item).await?
    }

    /// Reads a challenge and everything its answer needs, with whatever else is waiting.
    pub(super) async fn read(&self, read: Read) -> Result<Option<ChallengeContext>, StoreError> {
        Self::submit(&self.reads, read).await?
    }

    /// Exchanges a code with whatever else is waiting: what the statement read of the code
    /// when it spent it, `None` when it spent nothing.
    pub(super) async fn exchange(&self, job: Job) -> Result<Option<JudgedRow>, StoreError> {
        Self::submit(&self.exchanges, job).await?
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
///
/// The batches run inside this task, polled beside the queue (no task per batch): a job is
/// handed over once, into the queue, and answered through its oneshot channel. A batch must
/// therefore never panic (the lints forbid `unwrap` and `expect`, and no batch indexes a
/// slice): a panic here would stop the queue, and every later job would fail.
///
/// A batch that ends gives its connection back to this queue, and the next batch takes the
/// one given back last: with one batch at a time, which is the usual case, every batch runs
/// on the same connection.
async fn dispatch<L: Lane>(
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<Queued<L::Job, L::Outcome>>,
) {
    type Running = Pin<Box<dyn Future<Output = Lease> + Send>>;
    // The running batches, with when each started.
    let mut running: Vec<(Running, Instant)> = Vec::new();
    // Connections given back by ended batches, the last given back on top.
    let mut idle: Vec<PoolConnection<Postgres>> = Vec::new();
    let mut waiting = VecDeque::new();
    let mut open = true;
    loop {
        // Until a batch may start.
        loop {
            while let Ok(queued) = receiver.try_recv() {
                waiting.push_back(queued);
            }
            if !open && waiting.is_empty() && running.is_empty() {
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
            let busy = !running.is_empty();
            let ended = std::future::poll_fn(|cx| {
                for (n, (batch, _)) in running.iter_mut().enumerate() {
                    if let Poll::Ready(lease) = batch.as_mut().poll(cx) {
                        return Poll::Ready((n, lease));
                    }
                }
                Poll::Pending
            });
            let ended = tokio::select! {
                queued = receiver.recv(), if open => {
                    match queued {
                        Some(queued) => waiting.push_back(queued),
                        None => open = false,
                    }
                    None
                }
                ended = ended, if busy => Some(ended),
                () = tokio::time::sleep_until(slow.into()) => None,
            };
            if let Some((ended, lease)) = ended {
                drop(running.swap_remove(ended));
                idle.extend(lease.connection);
            }
        }
        let batch = take_batch::<L>(&mut waiting);
        let lease = Lease {
            pool: pool.clone(),
            connection: idle.pop(),
        };
        running.push((Box::pin(L::run(lease, batch)), Instant::now()));
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

/// Answers every job of a failed batch: the first with `error` itself, the others with its
/// message.
pub(super) fn fail_all<J, T>(
    batch: Vec<Queued<J, Result<T, StoreError>>>,
    what: &str,
    error: StoreError,
) {
    let message = error.to_string();
    let mut batch = batch.into_iter();
    if let Some(first) = batch.next() {
        let _ = first.reply.send(Err(error));
    }
    for queued in batch {
        let failed = format!("a batched {what} failed: {message}");
        let _ = queued.reply.send(Err(StoreError::Task(failed)));
    }
}
