//! Where password hashing runs. argon2id with 19 MiB takes ~15 ms of one core; run on the
//! async workers it would stall every other request, and run without a bound a flood of
//! sign-ins would queue hundreds of blocking threads. So at most one hash per core runs at
//! a time, on tokio's blocking pool, and waiting requests queue on a semaphore.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::domain::password::{self, HashError, Password};

/// A bounded pool for argon2 work.
#[derive(Clone)]
pub struct PasswordPool {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl PasswordPool {
    /// A pool running at most `parallelism` hashes at once (at least one).
    pub fn new(parallelism: usize) -> Result<Self, HashError> {
        // Security: unknown accounts are verified against this hash, so that they cost the
        // same as a wrong password for a real one.
        let dummy = password::hash_password(&Password::new(crate::domain::ids::new_id()))?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
            dummy_hash: dummy.into(),
        })
    }

    /// A pool sized to the machine's cores.
    pub fn for_this_machine() -> Result<Self, HashError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError::unavailable())?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|_| HashError::unavailable())
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move || password::hash_password(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no
    /// account, which always fails but costs the same.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> bool {
        let dummy = Arc::clone(&self.dummy_hash);
        let known = stored.is_some();
        let verified = self
            .run(move || {
                let phc = stored.as_deref().unwrap_or(&dummy);
                password::verify_password(&password, phc)
            })
            .await
            .unwrap_or(false);
        verified && known
    }
}
