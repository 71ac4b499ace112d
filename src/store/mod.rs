//! Storage: one [`Store`] trait in domain words, implemented for SQLite (the embedded
//! default) and PostgreSQL (many nodes). All SQL lives below this module; `sqlite/` and
//! `postgres/` have the same file per aggregate, each with the same method order, so that a
//! diff between two of them shows only dialect.
//!
//! Invariants:
//! - Times are unix seconds (`i64`), ids `TEXT`, secrets and digests `BLOB`/`BYTEA`.
//! - Single-use and counted state changes with one conditional statement whose affected
//!   rows are checked; never read-then-write.
//! - A named uniqueness violation becomes [`StoreError::Conflict`] here, and nowhere else.

mod aggregates;
mod api_tokens;
pub mod cache;
mod email_tokens;
mod error;
mod lifecycle;
mod oidc;
mod oidc_exchange;
mod oidc_logout;
mod oidc_refresh;
pub mod outbox;
mod postgres;
mod rows;
mod sqlite;
mod types;
pub mod webauthn;

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::event::NewEvent;
use crate::domain::notification::{audience, Channels};

pub use aggregates::{
    Accounts, Challenges, Events, RecoveryCodes, Resets, Secrets, Sessions, SignIns, Throttles,
    TwoFactors, Workspaces,
};
pub use api_tokens::{ApiTokens, NewApiToken, TokenLookup, WorkspaceTokenLookup};
pub use email_tokens::{EmailTokens, LinkEffect, NewEmailToken, SpentEmailToken, TokenOwner};
pub use error::{Constraint, StoreError};
pub use lifecycle::{Deletion, Lifecycle};
pub use oidc::{AccessTokenGrant, ClientSource, Consent, Oidc, OidcClient, OidcGrant};
pub use oidc_exchange::{CodeExchange, Exchange, OidcExchanges, Refusal, Subject};
pub use oidc_logout::{LogoutCourier, LogoutDelivery, LogoutQueue, OidcLogouts};
pub use oidc_refresh::{IssuedTokens, OidcRefresh, RefreshGrant, Rotation};
pub use outbox::Outbox;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use types::*;
pub use webauthn::WebAuthnStore;

/// Whether recording `event` queues any delivery on `channels`.
pub fn notifies(event: &NewEvent, channels: Channels) -> bool {
    audience(event.kind).is_some() && channels.enabled().next().is_some()
}

/// Everything the server keeps: every aggregate, and the database itself.
#[async_trait]
pub trait Store:
    Accounts
    + Sessions
    + Throttles
    + TwoFactors
    + RecoveryCodes
    + Challenges
    + SignIns
    + Events
    + Secrets
    + Workspaces
    + Resets
    + EmailTokens
    + Lifecycle
    + Outbox
    + Oidc
    + OidcRefresh
    + OidcExchanges
    + OidcLogouts
    + ApiTokens
    + WebAuthnStore
    + Send
    + Sync
    + 'static
{
    /// Applies the embedded migrations for this backend.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
    /// This process starts answering the per-request reads from memory, kept coherent with
    /// every other node (see `cache.rs`); the server calls it, the CLI does not.
    async fn join_cache(&self) -> Result<(), StoreError>;
    /// This process stops answering from memory and leaves the coherence protocol.
    async fn leave_cache(&self);
}

/// Opens the database named by `url` (`sqlite:…` or `postgres://…`) without migrating. Its
/// node memory (`cache.rs`) is used only once [`Store::join_cache`] is called.
pub async fn connect(url: &str, settings: PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, settings).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, settings).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
