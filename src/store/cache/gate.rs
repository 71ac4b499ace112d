//! [`CachedStore`] and the only three ways its methods reach the store it wraps: [`read`]
//! (passed on), [`remembered`] (answered from memory when allowed) and [`write`] (which
//! publishes unless the write is exempt). The wrapped store is private to this module, so
//! a method in `forward.rs` or `outbox.rs` cannot reach it any other way, and so cannot
//! forget to publish.
//!
//! [`read`]: CachedStore::read
//! [`remembered`]: CachedStore::remembered
//! [`write`]: CachedStore::write

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::memory::{Key, Memory, Remembered};
use super::writes::Write;
use super::Coherence;
use crate::domain::time::UnixTime;
use crate::store::{Store, StoreError};

/// A [`Store`] that answers the per-request reads from memory when its backend's
/// [`Coherence`] allows, and publishes every write but the exempt ones.
pub(crate) struct CachedStore {
    inner: Arc<dyn Store>,
    coherence: Arc<dyn Coherence>,
    memory: Arc<Memory>,
    serving: AtomicBool,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("coherence", &self.coherence)
            .field("entries", &self.memory.len())
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    pub(crate) fn new(inner: Arc<dyn Store>, coherence: Arc<dyn Coherence>) -> Self {
        Self {
            inner,
            coherence,
            memory: Arc::default(),
            serving: AtomicBool::new(false),
        }
    }

    /// This node starts answering from memory.
    pub(super) async fn join(&self) -> Result<(), StoreError> {
        self.coherence.join(Arc::clone(&self.memory)).await?;
        self.serving.store(true, Ordering::Release);
        Ok(())
    }

    /// This node stops answering from memory.
    pub(super) async fn leave(&self) {
        self.serving.store(false, Ordering::Release);
        self.memory.clear();
        self.coherence.leave().await;
    }

    fn usable(&self) -> bool {
        self.serving.load(Ordering::Acquire) && self.coherence.current(&self.memory)
    }

    /// A read that is never remembered.
    pub(super) fn read<'a, F>(&'a self, call: impl FnOnce(&'a dyn Store) -> F) -> F {
        call(self.inner.as_ref())
    }

    /// A remembered read under `key`, or the store's answer (remembered when it found
    /// something and the memory was not cleared while it was read).
    pub(super) fn remembered<'a, T, F>(
        &'a self,
        key: Key,
        call: impl FnOnce(&'a dyn Store) -> F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'a
    where
        T: Remembered + Send + 'a,
        F: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        let read = call(self.inner.as_ref());
        async move {
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
    }

    /// A write: once it committed, unless `write` is exempt, this node forgets everything
    /// and [`Coherence::publish`] waits until no node can answer from data older than it.
    pub(super) fn write<'a, T, F>(
        &'a self,
        write: Write,
        call: impl FnOnce(&'a dyn Store) -> F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        self.write_if(write, call, |_| true)
    }

    /// [`Self::write`] for a publishing write whose answer can say that it changed nothing
    /// (`changed` is false): then it does not publish.
    pub(super) fn write_if<'a, T, F>(
        &'a self,
        write: Write,
        call: impl FnOnce(&'a dyn Store) -> F,
        changed: impl FnOnce(&T) -> bool + Send + 'a,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        let pending = call(self.inner.as_ref());
        async move {
            let value = pending.await?;
            if write.publishes() && changed(&value) {
                self.memory.clear();
                self.coherence.publish().await?;
            }
            Ok(value)
        }
    }

    /// The session `session` was used at `now`: what this node remembers of it says so.
    pub(super) fn touched(&self, session: &str, now: UnixTime) {
        self.memory.touched(session, now);
    }
}
