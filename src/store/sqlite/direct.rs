//! The hot paths on SQLite, driven directly through rusqlite instead of sqlx.
//!
//! Why: sqlx runs every SQLite statement on a worker thread of its connection and hands
//! the rows back through a channel. For a one-row lookup from the page cache that costs two
//! thread switches, which measured about 40 % of the server's CPU under forward-auth load
//! (`perf record`; see BENCHMARKS.md). Here a read runs inline on the calling thread, on one
//! of a few connections with cached prepared statements, and a write transaction runs on one
//! blocking thread, so it costs one hand-off however many statements it has.
//!
//! Invariants:
//! - Reads never wait on a lock: WAL readers see the last commit, from any process.
//! - Writes go through the one writer connection, with `synchronous=FULL` like the pool, so
//!   an acknowledged write survives a power cut. Other writers (the sqlx pool, the CLI)
//!   meet it through SQLite's own lock and busy timeout.
//! - No `.await` while a connection is held.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::{journal, outbox};
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::store::rows::{
    AccountRow, ChallengeContextRow, ChallengeRow, CounterRow, SessionAccountRow, SessionRow,
    TwoFactorRow, WorkspaceRoleRow, WorkspaceRow, WorkspaceSessionRow,
};
use crate::store::{notifies, StoreError};

/// Statements prepared and kept per connection.
const CACHED_STATEMENTS: usize = 32;

/// Directly driven connections to one SQLite file.
pub(super) struct Direct {
    readers: Vec<Mutex<Connection>>,
    writer: Arc<Mutex<Connection>>,
    /// Asks `PRAGMA data_version` for the node memory (`sqlite/coherence.rs`), with the
    /// version it saw last.
    watch: Mutex<(Connection, Option<i64>)>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("readers", &self.readers.len())
            .finish_non_exhaustive()
    }
}

fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    // Same durability and integrity as the pool's connections (both are per connection).
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(conn)
}

fn lock(slot: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding a connection leaves no half-done state in it: a statement
    // either ran or it did not, and an open transaction rolls back when dropped.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Direct {
    /// Opens `readers` reading connections and one writer on the file at `path`.
    pub(super) fn open(
        path: &Path,
        busy_timeout: Duration,
        readers: usize,
    ) -> Result<Self, StoreError> {
        let readers = (0..readers.max(1))
            .map(|_| open(path, busy_timeout).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        let writer = Arc::new(Mutex::new(open(path, busy_timeout)?));
        let watch = Mutex::new((open(path, busy_timeout)?, None));
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

    /// Runs a read on a free connection, inline.
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

    /// Runs a write on the writer connection, on a blocking thread (a commit waits for the
    /// disk).
    pub(super) async fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || write(&mut lock(&writer)))
            .await
            .map_err(|join| StoreError::Task(join.to_string()))?
    }
}

/// Appends `event` and, when it notifies anyone on `channels`, its deliveries, inside the
/// transaction `conn` holds (the direct twin of `journal::append`, with the same SQL).
pub(super) fn append(
    conn: &Connection,
    event: &NewEvent,
    channels: Channels,
) -> rusqlite::Result<()> {
    let event_id: i64 = conn.prepare_cached(journal::INSERT_EVENT)?.query_row(
        rusqlite::params![
            event.account_id.as_ref().map(AccountId::as_str),
            event.actor_id.as_ref().map(AccountId::as_str),
            event.kind.as_str(),
            event.at.0,
            event.ip,
            event.user_agent,
            event.details.to_string(),
            event.workspace_id
        ],
        |row| row.get(0),
    )?;
    if notifies(event, channels) {
        for (channel, sql, owner) in outbox::delivery_inserts(event, channels) {
            let mut insert = conn.prepare_cached(&sql)?;
            match owner {
                Some(owner) => insert.execute(rusqlite::params![
                    event_id,
                    channel.as_str(),
                    event.at.0,
                    owner
                ])?,
                None => {
                    insert.execute(rusqlite::params![event_id, channel.as_str(), event.at.0])?
                }
            };
        }
    }
    Ok(())
}

/// One row at most.
pub(super) fn optional<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    conn.prepare_cached(sql)?.query_row(params, map).optional()
}

// Decoders from rusqlite rows into the row shapes sqlx decodes (same column names).

pub(super) fn session_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        created_at: row.get("created_at")?,
        last_seen_at: row.get("last_seen_at")?,
        expires_at: row.get("expires_at")?,
        ip: row.get("ip")?,
        user_agent: row.get("user_agent")?,
    })
}

pub(super) fn session_account_row(row: &Row<'_>) -> rusqlite::Result<SessionAccountRow> {
    Ok(SessionAccountRow {
        session: session_row(row)?,
        a_email: row.get("a_email")?,
        a_name: row.get("a_name")?,
        a_password_hash: row.get("a_password_hash")?,
        a_is_admin: row.get("a_is_admin")?,
        a_created_at: row.get("a_created_at")?,
        a_last_sign_in_at: row.get("a_last_sign_in_at")?,
        a_has_two_factor: row.get("a_has_two_factor")?,
        t_enabled_at: row.get("t_enabled_at")?,
        t_pending_until: row.get("t_pending_until")?,
        t_recovery_codes: row.get("t_recovery_codes")?,
    })
}

pub(super) fn workspace_session_row(row: &Row<'_>) -> rusqlite::Result<WorkspaceSessionRow> {
    Ok(WorkspaceSessionRow {
        found: session_account_row(row)?,
        w_id: row.get("w_id")?,
        w_name: row.get("w_name")?,
        w_created_at: row.get("w_created_at")?,
        w_enforcement: row.get("w_enforcement")?,
        w_grace_period_days: row.get("w_grace_period_days")?,
        w_enforced_since: row.get("w_enforced_since")?,
        m_role: row.get("m_role")?,
    })
}

pub(super) fn workspace_role_row(row: &Row<'_>) -> rusqlite::Result<WorkspaceRoleRow> {
    Ok(WorkspaceRoleRow {
        workspace: WorkspaceRow {
            id: row.get("id")?,
            name: row.get("name")?,
            created_at: row.get("created_at")?,
            enforcement: row.get("enforcement")?,
            grace_period_days: row.get("grace_period_days")?,
            enforced_since: row.get("enforced_since")?,
        },
        role: row.get("role")?,
    })
}

pub(super) fn counter_row(row: &Row<'_>) -> rusqlite::Result<CounterRow> {
    Ok(CounterRow {
        failures: row.get("failures")?,
        window_start: row.get("window_start")?,
        locked_until: row.get("locked_until")?,
    })
}

pub(super) fn account_row(row: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        id: row.get("id")?,
        email: row.get("email")?,
        name: row.get("name")?,
        password_hash: row.get("password_hash")?,
        is_admin: row.get("is_admin")?,
        created_at: row.get("created_at")?,
        last_sign_in_at: row.get("last_sign_in_at")?,
    })
}

pub(super) fn two_factor_row(row: &Row<'_>) -> rusqlite::Result<TwoFactorRow> {
    Ok(TwoFactorRow {
        key_id: row.get("key_id")?,
        secret: row.get("secret")?,
        enabled_at: row.get("enabled_at")?,
        last_step: row.get("last_step")?,
        pending_key_id: row.get("pending_key_id")?,
        pending_secret: row.get("pending_secret")?,
        pending_expires_at: row.get("pending_expires_at")?,
    })
}

pub(super) fn challenge_context_row(row: &Row<'_>) -> rusqlite::Result<ChallengeContextRow> {
    Ok(ChallengeContextRow {
        challenge: ChallengeRow {
            account_id: row.get("account_id")?,
            expires_at: row.get("expires_at")?,
            failures: row.get("failures")?,
        },
        account: account_row(row)?,
        two_factor: two_factor_row(row)?,
        k_failures: row.get("k_failures")?,
        k_window_start: row.get("k_window_start")?,
        k_locked_until: row.get("k_locked_until")?,
        recovery_codes_remaining: row.get("recovery_codes_remaining")?,
    })
}
