//! Node memory on SQLite: one process serves the file, but the CLI (or a second process)
//! may write to it too. Before it answers from memory the node asks `PRAGMA data_version` on
//! a connection of its own, which moves whenever any other connection commits, and forgets
//! everything when it moved: once per request, at its first remembered read
//! (`cache::one_request`), and before every remembered read outside a request. That costs
//! one in-memory statement per request instead of the lookups, and a change committed
//! anywhere is seen by the next request.

use std::sync::Arc;

use async_trait::async_trait;

use super::db::Db;
use crate::store::cache::{asked_before_in_this_request, Coherence, Memory};
use crate::store::StoreError;

/// Coherence through `PRAGMA data_version`.
#[derive(Debug)]
pub(crate) struct DataVersion {
    db: Arc<Db>,
}

impl DataVersion {
    pub(super) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Coherence for DataVersion {
    fn current(&self, memory: &Memory) -> bool {
        // Once per request: each question is a read transaction on the watch connection,
        // with its file locks, under one lock; `/me` asked three times (BENCHMARKS.md,
        // figure 3).
        if asked_before_in_this_request() {
            return true;
        }
        // Cleared under the watch lock: no other request can see the new version and still
        // find the old entries.
        self.db.when_changed(|| memory.clear());
        true
    }

    async fn publish(&self) -> Result<(), StoreError> {
        // The writer cleared its own memory, and it is the only node: nothing to wait for.
        Ok(())
    }

    async fn join(&self, memory: Arc<Memory>) -> Result<(), StoreError> {
        self.db.when_changed(|| ());
        memory.clear();
        Ok(())
    }

    async fn leave(&self) {}
}
