//! The one way into the SQLite file: [`Db::read`] runs a read inline on a reader connection,
//! [`Db::write`] runs a write as one transaction on the single writer connection, and
//! [`Db::when_changed`] watches `PRAGMA data_version` for `coherence.rs`.
//!
//! Why this shape: an async driver that runs each SQLite statement on a worker thread of its
//! connection and hands the rows back through a channel costs two thread switches per
//! statement, which measured about 40 % of the server's CPU under forward-auth load
//! (`perf record`; see BENCHMARKS.md), and rusqlite runs a statement about 13 times faster.
//! A read of the page cache takes microseconds, so it runs on the calling thread with cached
//! prepared statements; a write waits for the disk, so it runs on a blocking thread, one
//! hand-off however many statements it has.
//!
//! Invariants:
//! - Every connection is opened by [`connection`], which sets every PRAGMA: WAL, foreign
//!   keys, the busy timeout, and `synchronous = FULL`, so an acknowledged write survives a
//!   power cut (a rolled-back "used" mark would let a code be accepted twice).
//! - Reads never wait on a lock: WAL readers see the last commit, from any process.
//! - Every write is one `BEGIN IMMEDIATE` transaction on the one writer connection, committed
//!   once when its closure returns `Ok` and rolled back otherwise. Other processes (the CLI)
//!   meet it through SQLite's own lock and the busy timeout.
//! - No `.await` while a connection is held.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::store::StoreError;

/// Statements prepared and kept per connection.
const CACHED_STATEMENTS: usize = 32;

/// The connections to one SQLite file.
pub(super) struct Db {
    readers: Vec<Mutex<Connection>>,
    writer: Arc<Mutex<Connection>>,
    /// Asks `PRAGMA data_version` for the node memory (`coherence.rs`), with the version it
    /// saw last.
    watch: Mutex<(Connection, Option<i64>)>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("readers", &self.readers.len())
            .finish_non_exhaustive()
    }
}

/// Opens a connection to the file at `path` (creating it when absent) with every PRAGMA the
/// backend relies on; the only place they are set.
fn connection(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // First, so that the PRAGMAs below wait for a lock instead of failing.
    conn.busy_timeout(busy_timeout)?;
    // WAL is kept in the file; asking again on every connection costs nothing. (The
    // statement answers the mode it leaves.)
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // Security: per connection, and never relaxed: every write that decides a once-only
    // rule (a used step, a consumed code or challenge) must be durable once acknowledged.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(conn)
}

fn lock(slot: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding a connection leaves no half-done state in it: a statement
    // either ran or it did not, and an open transaction rolls back when dropped.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Db {
    /// Opens the writer (creating the file when absent), `readers` reading connections and
    /// the watch on the file at `path`.
    pub(super) fn open(
        path: &Path,
        busy_timeout: Duration,
        readers: usize,
    ) -> Result<Self, StoreError> {
        let writer = Arc::new(Mutex::new(connection(path, busy_timeout)?));
        let readers = (0..readers.max(1))
            .map(|_| connection(path, busy_timeout).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        let watch = Mutex::new((connection(path, busy_timeout)?, None));
        Ok(Self {
            readers,
            writer,
            watch,
        })
    }

    /// Whether any connection (of this process or another) committed a change since the
    /// last call (true on the first call and when the version cannot be read); `changed`
    /// runs then, before any other caller can ask.
    pub(super) fn when_changed(&self, changed: impl FnOnce()) -> bool {
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        let (conn, last) = &mut *watch;
        let version = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get::<_, i64>(0)))
            .ok();
        let moved = version.is_none() || version != *last;
        *last = version;
        if moved {
            changed();
        }
        moved
    }

    /// Runs `read` on a free reader connection, inline.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        for slot in &self.readers {
            if let Ok(conn) = slot.try_lock() {
                return Ok(read(&conn)?);
            }
        }
        // Every connection is busy for a few microseconds: wait for one.
        Ok(read(&lock(&self.readers[0]))?)
    }

    /// Runs `write` in one transaction on the writer connection, on a blocking thread (a
    /// commit waits for the disk): committed when it returns `Ok`, rolled back otherwise.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&writer);
            // IMMEDIATE: the write lock is taken at once, never upgraded from a read (an
            // upgrade that meets another process's writer fails instead of waiting).
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let written = write(&tx)?;
            tx.commit()?;
            Ok(written)
        })
        .await
        .map_err(|join| StoreError::Task(join.to_string()))?
    }
}
