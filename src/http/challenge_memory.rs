//! The node that opens a sign-in challenge remembers what answering it needs (the account
//! and its authenticator, as read for the password step), so that an answer coming back to
//! the same node skips reading them again: a code sign-in is then one statement.
//!
//! Only a hint. The store's completion still decides everything: the challenge must still
//! exist and be live, the step must be later than the last accepted one and the sealed
//! secret still the one the code was judged against (a reset and a new enrolment meanwhile
//! refuse it), and the failure counter must still be absent. Whatever a remembered answer
//! does not carry through to a sign-in (a wrong code, a counted failure, a changed secret,
//! anything) is answered again from the database as if it had never been remembered.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::domain::ids::TokenHash;
use crate::domain::time::UnixTime;
use crate::store::ChallengeContext;

/// Most challenges remembered at once; past it, expired ones are dropped, and new ones are
/// not remembered while it is still full.
pub const CAPACITY: usize = 10_000;

/// Challenges this node opened and nobody answered yet.
#[derive(Debug, Default)]
pub struct ChallengeMemory {
    entries: Mutex<HashMap<Vec<u8>, ChallengeContext>>,
}

impl ChallengeMemory {
    /// Remembers the challenge stored under `token`.
    pub fn remember(&self, token: &TokenHash, context: ChallengeContext, now: UnixTime) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, known| now < known.challenge.expires_at);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert(token.0.clone(), context);
    }

    /// Takes (and forgets) the challenge stored under `token`, if this node remembers it.
    pub fn take(&self, token: &TokenHash) -> Option<ChallengeContext> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token.0)
    }
}
