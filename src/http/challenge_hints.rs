//! The node that opens a sign-in challenge remembers what answering it needs, as the password
//! step read it (the account, its authenticator, its second-factor failure counter and its
//! recovery codes left), so that a code answered on the same node skips the challenge read:
//! a right code is then one statement, its completion.
//!
//! Only a hint; the database still decides everything, and each answer ends as it would
//! have after reading:
//! - A right code is completed and a wrong one counted by the same store path, which first
//!   checks that the failure counter is still the remembered value. If it moved (failures
//!   on another challenge or node, a lock-out), neither changes anything and both are
//!   answered from a fresh read, where a lock refuses them before anything is judged: so a
//!   remembered challenge never tells a right code from a wrong one while the account is
//!   locked, not even by timing.
//! - Otherwise a right code is spent only while the challenge is live, the step later than
//!   the last accepted one and the sealed secret still the one it was judged against, and it
//!   claims the counter by compare-and-swap; a wrong code is counted by compare-and-swap.
//!   Whatever does not sign in is counted, then answered from a fresh read (the challenge
//!   may be gone, two-factor reset or the secret re-enrolled meanwhile).
//!
//! **Right and wrong codes are treated alike**, so the throttle still bounds guesses: both
//! reach the failure counter in one statement from the same remembered value (on
//! PostgreSQL the same batched statement, `store/postgres/batch.rs`). A hint only right
//! codes used let a burst of challenges opened on one node beat the 10-failure throttle: the
//! right code always reached the counter first. That hint was removed in the second session.
//!
//! A hint is used once: taken by the first answer, whatever it is. Memory is bounded: past
//! [`CAPACITY`], expired hints are dropped (at most once a second), and new challenges are
//! not remembered while it is still full.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::domain::ids::TokenHash;
use crate::domain::time::UnixTime;
use crate::store::ChallengeContext;

/// Most challenges remembered at once (about 0.5 KiB each).
pub const CAPACITY: usize = 10_000;

/// Challenges this node opened and nobody answered yet.
#[derive(Default)]
pub struct ChallengeHints {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_token: HashMap<Vec<u8>, ChallengeContext>,
    /// When expired hints were last dropped.
    pruned: Option<UnixTime>,
}

/// Security: says how many, never what (a hint holds a password hash and a sealed secret).
impl std::fmt::Debug for ChallengeHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeHints")
            .field("len", &self.len())
            .finish()
    }
}

impl ChallengeHints {
    /// Remembers the challenge stored under `token`.
    pub fn remember(&self, token: &TokenHash, context: ChallengeContext, now: UnixTime) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.by_token.len() >= CAPACITY {
            if entries.pruned.is_some_and(|at| now < at.plus_seconds(1)) {
                return;
            }
            entries.pruned = Some(now);
            entries
                .by_token
                .retain(|_, known| now < known.challenge.expires_at);
            if entries.by_token.len() >= CAPACITY {
                return;
            }
        }
        entries.by_token.insert(token.0.clone(), context);
    }

    /// Takes (and forgets) the challenge stored under `token`, if this node remembers it.
    pub fn take(&self, token: &TokenHash) -> Option<ChallengeContext> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_token
            .remove(&token.0)
    }

    /// Challenges remembered now.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_token
            .len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::Account;
    use crate::domain::ids::AccountId;
    use crate::store::Challenge;

    fn context(expires_at: i64) -> ChallengeContext {
        ChallengeContext {
            challenge: Challenge {
                account_id: AccountId("a".into()),
                expires_at: UnixTime(expires_at),
                failures: 0,
            },
            account: Account {
                id: AccountId("a".into()),
                email: crate::domain::email::Email::parse("a@example.com").unwrap(),
                name: None,
                password_hash: String::new(),
                is_admin: false,
                created_at: UnixTime(0),
                last_sign_in_at: None,
            },
            record: Default::default(),
            counter: None,
            recovery_codes_remaining: 0,
        }
    }

    /// A remembered right code and a wrong one must take the same path to the counter: on
    /// PostgreSQL both go through the batched statement only while a code sign-in's event
    /// notifies nobody (a notifying one takes the transaction path instead).
    #[test]
    fn a_code_sign_in_notifies_nobody() {
        use crate::domain::event::EventKind;
        use crate::domain::notification::audience;
        assert!(audience(EventKind::SignInSucceeded).is_none());
    }

    #[test]
    fn a_hint_is_taken_once() {
        let hints = ChallengeHints::default();
        let token = TokenHash(vec![1; 32]);
        hints.remember(&token, context(100), UnixTime(0));
        assert!(hints.take(&token).is_some());
        assert!(hints.take(&token).is_none());
    }

    #[test]
    fn when_full_expired_hints_make_room_and_live_ones_are_kept() {
        let hints = ChallengeHints::default();
        for n in 0..CAPACITY as u32 {
            // Half expire at 50, half at 150.
            let expires = if n % 2 == 0 { 50 } else { 150 };
            let token = TokenHash(n.to_be_bytes().to_vec());
            hints.remember(&token, context(expires), UnixTime(0));
        }
        assert_eq!(hints.len(), CAPACITY);
        // Full of live hints at 10: a new one is not remembered.
        let extra = TokenHash(vec![9; 32]);
        hints.remember(&extra, context(200), UnixTime(10));
        assert!(hints.take(&extra).is_none());
        assert_eq!(hints.len(), CAPACITY);
        // Within a second of that pruning no other is tried.
        hints.remember(&extra, context(200), UnixTime(10));
        assert!(hints.take(&extra).is_none());
        // A second later they go, and the new one is remembered.
        hints.remember(&extra, context(200), UnixTime(100));
        assert_eq!(hints.len(), CAPACITY / 2 + 1);
        assert!(hints.take(&extra).is_some());
        assert!(hints
            .take(&TokenHash(1u32.to_be_bytes().to_vec()))
            .is_some());
    }
}
