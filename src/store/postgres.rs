//! The PostgreSQL backend, for many stateless nodes over one database. Every single-use
//! and counted change is one conditional statement, so the guarantees hold across nodes.
//!
//! One file per aggregate, the same files as `sqlite/`: `accounts.rs`, `sessions.rs`,
//! `throttle.rs`, `two_factor.rs`, `recovery_codes.rs`, `challenges.rs`, `events.rs`,
//! `secrets.rs`, `workspaces.rs`, `admin.rs` (resets and reset requests), `sign_in.rs` (the
//! statements of a sign-in), `lifecycle.rs` (suspension and deletion), each implementing the
//! trait of the same name (`aggregates.rs`, `lifecycle.rs`).
//! Besides: `batch.rs`, `completion.rs` and `challenge_read.rs` (answering a challenge, with
//! group commit), `journal.rs` (events with their changes), `outbox.rs`, `coherence.rs`.

mod accounts;
mod admin;
mod api_tokens;
mod batch;
mod challenge_read;
mod challenges;
mod coherence;
mod completion;
mod email_tokens;
mod events;
mod journal;
mod lifecycle;
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

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

// What `sign_in.rs` shares with the aggregate files.
use challenges::INSERT_CHALLENGE;
use sessions::insert_session;
use throttle::REFUND_FAILURE;

use super::cache::{NodeCache, Write};
use super::{PoolSettings, Store, StoreError};

/// PostgreSQL storage.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Group commit of code sign-ins (`postgres/batch.rs`).
    batcher: Arc<batch::Batcher>,
    /// What this node remembers, kept coherent across nodes (`postgres/coherence.rs`).
    cache: Arc<NodeCache>,
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
        let batcher = Arc::new(batch::Batcher::start(&options, settings.acquire_timeout));
        let cache = Arc::new(NodeCache::new(Arc::new(coherence::Leases::new(
            pool.clone(),
        ))));
        Ok(Self {
            pool,
            batcher,
            cache,
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.cache
            .write(Write::Migrate, async {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?;
                Ok(())
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn join_cache(&self) -> Result<(), StoreError> {
        self.cache.join().await
    }

    async fn leave_cache(&self) {
        self.cache.leave().await;
    }
}
