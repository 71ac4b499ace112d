//! A node's memory of the reads every authenticated request makes (the session with its
//! account, forward-auth's session with membership, the account's workspaces, the instance
//! policy), kept coherent with the database so that a change is seen at once everywhere.
//!
//! Why: on PostgreSQL one session lookup costs the database about 150 µs of CPU in executor
//! start-up, so a node could not answer authenticated reads at more than a fraction of its
//! `/healthz` rate (BENCHMARKS.md). Answering from memory removes those queries.
//!
//! The rule: **every write publishes, unless it is on the exemption list** (`EXEMPT` in
//! `writes.rs`, each entry saying why the write changes nothing a node remembers). Each
//! backend holds a [`NodeCache`] (`gate.rs`) and wraps the body of every write method in
//! `self.cache.write(Write::…, async { … })`, naming its [`Write`] (one per write method; a
//! new write method needs a new `Write`, which publishes until listed as exempt, and one left
//! unused fails `clippy -D warnings`). To publish is, after the commit, to clear this node's
//! memory and then wait in [`Coherence::publish`] until no node can answer from data older
//! than that commit; only then does the caller (and so the person revoking a session,
//! demoting a member or requiring two-factor) get an answer. The CLI publishes the same way.
//! A publishing write may skip the publish only when its own answer says it changed nothing
//! (`write_if`: no code consumed, no invitation accepted, no session purged; and a sign-in
//! completed with TOTP, which only adds a session). The cache wraps only what it remembers:
//! the four per-request reads, API tokens, the OpenID Connect clients and signing keys that
//! every token request reads, and the access tokens userinfo and introspection read (judged
//! against the caller's `now` at every use), each `self.cache.remembered(Key::…, async { … })`.
//!
//! Invariants (what makes it safe):
//! - A node answers from memory only while [`Coherence::current`] says so: on PostgreSQL
//!   while it holds a lease in the database that writers respect (see
//!   `postgres/coherence.rs`); on SQLite while `PRAGMA data_version` has not moved.
//! - A read that started before a clear is never remembered after it ([`Memory::epoch`]).
//! - Nothing unknown is remembered (no negative entries), entries live at most
//!   [`ENTRY_TTL`], and at most [`CAPACITY`] of them are kept.
//! - Not published (so up to [`ENTRY_TTL`] stale on another node): fields no remembered
//!   decision uses, i.e. a session's `last_seen_at` (each node records use itself, at most
//!   once a minute).

mod gate;
mod memory;
mod writes;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub(crate) use gate::NodeCache;
pub(crate) use memory::Key;
pub use memory::Memory;
pub(crate) use writes::Write;

use super::StoreError;

/// How long an entry is used at most, whatever happens.
pub const ENTRY_TTL: Duration = Duration::from_secs(10);

/// Most entries kept; past it the memory starts over.
pub const CAPACITY: usize = 65_536;

tokio::task_local! {
    /// Within one request ([`one_request`]): whether a coherence that may be asked once per
    /// request (SQLite's, whose question costs a read transaction and its file locks) has
    /// been asked already.
    static ASKED: std::cell::Cell<bool>;
}

/// Runs `request` as one request for [`asked_before_in_this_request`]: SQLite's coherence
/// then asks `PRAGMA data_version` once per request, at its first remembered read, instead
/// of at every one. A change committed before the request's first remembered read is seen
/// by all of them, so the next request after any commit still sees it (`http/middleware.rs`
/// wraps every request). Outside a request (background tasks, the CLI) every read asks.
pub async fn one_request<F: std::future::Future>(request: F) -> F::Output {
    ASKED.scope(std::cell::Cell::new(false), request).await
}

/// Whether this request has asked already (and from now on, it has); false outside one.
pub(crate) fn asked_before_in_this_request() -> bool {
    ASKED.try_with(|asked| asked.replace(true)).unwrap_or(false)
}

/// How a backend keeps every node's memory coherent with the database.
#[async_trait]
pub(crate) trait Coherence: Send + Sync + std::fmt::Debug {
    /// Whether this node may answer from `memory` right now (clearing it first when the
    /// database changed behind its back).
    fn current(&self, memory: &Memory) -> bool;
    /// Called after a committed write that changes remembered data: returns once no node
    /// can answer from data older than that write.
    async fn publish(&self) -> Result<(), StoreError>;
    /// This process starts answering from `memory`.
    async fn join(&self, memory: Arc<Memory>) -> Result<(), StoreError>;
    /// This process stops answering from memory (graceful shutdown).
    async fn leave(&self);
}
