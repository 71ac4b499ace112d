//! The end of an account's life (SPEC §11 "The rest of the lifecycle"): the [`Lifecycle`]
//! aggregate, suspension and deletion, and what it answers. Each backend implements it in
//! its `lifecycle.rs`; who may do what, and the events, are `admin/lifecycle.rs` and
//! `accounts/lifecycle.rs`.
//!
//! Invariants:
//! - Suspending and lifting a suspension are each one conditional UPDATE of
//!   `accounts.suspended_at`, whose rows affected decide; the event is appended only then.
//! - Suspending ends the account's sessions and open challenges in the same transaction,
//!   and every per-request read carries `suspended_at`, so no session of a suspended account
//!   is honoured even if one was minted by a sign-in that raced the suspension.
//! - Deletion deletes the `accounts` row, not a tombstone. Every table that refers to it
//!   (sessions, two_factor with the sealed secrets and pending enrolment, recovery_codes,
//!   challenges, memberships, reset_requests, email_tokens, notification_outbox deliveries to
//!   it) follows by `ON DELETE CASCADE`; the invitations it made (`invited_by`, no foreign
//!   key) are deleted with it. `security_events.account_id` has no foreign key, so the audit
//!   trail keeps the id and the `account_deleted` event. A tombstone would have kept the
//!   address (UNIQUE) or needed it rewritten, kept the row's personal data for nobody, and
//!   made every read of accounts filter it out; the random id is never reused, so nothing
//!   needs the row to stay.
//! - Deletion never leaves a workspace that has other members without an owner: that answers
//!   [`Deletion::LastOwner`] and changes nothing. A workspace the account is the only member
//!   of goes with it (there is nobody to hand it to).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::event::NewEvent;
use crate::domain::ids::AccountId;
use crate::domain::notification::Channels;
use crate::domain::time::UnixTime;

/// Suspending, lifting a suspension, and deleting accounts.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Suspends the account at `now` unless it is suspended already, in one transaction:
    /// ends its sessions and challenges and appends `event`. How many sessions ended, or
    /// `None` (nothing changed, nothing recorded) when it was suspended already or is gone.
    async fn suspend_account(
        &self,
        account: &AccountId,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<Option<u64>, StoreError>;
    /// Lifts the account's suspension and appends `event`; false (nothing recorded) when it
    /// was not suspended.
    async fn unsuspend_account(
        &self,
        account: &AccountId,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<bool, StoreError>;
    /// Deletes the account in one transaction with everything that is only its own, and
    /// appends `event` (see the module's invariants).
    async fn delete_account(
        &self,
        account: &AccountId,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<Deletion, StoreError>;
}

/// What deleting an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// The account is gone.
    Deleted {
        /// Sessions ended.
        sessions_ended: u64,
        /// Workspaces it was the only member of, deleted with it.
        workspaces_deleted: u64,
    },
    /// It is the last owner of this workspace, which has other members: nothing changed.
    LastOwner {
        /// The workspace's id.
        workspace: String,
    },
    /// There was no such account (deleted meanwhile, say): nothing changed.
    Gone,
}
