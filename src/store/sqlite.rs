//! The embedded SQLite backend, on rusqlite alone: one process serves the file through
//! `db.rs` (reads inline on a few reader connections, every write in a savepoint of its own
//! on the single writer connection, the writes queued together committed as one
//! transaction, every PRAGMA set in one place).
//!
//! One file per aggregate, the same files as `postgres/`: `accounts.rs`, `sessions.rs`,
//! `throttle.rs`, `two_factor.rs`, `recovery_codes.rs`, `challenges.rs`, `events.rs`,
//! `secrets.rs`, `workspaces.rs`, `admin.rs` (resets and reset requests), `sign_in.rs` (the
//! statements of a sign-in), `lifecycle.rs` (suspension and deletion), each implementing the
//! trait of the same name (`aggregates.rs`, `lifecycle.rs`).
//! Besides: `db.rs` (the connections), `decode.rs` (rows into the shared row shapes),
//! `migrate.rs` (the embedded migrations and their runner), `journal.rs` (events with their
//! changes), `outbox.rs`, `coherence.rs`.

mod accounts;
mod admin;
mod api_tokens;
mod challenges;
mod coherence;
mod db;
mod decode;
mod email_tokens;
mod events;
mod journal;
mod lifecycle;
mod migrate;
mod oidc;
mod oidc_exchange;
mod oidc_logout;
mod oidc_refresh;
mod outbox;
mod recovery_codes;
mod secrets;
mod sessions;
mod sign_in;
mod throttle;
mod two_factor;
mod webauthn;
mod workspaces;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use percent_encoding::percent_decode_str;

// What `sign_in.rs` shares with the aggregate files.
use challenges::INSERT_CHALLENGE;
use sessions::insert_session;
use throttle::REFUND_FAILURE;

use super::cache::{NodeCache, Write};
use super::{PoolSettings, Store, StoreError};

/// SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Arc<db::Db>,
    /// What this node remembers, kept true by `PRAGMA data_version` (`sqlite/coherence.rs`).
    cache: Arc<NodeCache>,
}

impl SqliteStore {
    /// Opens (creating if absent) the database file named by a `sqlite:` URL.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let path = file_of(url)?;
        let readers = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
        let timeout = settings.acquire_timeout;
        // Opening may wait for another process's lock (the busy timeout): not on this thread.
        let db = tokio::task::spawn_blocking(move || db::Db::open(&path, timeout, readers))
            .await
            .map_err(|join| StoreError::Task(join.to_string()))??;
        let db = Arc::new(db);
        let cache = NodeCache::new(Arc::new(coherence::DataVersion::new(Arc::clone(&db))));
        Ok(Self {
            db,
            cache: Arc::new(cache),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.cache
            .write(Write::Migrate, async {
                // One savepoint per migration, atomic with its row (`migrate.rs`).
                while self
                    .db
                    .write(|tx| migrate::apply_next(tx, migrate::MIGRATIONS))
                    .await?
                    .is_some()
                {}
                Ok(())
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
    }

    async fn join_cache(&self) -> Result<(), StoreError> {
        self.cache.join().await
    }

    async fn leave_cache(&self) {
        self.cache.leave().await;
    }
}

/// The file a `sqlite://FILE` (or `sqlite:FILE`) URL names, percent-decoded. An in-memory
/// database or URL parameters are refused: every connection must reach the same file.
fn file_of(url: &str) -> Result<PathBuf, StoreError> {
    let file = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or(StoreError::UnsupportedUrl)?;
    if file.is_empty() || file.contains('?') || file == ":memory:" {
        return Err(StoreError::UnsupportedUrl);
    }
    let file = percent_decode_str(file)
        .decode_utf8()
        .map_err(|_| StoreError::UnsupportedUrl)?;
    Ok(PathBuf::from(file.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file() {
        let file = |url| file_of(url).map_err(|e| e.to_string());
        assert_eq!(
            file("sqlite://deadbolt.db"),
            Ok(PathBuf::from("deadbolt.db"))
        );
        assert_eq!(
            file("sqlite:///var/lib/d.db"),
            Ok(PathBuf::from("/var/lib/d.db"))
        );
        assert_eq!(file("sqlite:data/d.db"), Ok(PathBuf::from("data/d.db")));
        assert_eq!(
            file("sqlite://my%20file.db"),
            Ok(PathBuf::from("my file.db"))
        );
        assert!(file("sqlite::memory:").is_err());
        assert!(file("sqlite://d.db?mode=ro").is_err());
        assert!(file("postgres://d").is_err());
    }
}
