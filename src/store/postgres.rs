//! The PostgreSQL backend, for many stateless nodes over one database. Every single-use
//! and counted change is one conditional statement, so the guarantees hold across nodes.
//!
//! One file per aggregate, the same files as `sqlite/`: `accounts.rs`, `sessions.rs`,
//! `throttle.rs`, `two_factor.rs`, `recovery_codes.rs`, `challenges.rs`, `events.rs`,
//! `secrets.rs`, `workspaces.rs`; `store.rs` is the `Store` impl that hands over to them.
//! Besides: `sign_in.rs`, `batch.rs`, `completion.rs` and `challenge_read.rs` (answering a
//! challenge, with group commit), `journal.rs` (events with their changes), `outbox.rs`,
//! `coherence.rs`.

mod accounts;
mod batch;
mod challenge_read;
mod challenges;
mod coherence;
mod completion;
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

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

// What `sign_in.rs` shares with the aggregate files.
use challenges::INSERT_CHALLENGE;
use sessions::insert_session;
use throttle::REFUND_FAILURE;

use super::{PoolSettings, StoreError};

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Group commit of code sign-ins (`postgres/batch.rs`).
    batcher: std::sync::Arc<batch::Batcher>,
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` URL.
    pub async fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A ping before every acquire doubles the round trips of a one-query request;
            // a broken connection fails that one query and is replaced instead.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let batcher =
            std::sync::Arc::new(batch::Batcher::start(&options, settings.acquire_timeout));
        Ok(Self { pool, batcher })
    }

    /// How the node memory stays coherent across nodes (`postgres/coherence.rs`).
    pub(crate) fn coherence(&self) -> std::sync::Arc<dyn crate::store::cache::Coherence> {
        std::sync::Arc::new(coherence::Leases::new(self.pool.clone()))
    }
}
