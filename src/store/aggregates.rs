//! The store's methods by aggregate, one trait each. Each backend implements a trait in
//! the file of the same name (`accounts.rs` implements [`Accounts`], and so on; `sign_in.rs`
//! implements [`SignIns`], `admin.rs` [`Resets`]), and [`Store`](super::Store) is all of them.
//! A feature added since keeps its trait beside its own types, in a file of its own
//! (`store/email_tokens.rs`), and each backend implements it in the file of that name.
//!
//! In an implementation every write method's body is wrapped in `self.cache.write(Write::…,
//! async { … })` (or `write_if`), which publishes it to the node memory unless it is exempt
//! (`cache.rs`), and each per-request read in `self.cache.remembered(Key::…, async { … })`.

use async_trait::async_trait;

use super::*;
use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::event::{Event, EventFilter, NewEvent};
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::notification::Channels;
use crate::domain::sealed::Sealed;
use crate::domain::sign_in::FirstFactor;
use crate::domain::throttle::Counter;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::TwoFactorRecord;
use crate::domain::workspace::{InstancePolicy, Invitation, Member, Role, Workspace};

/// Accounts and the first-start setup link.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Inserts an account; `Conflict(AccountEmail)` when the address is taken.
    async fn create_account(&self, account: &NewAccount) -> Result<(), StoreError>;
    /// The account with this id.
    async fn account_by_id(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// The account with this (normalized) address.
    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError>;
    /// How many accounts exist.
    async fn count_accounts(&self) -> Result<u64, StoreError>;
    /// Every account, by e-mail.
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Remembers a first-start setup link until `expires_at`.
    async fn create_setup_token(
        &self,
        token: &TokenHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Whether a setup link is unused and unexpired.
    async fn setup_token_is_live(
        &self,
        token: &TokenHash,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Redeems a setup link: consumes it and creates `account` as an admin, unless an
    /// admin exists. On success every other setup link dies too.
    async fn create_first_admin(
        &self,
        token: &TokenHash,
        account: &NewAccount,
        now: UnixTime,
    ) -> Result<FirstAdmin, StoreError>;
    /// Accounts whose e-mail contains `query` (all when `None`), by e-mail, after `after`.
    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError>;
    /// Sets the account's password (`password_hash`, argon2id) and ends every session of it
    /// but `keep`, with `journal`, in one transaction.
    async fn set_password(
        &self,
        account: &AccountId,
        password_hash: &str,
        keep: Option<&SessionId>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError>;
}

/// Signed-in sessions.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Inserts a session, appending `journal` (the sign-in's events, whose
    /// `sign_in_succeeded` is the account's last sign-in) in the same transaction.
    async fn create_session(
        &self,
        session: &NewSession,
        journal: Journal<'_>,
    ) -> Result<(), StoreError>;
    /// The session holding this token digest, with its account and whether that has
    /// two-factor enabled, in one query.
    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionLookup>, StoreError>;
    /// [`Store::session_by_token`] together with the account's membership of `workspace`,
    /// in one query (forward-auth runs this before every request of an application).
    async fn session_in_workspace(
        &self,
        token: &TokenHash,
        workspace: &str,
    ) -> Result<Option<WorkspaceSessionLookup>, StoreError>;
    /// Records use of a session.
    async fn touch_session(&self, id: &SessionId, now: UnixTime) -> Result<(), StoreError>;
    /// The account's sessions, newest first.
    async fn list_sessions(&self, account: &AccountId) -> Result<Vec<Session>, StoreError>;
    /// Deletes one of the account's sessions; false when there was none.
    async fn delete_session(&self, account: &AccountId, id: &SessionId)
        -> Result<bool, StoreError>;
    /// Deletes every session that ended before `now` (absolute lifetime).
    async fn purge_expired_sessions(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Failure counters, each changed by compare-and-swap.
#[async_trait]
pub trait Throttles: Send + Sync {
    /// The failure counter stored under `key`.
    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError>;
    /// Replaces the counter under `key` with `new` if it still equals `expected`. False when
    /// another request changed it first. `None` expects no failures: no counter, or one
    /// that counts none (a success leaves one); every counter an attempt stores counts at
    /// least its own failure, so of the attempts that expect none only one goes through.
    async fn swap_counter(
        &self,
        key: &str,
        expected: Option<&Counter>,
        new: &Counter,
    ) -> Result<bool, StoreError>;
    /// Takes back one provisionally counted failure (the attempt succeeded).
    async fn refund_failure(&self, key: &str) -> Result<(), StoreError>;
    /// Forgets the failures under `key` (after a success).
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;
}

/// An account's authenticator and the last TOTP step it accepted.
#[async_trait]
pub trait TwoFactors: Send + Sync {
    /// The account's authenticator (default: nothing configured).
    async fn two_factor(&self, account: &AccountId) -> Result<TwoFactorRecord, StoreError>;
    /// Starts (or restarts) an enrolment with a new sealed secret, replacing any pending one.
    async fn start_enrollment(
        &self,
        account: &AccountId,
        secret: &Sealed,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Drops a pending enrolment; an enabled secret stays.
    async fn abandon_enrollment(&self, account: &AccountId) -> Result<(), StoreError>;
    /// Confirms the pending enrolment `pending` (if still pending and live): it becomes the
    /// secret, `step` the last accepted step, and `recovery_hashes` the only recovery codes;
    /// `journal` is appended with it. False (and nothing recorded) when that enrolment is no
    /// longer pending.
    async fn confirm_enrollment(
        &self,
        account: &AccountId,
        pending: &Sealed,
        step: i64,
        now: UnixTime,
        recovery_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<bool, StoreError>;
    /// Accepts TOTP `step` if it is later than the last accepted one (one conditional
    /// update). False when it is not: the code was already used.
    async fn accept_step(&self, account: &AccountId, step: i64) -> Result<bool, StoreError>;
    /// Turns two-factor off: deletes the secret, any pending enrolment and the recovery
    /// codes, and appends `journal`. False (and nothing recorded) when it was not enabled.
    async fn disable_two_factor(
        &self,
        account: &AccountId,
        journal: Journal<'_>,
    ) -> Result<bool, StoreError>;
}

/// Hashed recovery codes, each spent once.
#[async_trait]
pub trait RecoveryCodes: Send + Sync {
    /// Unused recovery codes left.
    async fn recovery_codes_remaining(&self, account: &AccountId) -> Result<u32, StoreError>;
    /// Uses a recovery code (one conditional delete). False when it is not (or no longer)
    /// one of the account's codes.
    async fn consume_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<bool, StoreError>;
    /// Replaces every recovery code of the account with these, at once, and appends
    /// `journal`.
    async fn replace_recovery_codes(
        &self,
        account: &AccountId,
        code_hashes: &[Vec<u8>],
        journal: Journal<'_>,
    ) -> Result<(), StoreError>;
    /// Adds one recovery code (rotation on use).
    async fn add_recovery_code(
        &self,
        account: &AccountId,
        code_hash: &[u8],
    ) -> Result<(), StoreError>;
}

/// Second-factor challenges opened by a right password.
#[async_trait]
pub trait Challenges: Send + Sync {
    /// Stores a sign-in challenge under the digest of its token.
    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        first_factor: FirstFactor,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The challenge with this token digest.
    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError>;
    /// Counts a wrong second factor on the challenge; returns the new count (0 when the
    /// challenge is gone).
    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError>;
    /// Deletes the challenge; true for exactly one caller (single use).
    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError>;
}

/// The statements of a sign-in that span aggregates: what a password attempt reads, settling a
/// right password, and completing a second factor.
#[async_trait]
pub trait SignIns: Accounts + Throttles + Send + Sync {
    /// What a password attempt reads before its counters are swapped: the counters under
    /// `address` and `account_key`, and the account with `email` (none when `None`).
    /// PostgreSQL reads them in one statement; by default, one read each.
    async fn password_attempt(
        &self,
        address: &str,
        account_key: &str,
        email: Option<&Email>,
    ) -> Result<PasswordAttempt, StoreError> {
        Ok(PasswordAttempt {
            address: self.throttle_counter(address).await?,
            account_counter: self.throttle_counter(account_key).await?,
            account: match email {
                Some(email) => self.account_by_email(email).await?,
                None => None,
            },
        })
    }
    /// Settles a right password in one transaction (see [`PasswordSettlement`]), appending
    /// `journal`.
    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
        journal: Journal<'_>,
    ) -> Result<(), StoreError>;
    /// The challenge with this token digest together with its account, the account's
    /// authenticator and the failure counter stored under `counter_prefix` + account id,
    /// in one query.
    async fn challenge_context(
        &self,
        token: &TokenHash,
        counter_prefix: &str,
    ) -> Result<Option<ChallengeContext>, StoreError>;
    /// Completes a sign-in in one transaction (see [`SignInCompletion`]), appending
    /// `journal`. Nothing changes unless it ends `SignedIn`, except that a step accepted
    /// (or a WebAuthn ceremony spent) for a challenge that was used up meanwhile stays
    /// used.
    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError>;
    /// Counts a second-factor failure judged against a challenge ticket: `failure` stored
    /// under `key` from "no failures", as [`Store::swap_counter`] with `None` does, but in
    /// line with [`Store::complete_sign_in`]. On PostgreSQL it takes the completions' queue
    /// and statement, so a wrong code is counted by the very path a right one completes by,
    /// at the same cost, and a database that fails, fails both alike. False when the
    /// counter already held failures (nothing changed).
    async fn count_judged_failure(
        &self,
        account: &AccountId,
        key: &str,
        failure: &Counter,
    ) -> Result<bool, StoreError> {
        let _ = account;
        self.swap_counter(key, None, failure).await
    }
}

/// The security journal.
#[async_trait]
pub trait Events: Send + Sync {
    /// Appends a security event and, in the same transaction, the deliveries it calls for
    /// on the configured `channels` (see [`notifies`]).
    async fn record_event(&self, event: &NewEvent, channels: Channels) -> Result<(), StoreError>;
    /// The account's events, newest first, with ids below `before` when given.
    async fn account_events(
        &self,
        account: &AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
    /// The workspace's events, newest first.
    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
    /// Events matching `filter`, newest first.
    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError>;
}

/// Instance secrets and re-sealing every sealed secret under a new key.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// A named instance secret.
    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError>;
    /// Stores a named instance secret unless one exists (the first node to start wins).
    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError>;
    /// Every sealed secret, for re-sealing under a new master key.
    async fn sealed_secrets(&self) -> Result<Vec<(SealedSlot, Sealed)>, StoreError>;
    /// Replaces a sealed secret if it is still `old`; false when it changed meanwhile.
    async fn reseal(
        &self,
        slot: &SealedSlot,
        old: &Sealed,
        new: &Sealed,
    ) -> Result<bool, StoreError>;
}

/// Workspaces, members, invitations, enforcement and the instance policy.
#[async_trait]
pub trait Workspaces: Send + Sync {
    /// Creates a workspace with `owner` as its first owner.
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &AccountId,
    ) -> Result<(), StoreError>;
    /// The account's workspaces and its role in each, by name.
    async fn account_workspaces(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(Workspace, Role)>, StoreError>;
    /// The workspace and the account's role in it, when it is a member.
    async fn membership(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<Option<(Workspace, Role)>, StoreError>;
    /// Every member, with whether each has two-factor enabled.
    async fn members(&self, workspace: &str) -> Result<Vec<Member>, StoreError>;
    /// Stores a workspace's enforcement settings.
    async fn set_enforcement(&self, workspace: &Workspace) -> Result<(), StoreError>;
    /// Stores an invitation under the digest of its token.
    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token: &TokenHash,
    ) -> Result<(), StoreError>;
    /// The invitation with this token digest.
    async fn invitation(&self, token: &TokenHash) -> Result<Option<Invitation>, StoreError>;
    /// Consumes a live invitation and makes `account` a member with its role, at once.
    /// `None` when the invitation is unknown, used or expired.
    async fn accept_invitation(
        &self,
        token: &TokenHash,
        account: &AccountId,
        now: UnixTime,
    ) -> Result<Option<Invitation>, StoreError>;
    /// Changes a member's role, never leaving the workspace without an owner.
    async fn change_role(
        &self,
        workspace: &str,
        account: &AccountId,
        role: Role,
    ) -> Result<MemberChange, StoreError>;
    /// Removes a member, never leaving the workspace without an owner.
    async fn remove_member(
        &self,
        workspace: &str,
        account: &AccountId,
    ) -> Result<MemberChange, StoreError>;
    /// The instance-wide requirement as stored.
    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError>;
    /// Stores the instance-wide requirement.
    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError>;
}

/// Admin resets of two-factor and the reset requests that ask for them.
#[async_trait]
pub trait Resets: Send + Sync {
    /// The audited reset for a lost device, in one transaction: deletes the secret, any
    /// pending enrolment and the recovery codes, ends every session of the account, closes
    /// its reset requests, and appends the event `record` makes of the outcome.
    async fn reset_two_factor(
        &self,
        account: &AccountId,
        now: UnixTime,
        record: ResetEvent<'_>,
        channels: Channels,
    ) -> Result<ResetOutcome, StoreError>;
    /// Files a lost-device reset request as `id` with its `event`, unless the account has
    /// an open one already (then that one is returned and nothing is recorded). One open
    /// request per account holds under concurrency (a unique index decides).
    async fn create_reset_request(
        &self,
        id: &str,
        account: &AccountId,
        message: &str,
        now: UnixTime,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<FiledRequest, StoreError>;
    /// Open reset requests, oldest first, each with its marks.
    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError>;
    /// The account's open reset request with its marks, if it has one.
    async fn open_reset_request(
        &self,
        account: &AccountId,
    ) -> Result<Option<ResetRequest>, StoreError>;
    /// The open reset requests of the workspace's members, oldest first, each with its
    /// marks (every vouch, through whichever workspace).
    async fn member_reset_requests(&self, workspace: &str)
        -> Result<Vec<ResetRequest>, StoreError>;
    /// Records `vouch` with its `event`, in one transaction, if the request is open, its
    /// account a member of the workspace and the voucher an owner of it (checked in that
    /// transaction); at most once per owner and request, however many race (the primary key
    /// decides).
    async fn vouch_reset_request(
        &self,
        vouch: &NewVouch<'_>,
        event: &NewEvent,
        channels: Channels,
    ) -> Result<VouchOutcome, StoreError>;
}
