//! Node memory on PostgreSQL: many nodes, each remembering session lookups, and a
//! revocation on one must be seen at once on all. Plain `LISTEN/NOTIFY` is not enough:
//! between a commit on node B and node A reading the notification, A would still answer
//! from memory, and a lost listener connection would lose notifications silently.
//!
//! The protocol (table `cache_nodes`, migration 0007):
//! - **Lease.** A node answers from memory only while it holds a lease: a row whose
//!   `lease_until` it sets to the database's `clock_timestamp() + LEASE` every
//!   [`RENEW_EVERY`], through its listener connection. Locally it trusts the lease until
//!   the instant it *sent* the renewal plus `LEASE - MARGIN`, which is never later than the
//!   database's `lease_until`. A lease is renewed only while still live and not revoked;
//!   otherwise the node forgets everything and registers afresh. A replaced or failing
//!   listener connection, or a renewal that fails, also makes it forget everything.
//! - **Publish.** After committing a change to remembered data, a writer (any node, or the
//!   CLI) calls `cache_probe()`, which takes probe number `p` and notifies it on
//!   `deadbolt_cache`. PostgreSQL delivers notifications in commit order, so a node that
//!   has read `p` has read everything committed before the write's answer. Each node, on
//!   any notification, forgets everything and then records `acked = p`.
//! - **Wait.** The writer answers only when no live lease is behind `p` (or revoked and
//!   still running). A node that has not acknowledged within [`ACK_TIMEOUT`] is revoked,
//!   and the writer waits for its lease to run out; by then the node's own clock has
//!   stopped it answering from memory.
//!
//! So once a revocation is answered, no node answers from data older than it. The price:
//! each change to remembered data costs one probe and a few milliseconds of waiting, and
//! a node that dies holding a lease delays writes by up to one lease.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgNotification};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::domain::ids::new_id;
use crate::store::cache::{Coherence, Memory};
use crate::store::StoreError;

/// The notification channel of probes.
const CHANNEL: &str = "deadbolt_cache";
/// How long a renewed lease lasts in the database.
pub const LEASE: Duration = Duration::from_secs(3);
/// How much earlier than the database a node stops trusting its lease.
const MARGIN: Duration = Duration::from_millis(500);
/// How often a node renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a writer waits for a live node's acknowledgement before revoking its lease.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(1);
/// After this long a writer gives up waiting (a lease should have run out well before).
const GIVE_UP: Duration = Duration::from_secs(10);

/// Until when this node trusts its lease.
#[derive(Debug)]
struct Lease {
    origin: Instant,
    /// Nanoseconds after `origin`; 0 when there is no lease.
    until: AtomicU64,
}

impl Lease {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            until: AtomicU64::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    fn holds(&self) -> bool {
        let until = self.until.load(Ordering::Acquire);
        until != 0 && self.nanos(Instant::now()) < until
    }

    /// The lease was renewed by a statement sent at `sent`.
    fn renewed(&self, sent: Instant) {
        let until = self.nanos(sent + LEASE - MARGIN).max(1);
        self.until.store(until, Ordering::Release);
    }

    fn lose(&self) {
        self.until.store(0, Ordering::Release);
    }
}

/// This node's row id (changed when it registers again) and its task.
type Joined = (Arc<Mutex<String>>, JoinHandle<()>);

/// Coherence through leases and acknowledged probes.
#[derive(Debug)]
pub(crate) struct Leases {
    pool: PgPool,
    lease: Arc<Lease>,
    node: Mutex<Option<Joined>>,
}

impl Leases {
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            lease: Arc::new(Lease::new()),
            node: Mutex::new(None),
        }
    }
}

/// Inserts this node's row with a fresh lease, caught up with every probe taken so far
/// (its memory is empty), and clears rows whose lease ran out long ago. Returns the
/// listener connection's backend pid.
async fn register(listener: &mut PgListener, id: &str) -> Result<i32, StoreError> {
    sqlx::query(
        "DELETE FROM cache_nodes WHERE lease_until < clock_timestamp() - interval '1 minute'",
    )
    .execute(&mut *listener)
    .await?;
    let pid = sqlx::query_scalar(
        "INSERT INTO cache_nodes (id, lease_until, acked)
         SELECT $1, clock_timestamp() + make_interval(secs => $2),
                CASE WHEN is_called THEN last_value ELSE 0 END
         FROM cache_probes
         RETURNING pg_backend_pid()",
    )
    .bind(id)
    .bind(LEASE.as_secs_f64())
    .fetch_one(&mut *listener)
    .await?;
    Ok(pid)
}

/// One node's side of the protocol, run by its own task.
struct Node {
    /// This node's row (shared with [`Leases`], which deletes it on leaving).
    id: Arc<Mutex<String>>,
    lease: Arc<Lease>,
    memory: Arc<Memory>,
    /// The highest probe read (and so acted on).
    seen: i64,
    /// The listener connection the lease was last renewed through.
    pid: Option<i32>,
}

impl Node {
    fn id(&self) -> String {
        self.id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn forget(&mut self) {
        self.lease.lose();
        self.memory.clear();
    }

    fn read(&mut self, notification: &PgNotification) {
        if let Ok(probe) = notification.payload().parse::<i64>() {
            self.seen = self.seen.max(probe);
        }
    }

    /// Renews the lease and acknowledges every probe read, through the listener's own
    /// connection (so a dead listener cannot keep a lease).
    ///
    /// Without a lease the node answers nothing from memory and remembers nothing new, so
    /// it can acknowledge every probe taken so far, as long as it forgets everything before
    /// it trusts the new lease.
    async fn renew(&mut self, listener: &mut PgListener) {
        let held = self.lease.holds();
        let sent = Instant::now();
        let renewed: Result<Option<i32>, sqlx::Error> = sqlx::query_scalar(
            "UPDATE cache_nodes
             SET lease_until = clock_timestamp() + make_interval(secs => $3),
                 acked = GREATEST(acked, LEAST($2, (SELECT last_value FROM cache_probes)),
                     CASE WHEN $4 THEN (
                         SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cache_probes
                     ) ELSE 0 END)
             WHERE id = $1 AND NOT revoked AND lease_until > clock_timestamp()
             RETURNING pg_backend_pid()",
        )
        .bind(self.id())
        .bind(self.seen)
        .bind(LEASE.as_secs_f64())
        .bind(!held)
        .fetch_optional(&mut *listener)
        .await;
        match renewed {
            Ok(Some(pid)) => {
                if !held || self.pid != Some(pid) {
                    // Notifications may have been missed meanwhile.
                    self.memory.clear();
                }
                self.pid = Some(pid);
                self.lease.renewed(sent);
            }
            Ok(None) => {
                // Revoked, or the lease ran out: start over as a new node.
                self.forget();
                tracing::warn!("node memory: lease lost; registering again");
                let id = new_id();
                *self.id.lock().unwrap_or_else(PoisonError::into_inner) = id.clone();
                let sent = Instant::now();
                match register(listener, &id).await {
                    Ok(pid) => {
                        // Registering acknowledged every probe so far: forget whatever a
                        // read that began before it stored meanwhile.
                        self.memory.clear();
                        self.pid = Some(pid);
                        self.lease.renewed(sent);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "node memory: cannot register; answering from the database");
                    }
                }
            }
            Err(error) => {
                self.forget();
                tracing::warn!(%error, "node memory: cannot renew the lease; answering from the database");
            }
        }
    }

    async fn run(mut self, mut listener: PgListener) {
        let mut next_renewal = tokio::time::Instant::now() + RENEW_EVERY;
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => Some(received),
                () = tokio::time::sleep_until(next_renewal) => None,
            };
            match received {
                Some(Ok(Some(notification))) => {
                    self.memory.clear();
                    self.read(&notification);
                    while let Some(notification) = listener.next_buffered() {
                        self.read(&notification);
                    }
                }
                Some(Ok(None)) => {
                    self.forget();
                    tracing::warn!("node memory: listener connection lost; reconnecting");
                }
                Some(Err(error)) => {
                    self.forget();
                    tracing::warn!(%error, "node memory: listener failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => {}
            }
            self.renew(&mut listener).await;
            next_renewal = tokio::time::Instant::now() + RENEW_EVERY;
        }
    }
}

#[async_trait]
impl Coherence for Leases {
    fn current(&self, _memory: &Memory) -> bool {
        self.lease.holds()
    }

    async fn publish(&self) -> Result<(), StoreError> {
        let probe: i64 = sqlx::query_scalar("SELECT cache_probe()")
            .fetch_one(&self.pool)
            .await?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let behind: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM cache_nodes
                 WHERE lease_until > clock_timestamp() AND (acked < $1 OR revoked)",
            )
            .bind(probe)
            .fetch_all(&self.pool)
            .await?;
            if behind.is_empty() {
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= GIVE_UP {
                return Err(StoreError::Unacknowledged);
            }
            if waited >= ACK_TIMEOUT {
                let revoked = sqlx::query(
                    "UPDATE cache_nodes SET revoked = TRUE
                     WHERE id = ANY($1) AND acked < $2 AND NOT revoked",
                )
                .bind(&behind)
                .bind(probe)
                .execute(&self.pool)
                .await?
                .rows_affected();
                if revoked > 0 {
                    tracing::warn!(
                        nodes = revoked,
                        "node memory: revoked the lease of nodes that did not acknowledge a change"
                    );
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    async fn join(&self, memory: Arc<Memory>) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let id = new_id();
        let sent = Instant::now();
        let pid = register(&mut listener, &id).await?;
        memory.clear();
        self.lease.renewed(sent);
        let id = Arc::new(Mutex::new(id));
        let node = Node {
            id: Arc::clone(&id),
            lease: Arc::clone(&self.lease),
            memory,
            seen: 0,
            pid: Some(pid),
        };
        let task = tokio::spawn(node.run(listener));
        let previous = self
            .node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((id, task));
        if let Some((_, task)) = previous {
            task.abort();
        }
        Ok(())
    }

    async fn leave(&self) {
        self.lease.lose();
        let node = self
            .node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((id, task)) = node {
            task.abort();
            let id = id.lock().unwrap_or_else(PoisonError::into_inner).clone();
            // Writers stop waiting for this node at once (else they would until its lease
            // ran out); a failure only costs them that wait.
            let _ = sqlx::query("DELETE FROM cache_nodes WHERE id = $1")
                .bind(&id)
                .execute(&self.pool)
                .await;
        }
    }
}
