//! [`NodeCache`]: what a backend holds of the node memory, and the only ways its methods
//! use it: [`remembered`] (a per-request read, answered from memory when allowed) and
//! [`write`] (around a write: publishes it once committed, unless it is exempt).
//!
//! [`remembered`]: NodeCache::remembered
//! [`write`]: NodeCache::write

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::memory::{Key, Memory, Remembered};
use super::writes::Write;
use super::Coherence;
use crate::domain::time::UnixTime;
use crate::store::StoreError;

/// One backend's node memory and the [`Coherence`] that keeps it true.
pub(crate) struct NodeCache {
    coherence: Arc<dyn Coherence>,
    memory: Arc<Memory>,
    serving: AtomicBool,
}

impl std::fmt::Debug for NodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCache")
            .field("coherence", &self.coherence)
            .field("entries", &self.memory.len())
            .finish_non_exhaustive()
    }
}

impl NodeCache {
    pub(crate) fn new(coherence: Arc<dyn Coherence>) -> Self {
        Self {
            coherence,
            memory: Arc::default(),
            serving: AtomicBool::new(false),
        }
    }

    /// This node starts answering from memory.
    pub(crate) async fn join(&self) -> Result<(), StoreError> {
        self.coherence.join(Arc::clone(&self.memory)).await?;
        self.serving.store(true, Ordering::Release);
        Ok(())
    }

    /// This node stops answering from memory.
    pub(crate) async fn leave(&self) {
        self.serving.store(false, Ordering::Release);
        self.memory.clear();
        self.coherence.leave().await;
    }

    fn usable(&self) -> bool {
        self.serving.load(Ordering::Acquire) && self.coherence.current(&self.memory)
    }

    /// A remembered read under `key`: the memory's answer, or `read`'s (remembered when it
    /// found something and the memory was not cleared while it was read).
    pub(crate) async fn remembered<T, F>(&self, key: Key, read: F) -> Result<T, StoreError>
    where
        T: Remembered,
        F: Future<Output = Result<T, StoreError>>,
    {
        if !self.usable() {
            return read.await;
        }
        if let Some(found) = self.memory.get(&key).and_then(T::recalled) {
            return Ok(found);
        }
        let epoch = self.memory.epoch();
        let found = read.await?;
        if let Some(value) = found.kept() {
            if self.usable() {
                self.memory.remember(epoch, key, value);
            }
        }
        Ok(found)
    }

    /// A write: `write` runs; once it committed, unless `which` is exempt (`writes.rs`),
    /// this node forgets everything and [`Coherence::publish`] waits until no node can
    /// answer from data older than it. Every write method of a backend is this call around
    /// its body.
    pub(crate) async fn write<T, F>(&self, which: Write, write: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        self.write_if(which, write, |_| true).await
    }

    /// [`Self::write`] for a write whose answer can say that it changed nothing (`changed`
    /// is false): then it does not publish.
    pub(crate) async fn write_if<T, F>(
        &self,
        which: Write,
        write: F,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let value = write.await?;
        if which.publishes() && changed(&value) {
            self.memory.clear();
            self.coherence.publish().await?;
        }
        Ok(value)
    }

    /// The session or API token `session` was used at `now`: what this node remembers of it
    /// says so.
    pub(crate) fn touched(&self, session: &str, now: UnixTime) {
        self.memory.touched(session, now);
    }
}
