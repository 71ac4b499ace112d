//! The embedded SQLite backend: WAL, foreign keys, a busy timeout, and `synchronous=FULL`
//! so that an acknowledged write survives a power cut (a rolled-back "used" mark would let
//! a code be accepted twice).
//!
//! One file per aggregate, the same files as `postgres/`: `accounts.rs`, `sessions.rs`,
//! `throttle.rs`, `two_factor.rs`, `recovery_codes.rs`, `challenges.rs`, `events.rs`,
//! `secrets.rs`, `workspaces.rs`; `store.rs` is the `Store` impl that hands over to them.
//! Besides: `direct.rs` (the hot paths on rusqlite), `sign_in.rs` (answering a challenge),
//! `journal.rs` (events with their changes), `outbox.rs`, `coherence.rs`.

mod accounts;
mod challenges;
mod coherence;
mod direct;
mod events;
mod journal;
mod outbox;
mod recovery_codes;
mod secrets;
mod sessions;
mod sign_in;
mod store;
mod throttle;
mod two_factor;
mod workspaces;

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

// What `sign_in.rs` shares with the aggregate files.
use sessions::{INSERT_SESSION, RECORD_SIGN_IN};

use super::cache::NodeCache;
use super::{PoolSettings, StoreError};

/// SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    direct: std::sync::Arc<direct::Direct>,
    /// What this node remembers, kept true by `PRAGMA data_version` (`sqlite/coherence.rs`).
    cache: std::sync::Arc<NodeCache>,
}

impl SqliteStore {
    /// Opens (creating if absent) the database file named by a `sqlite:` URL.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(settings.acquire_timeout)
            .disable_statement_logging();
        let filename = options.get_filename().to_owned();
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A ping before every acquire doubles the round trips of a one-query request;
            // a broken connection fails that one query and is replaced instead.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        // The pool has created the file by now; the hot paths get their own connections.
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
        let direct = direct::Direct::open(&filename, settings.acquire_timeout, readers)?;
        let direct = std::sync::Arc::new(direct);
        let coherence = coherence::DataVersion::new(std::sync::Arc::clone(&direct));
        Ok(Self {
            pool,
            direct,
            cache: std::sync::Arc::new(NodeCache::new(std::sync::Arc::new(coherence))),
        })
    }
}
