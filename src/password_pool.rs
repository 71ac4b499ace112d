//! Where password hashing runs. argon2id with 19 MiB takes ~15 ms of one core; run on the
//! async workers it would stall every other request, and run without a bound a flood of
//! sign-ins would queue hundreds of blocking threads, each keeping its own 19 MiB.
//!
//! So a fixed set of threads, one per core, takes jobs from one queue. Each thread owns one
//! argon2 working memory ([`Scratch`]) that every verification reuses: no allocation and no
//! page faults per sign-in, and the memory held is cores × 19 MiB, whatever the load.
//! The threads end when the last handle to the pool is dropped.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::domain::password::{self, HashError, Password, Scratch};

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// A bounded pool for argon2 work.
#[derive(Clone)]
pub struct PasswordPool {
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<str>,
}

impl PasswordPool {
    /// A pool of `parallelism` hashing threads (at least one).
    pub fn new(parallelism: usize) -> Result<Self, HashError> {
        // Security: unknown accounts are verified against this hash, so that they cost the
        // same as a wrong password for a real one.
        let dummy = password::hash_password(&Password::new(crate::domain::ids::new_id()))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..parallelism.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || work(&queue))
                .map_err(|_| HashError::unavailable())?;
        }
        Ok(Self {
            jobs,
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
        work: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |scratch| {
            let _ = done.send(work(scratch));
        });
        self.jobs.send(job).map_err(|_| HashError::unavailable())?;
        result.await.map_err(|_| HashError::unavailable())
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move |scratch| password::hash_password_in(&password, scratch))
            .await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no
    /// account, which always fails but costs the same.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> bool {
        let dummy = Arc::clone(&self.dummy_hash);
        let known = stored.is_some();
        let verified = self
            .run(move |scratch| {
                let phc = stored.as_deref().unwrap_or(&dummy);
                password::verify_password_in(&password, phc, scratch)
            })
            .await
            .unwrap_or(false);
        verified && known
    }
}

fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    let mut scratch = Scratch::new();
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match next {
            Ok(job) => job(&mut scratch),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_known_and_refuses_unknown_accounts() {
        let pool = PasswordPool::new(2).unwrap_or_else(|_| unreachable!());
        let password = Password::new("violet anchor drifts seven lanterns");
        let stored = pool.hash(password.clone()).await.unwrap_or_default();
        assert!(pool.verify(password.clone(), Some(stored.clone())).await);
        let wrong = Password::new("violet anchor drifts seven lanterns?");
        assert!(!pool.verify(wrong, Some(stored)).await);
        // No account: the dummy hash is checked, and the answer is always no.
        assert!(!pool.verify(password, None).await);
    }
}
