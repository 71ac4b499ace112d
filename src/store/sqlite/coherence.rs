//! Node memory on SQLite: one process serves the file, but the CLI (or a second process)
//! may write to it too. Before every remembered answer the node asks `PRAGMA data_version`
//! on a connection of its own, which moves whenever any other connection commits, and
//! forgets everything when it moved. That costs one in-memory statement per request instead
//! of the lookup, and a change committed anywhere is seen by the next request.

use std::sync::Arc;

use async_trait::async_trait;

use super::db::Db;
use crate::store::cache::{Coherence, Memory};
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
