//! The one way into the SQLite file: [`Db::read`] runs a read inline on a reader connection,
//! [`Db::write`] queues a write for the writer thread, which owns the single writer
//! connection and commits the writes queued together in one transaction, and
//! [`Db::when_changed`] watches `PRAGMA data_version` for `coherence.rs`.
//!
//! Why this shape: an async driver that runs each SQLite statement on a worker thread of its
//! connection and hands the rows back through a channel costs two thread switches per
//! statement, which measured about 40 % of the server's CPU under forward-auth load
//! (`perf record`; see BENCHMARKS.md), and rusqlite runs a statement about 13 times faster.
//! A read of the page cache takes microseconds, so it runs on the calling thread with cached
//! prepared statements; a write waits for the disk, so it runs on the writer thread, one
//! hand-off however many statements it has, and the writes that queue while a commit waits
//! for the disk share the next commit (one fsync for all of them).
//!
//! Invariants:
//! - Every connection is opened by [`connection`], which sets every PRAGMA: WAL, foreign
//!   keys, the busy timeout, and `synchronous = FULL`, so an acknowledged write survives a
//!   power cut (a rolled-back "used" mark would let a code be accepted twice).
//! - Reads never wait on a lock: WAL readers see the last commit, from any process.
//! - Every write runs on the one writer connection in a `BEGIN IMMEDIATE` transaction, inside
//!   a savepoint of its own: its changes are kept when its closure returns `Ok` and rolled
//!   back to the savepoint otherwise, whatever the other writes of the batch do. It is
//!   answered only after the commit ([`run_writer`]). Other processes (the CLI) meet it
//!   through SQLite's own lock and the busy timeout.
//! - No `.await` while a connection is held.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{mpsc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Statements prepared and kept per connection.
const CACHED_STATEMENTS: usize = 32;

/// The connections to one SQLite file.
pub(super) struct Db {
    readers: Vec<Mutex<Connection>>,
    /// The queue of the writer thread, which owns the writer connection.
    writes: mpsc::Sender<Box<dyn Job>>,
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
    // The writer runs each write inside a savepoint (`commit_batch`), and SQLite keeps the
    // pages a savepoint may roll back to in a statement journal: in a temporary file by
    // default, which cost the writer as many `pwrite` calls as the WAL itself (strace, code
    // exchanges under load). In memory, it holds a batch's pages until the commit, and
    // nothing of it needs to survive a crash (an uncommitted transaction is simply gone).
    conn.execute_batch("PRAGMA temp_store = MEMORY;")?;
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(conn)
}

/// WAL pages past which the writer copies the WAL into the file itself (SQLite's automatic
/// checkpoint, 1 000 pages by default): only should the checkpointer fall far behind.
const WRITER_AUTOCHECKPOINT: u32 = 10_000;

/// The least time between two checkpoints of [`run_checkpointer`]: each copies what
/// committed meanwhile (about SQLite's default of 1 000 pages under a heavy write load).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

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
        let writer = connection(path, busy_timeout)?;
        writer.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT};"
        ))?;
        let checkpointer = connection(path, busy_timeout)?;
        let (committed, commits) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpointer(&checkpointer, &commits))
            .map_err(|e| StoreError::Task(format!("cannot start the SQLite checkpointer: {e}")))?;
        let (writes, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, &queue, &committed))
            .map_err(|e| StoreError::Task(format!("cannot start the SQLite writer: {e}")))?;
        let readers = (0..readers.max(1))
            .map(|_| connection(path, busy_timeout).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        let watch = Mutex::new((connection(path, busy_timeout)?, None));
        Ok(Self {
            readers,
            writes,
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

    /// Runs `write` on the writer thread, inside a transaction shared with the writes queued
    /// meanwhile (group commit, see [`run_writer`]): its changes are kept when it returns
    /// `Ok` and the transaction commits, and its answer comes only after that commit.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = Queued {
            write: Some(write),
            written: None,
            answer,
        };
        self.writes
            .send(Box::new(job))
            .map_err(|_| StoreError::Task("the SQLite writer has stopped".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Task("the SQLite writer dropped a write".into()))?
    }
}

/// One queued write, as the writer thread sees it.
trait Job: Send {
    /// Runs the write on the writer connection, inside the shared transaction; whether its
    /// changes are to be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the outcome of the commit is known (or that nothing ran).
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A write and its caller's answer.
struct Queued<T, F> {
    write: Option<F>,
    written: Option<Result<T, StoreError>>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Queued<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A write that panics is refused like one that fails: rolled back to its savepoint
        // and answered with an error, and the writer thread goes on serving the others.
        let written = self.write.take().map(|write| {
            std::panic::catch_unwind(AssertUnwindSafe(|| write(conn)))
                .unwrap_or_else(|_| Err(StoreError::Task("a write panicked".into())))
        });
        let kept = matches!(written, Some(Ok(_)));
        self.written = written;
        kept
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match self.written {
            Some(Ok(value)) => committed.map(|()| value),
            Some(Err(refused)) => Err(refused),
            None => Err(committed
                .err()
                .unwrap_or_else(|| StoreError::Task("a write did not run".into()))),
        };
        // The caller may have gone (a dropped request); the write stands all the same.
        let _ = self.answer.send(answer);
    }
}

/// The same failure for every write of a batch.
fn each(failure: &rusqlite::Error) -> StoreError {
    match failure {
        rusqlite::Error::SqliteFailure(code, message) => {
            StoreError::Embedded(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => StoreError::Task(other.to_string()),
    }
}

/// Most writes in one transaction.
const MOST_PER_COMMIT: usize = 64;

/// The writer thread: takes the first queued write and every write queued behind it (up to
/// [`MOST_PER_COMMIT`]), runs them in one `BEGIN IMMEDIATE` transaction, each inside its own
/// savepoint, and commits once, so a burst of writes costs one fsync instead of one each.
///
/// Each write is alone in what it keeps: one that fails (or panics) is rolled back to its
/// savepoint and answered with its error, even when the commit then fails; the others go
/// on. No write is answered `Ok` before the commit (with `synchronous = FULL`, before the
/// disk has it); when the commit fails, every write of the batch is answered with that
/// error, and none of their changes exist.
///
/// After each commit it wakes the checkpointer (without waiting for it), which copies the
/// WAL into the file on its own thread and connection.
fn run_writer(
    mut conn: Connection,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    committed: &mpsc::SyncSender<()>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MOST_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, batch);
        // Full: a wake-up is already pending, and that checkpoint will copy this commit too.
        let _ = committed.try_send(());
    }
}

/// The checkpointer thread: copies the WAL into the database file (`PRAGMA
/// wal_checkpoint(PASSIVE)`), at most every [`CHECKPOINT_EVERY`], while anything commits.
///
/// Why a thread of its own: SQLite checkpoints on the connection whose commit made the WAL
/// long, so the writer stopped every thousand pages to read them back from the WAL and
/// write them into the file, a quarter of its system calls under a load of code exchanges,
/// while every queued write waited. A passive checkpoint takes no lock that a writer or a
/// reader waits for; it copies what no reader still needs, and the writer starts the WAL
/// again from the beginning once all of it is copied. Durability does not depend on it: a
/// commit is on disk in the WAL before it is answered. Should it fall behind (or fail), the
/// writer checkpoints by itself past [`WRITER_AUTOCHECKPOINT`] pages. It ends with the
/// writer.
fn run_checkpointer(conn: &Connection, commits: &mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "checkpointing the SQLite WAL failed; will try again");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

fn commit_batch(conn: &mut Connection, mut batch: Vec<Box<dyn Job>>) {
    // IMMEDIATE: the write lock is taken at once, never upgraded from a read (an upgrade that
    // meets another process's writer fails instead of waiting).
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(failure) => {
            for job in batch {
                job.answer(Err(each(&failure)));
            }
            return;
        }
    };
    let mut outcome = Ok(());
    for job in &mut batch {
        let started = tx.execute_batch("SAVEPOINT write");
        let ended = started.and_then(|()| {
            if job.run(&tx) {
                tx.execute_batch("RELEASE write")
            } else {
                tx.execute_batch("ROLLBACK TO write; RELEASE write")
            }
        });
        if let Err(failure) = ended {
            // The transaction cannot be trusted any more: nothing of the batch is kept
            // (dropping `tx` rolls it back).
            outcome = Err(failure);
            break;
        }
    }
    let committed = outcome.and_then(|()| tx.commit());
    for job in batch {
        job.answer(committed.as_ref().map(|_| ()).map_err(each));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::future::join_all;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_keep_only_their_own_changes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("d.db"), Duration::from_secs(5), 2).unwrap());
        db.write(|conn| Ok(conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?))
            .await
            .unwrap();
        // Many writes at once, so that the writer commits several in one transaction; every
        // third one inserts its row and then fails, which must take back its row only.
        let writes = (0..60_i64).map(|n| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                db.write(move |conn| {
                    conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                    if n % 3 == 0 {
                        return Err(StoreError::Task(format!("refused {n}")));
                    }
                    Ok(n)
                })
                .await
            })
        });
        let mut answered = Vec::new();
        for write in writes.collect::<Vec<_>>() {
            answered.push(write.await.unwrap());
        }
        for (n, answer) in (0_i64..).zip(&answered) {
            match answer {
                Ok(kept) => assert_eq!(*kept, n),
                Err(e) => assert_eq!(
                    e.to_string(),
                    StoreError::Task(format!("refused {n}")).to_string()
                ),
            }
            assert_eq!(answer.is_err(), n % 3 == 0);
        }
        let kept: Vec<i64> = db
            .read(|conn| {
                conn.prepare("SELECT n FROM t ORDER BY n")?
                    .query_map([], |row| row.get(0))?
                    .collect()
            })
            .unwrap();
        let expected: Vec<i64> = (0..60).filter(|n| n % 3 != 0).collect();
        assert_eq!(kept, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_panics_is_refused_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("d.db"), Duration::from_secs(5), 2).unwrap());
        db.write(|conn| Ok(conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?))
            .await
            .unwrap();
        let writes = (0..20_i64).map(|n| {
            let db = Arc::clone(&db);
            tokio::spawn(async move {
                db.write(move |conn| {
                    conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                    assert_ne!(n, 7, "a bug in one write");
                    Ok(())
                })
                .await
            })
        });
        let answers: Vec<bool> = join_all(writes.collect::<Vec<_>>())
            .await
            .into_iter()
            .map(|answer| answer.unwrap().is_ok())
            .collect();
        let refused: Vec<usize> = (0..20).filter(|n| !answers[*n]).collect();
        assert_eq!(refused, vec![7]);
        db.write(|conn| Ok(conn.execute("INSERT INTO t (n) VALUES (100)", [])?))
            .await
            .unwrap();
        let rows: i64 = db
            .read(|conn| conn.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0)))
            .unwrap();
        assert_eq!(rows, 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_copies_the_wal_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let db = Db::open(&path, Duration::from_secs(5), 1).unwrap();
        db.write(|conn| Ok(conn.execute_batch("CREATE TABLE t (b BLOB)")?))
            .await
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // 64 commits of 4 KiB each: far below the writer's own threshold, so only the
        // checkpointer can move them into the file.
        for _ in 0..64 {
            db.write(|conn| Ok(conn.execute("INSERT INTO t (b) VALUES (zeroblob(4096))", [])?))
                .await
                .unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&path).unwrap().len();
            if size >= before + 64 * 4096 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the file is still {size} bytes (was {before}): nothing was checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
