//! The instance policy is read on every authenticated request, so each node keeps it for at
//! most [`POLICY_TTL`]. A change made on this node is seen here at once (write-through); other
//! nodes see it within the TTL. (Sessions are remembered elsewhere, in `store::cache`, where
//! a revocation answers only once every node has forgotten the session.)

use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::domain::workspace::InstancePolicy;
use crate::store::{Store, StoreError};

/// How long a node trusts its copy of the instance policy.
pub const POLICY_TTL: Duration = Duration::from_secs(1);

/// A node's copy of the instance policy.
#[derive(Debug, Default)]
pub struct PolicyCache {
    entry: RwLock<Option<(Instant, Option<InstancePolicy>)>>,
}

impl PolicyCache {
    /// The policy, from the copy when it is fresh, else from the store.
    pub async fn get(&self, store: &dyn Store) -> Result<Option<InstancePolicy>, StoreError> {
        if let Ok(guard) = self.entry.read() {
            if let Some((fetched, policy)) = *guard {
                if fetched.elapsed() < POLICY_TTL {
                    return Ok(policy);
                }
            }
        }
        let policy = store.instance_policy().await?;
        self.put(policy);
        Ok(policy)
    }

    /// Replaces the copy (after this node changed the policy).
    pub fn put(&self, policy: Option<InstancePolicy>) {
        if let Ok(mut guard) = self.entry.write() {
            *guard = Some((Instant::now(), policy));
        }
    }
}
