//! Storage: one [`Store`] trait in domain words, implemented for SQLite (the embedded
//! default) and PostgreSQL (many nodes). All SQL lives below this module; `sqlite.rs` and
//! `postgres.rs` keep the same method order so that a diff between them shows only dialect.
//!
//! Invariants:
//! - Times are unix seconds (`i64`), ids `TEXT`, secrets and digests `BLOB`/`BYTEA`.
//! - Single-use and counted state changes with one conditional statement whose affected
//!   rows are checked; never read-then-write.
//! - A named uniqueness violation becomes [`StoreError::Conflict`] here, and nowhere else.

pub mod cache;
pub mod outbox;
mod postgres;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::event::{Event, EventFilter, NewEvent};
use crate::domain::ids::{AccountId, SessionId, TokenHash};
use crate::domain::notification::{audience, Channels};
use crate::domain::sealed::Sealed;
use crate::domain::throttle::Counter;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::{TwoFactorRecord, TwoFactorSummary};
use crate::domain::workspace::{InstancePolicy, Invitation, Member, Role, Workspace};

pub use outbox::Outbox;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A uniqueness rule the database enforces, named so callers can react to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// Two accounts with one e-mail address.
    AccountEmail,
}

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule refused the write.
    #[error("conflict on {0:?}")]
    Conflict(Constraint),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
    /// The directly driven SQLite connections failed (see `sqlite/direct.rs`).
    #[error("database error: {0}")]
    Embedded(#[from] rusqlite::Error),
    /// A blocking database task failed to finish.
    #[error("database task failed: {0}")]
    Task(String),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A node neither acknowledged a change to remembered data nor let its lease run out
    /// (see `postgres/coherence.rs`); the change is committed, but may not be seen
    /// everywhere yet.
    #[error("a node did not acknowledge a change in time")]
    Unacknowledged,
    /// The database URL names no supported backend.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
}

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Its id.
    pub id: AccountId,
    /// Normalized e-mail.
    pub email: Email,
    /// Display name.
    pub name: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Instance administrator.
    pub is_admin: bool,
    /// Creation time.
    pub created_at: UnixTime,
}

/// A new session to insert.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session as it starts.
    pub session: Session,
    /// Digest of its bearer token.
    pub token_hash: TokenHash,
}

/// What a right password leads to.
#[derive(Debug, Clone, Copy)]
pub enum AfterPassword<'a> {
    /// A session (the account has no second factor).
    Session(&'a NewSession),
    /// A second-factor challenge for `account`, stored under the digest `token`.
    Challenge {
        /// The challenge token's digest.
        token: &'a TokenHash,
        /// Its account.
        account: &'a AccountId,
        /// When it stops being answerable.
        expires_at: UnixTime,
    },
}

/// A right password, settled in one transaction: the account's consecutive failures are
/// forgotten (`clear`), the failure provisionally counted against the client address is
/// taken back (`refund`), and what follows starts (`then`).
#[derive(Debug, Clone, Copy)]
pub struct PasswordSettlement<'a> {
    /// The account's password failure counter.
    pub clear: &'a str,
    /// The client address's failure counter.
    pub refund: &'a str,
    /// The session or challenge to start.
    pub then: AfterPassword<'a>,
}

/// A session found by its token, with what every request needs to know of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLookup {
    /// The session.
    pub session: Session,
    /// Its account.
    pub account: Account,
    /// Whether the account has two-factor enabled.
    pub has_two_factor: bool,
    /// The account's authenticator, as `/me` shows it.
    pub two_factor: TwoFactorSummary,
}

/// The columns of a [`SessionLookup`] (decoded by `SessionAccountRow`), for queries over
/// `sessions s JOIN accounts a LEFT JOIN two_factor t`, without the recovery-code count
/// (add [`RECOVERY_COUNT_COLUMN`] or `NULL AS t_recovery_codes`).
pub(crate) const SESSION_LOOKUP_COLUMNS: &str = "s.id, s.account_id, s.created_at, \
    s.last_seen_at, s.expires_at, s.ip, s.user_agent, a.email AS a_email, a.name AS a_name, \
    a.password_hash AS a_password_hash, a.is_admin AS a_is_admin, \
    a.created_at AS a_created_at, a.last_sign_in_at AS a_last_sign_in_at, \
    (t.secret IS NOT NULL) AS a_has_two_factor, t.enabled_at AS t_enabled_at, \
    t.pending_expires_at AS t_pending_until";

/// The account's unused recovery codes, for a session lookup. Forward-auth leaves it out:
/// on PostgreSQL the extra sub-plan cost a fifth of the query.
pub(crate) const RECOVERY_COUNT_COLUMN: &str =
    "(SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = s.account_id) AS t_recovery_codes";

/// A session, with the account's membership of one workspace (if any), for forward-auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSessionLookup {
    /// The session and its account.
    pub found: SessionLookup,
    /// The workspace and the account's role in it, when it is a member.
    pub membership: Option<(Workspace, Role)>,
}

/// The outcome of redeeming a first-start setup link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstAdmin {
    /// The admin was created and every setup link is now dead.
    Created,
    /// The link is unknown, used, or expired.
    InvalidToken,
    /// An admin exists already; setup links are dead.
    AdminExists,
}

/// A sign-in challenge: the password was right, a second factor is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Whose sign-in.
    pub account_id: AccountId,
    /// When it lapses.
    pub expires_at: UnixTime,
    /// Wrong second factors presented so far.
    pub failures: u32,
}

/// An open lost-device reset request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    /// Its id.
    pub id: String,
    /// Whose account.
    pub account_id: AccountId,
    /// That account's e-mail.
    pub email: String,
    /// What the person wrote.
    pub message: String,
    /// When.
    pub created_at: UnixTime,
}

/// An account as an instance admin sees it in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The account.
    pub account: Account,
    /// Whether two-factor is enabled.
    pub two_factor_enabled: bool,
    /// When a pending enrolment lapses, if one was started.
    pub pending_until: Option<UnixTime>,
}

/// The outcome of changing or removing a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// Done.
    Done,
    /// The account is not a member.
    NotMember,
    /// Refused: the workspace would be left without an owner.
    LastOwner,
}

/// Where a sealed secret lives, for re-sealing under a new master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedSlot {
    /// An account's confirmed TOTP secret.
    TotpSecret(AccountId),
    /// An account's pending TOTP secret.
    PendingSecret(AccountId),
    /// A named instance secret.
    Instance(String),
}

/// Connection settings that do not come from the URL.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections held open.
    pub max_connections: u32,
    /// How long to wait for a connection or a lock.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Events appended in the same transaction as the change they record, and the channels
/// their notifications go out on: a change is never without its audit row, nor an audit
/// row (or notification) without its change.
#[derive(Debug, Clone, Copy)]
pub struct Journal<'a> {
    /// The events, in order.
    pub events: &'a [NewEvent],
    /// The configured notification channels.
    pub channels: Channels,
}

impl<'a> Journal<'a> {
    /// `events`, notified on `channels`.
    pub fn new(events: &'a [NewEvent], channels: Channels) -> Self {
        Self { events, channels }
    }
}

/// What an audited two-factor reset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetOutcome {
    /// Whether two-factor was enabled before.
    pub was_enabled: bool,
    /// Sessions ended.
    pub sessions_revoked: u64,
    /// Reset requests closed.
    pub requests_closed: u64,
}

/// The event recording a reset, made once its outcome is known (inside the transaction).
pub type ResetEvent<'a> = &'a (dyn Fn(&ResetOutcome) -> NewEvent + Sync);

/// The open reset request after filing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiledRequest {
    /// The open request's id.
    pub id: String,
    /// False when the account already had an open request (nothing new was filed).
    pub created: bool,
}

/// What [`Store::password_attempt`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordAttempt {
    /// The failure counter of the client address.
    pub address: Option<Counter>,
    /// The failure counter of the address signed in to.
    pub account_counter: Option<Counter>,
    /// The account signed in to, if there is one.
    pub account: Option<Account>,
}

/// Everything answering a sign-in challenge needs, read at once: the challenge, its
/// account, the account's authenticator, and its second-factor failure counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeContext {
    /// The challenge (possibly expired).
    pub challenge: Challenge,
    /// Whose sign-in.
    pub account: Account,
    /// The account's authenticator.
    pub record: TwoFactorRecord,
    /// The account's second-factor failure counter, if any.
    pub counter: Option<Counter>,
    /// Unused recovery codes (when read).
    pub recovery_codes_remaining: u32,
}

/// The second factor a sign-in is completed with, as the store spends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpentFactor<'a> {
    /// A TOTP step, accepted only if later than the last accepted one, and only while the
    /// account's sealed secret is still `secret` (the one the code was judged against: a
    /// secret reset and re-enrolled meanwhile refuses it).
    Step {
        /// The step.
        step: i64,
        /// The sealed secret's bytes ([`Sealed::blob`]).
        secret: &'a [u8],
    },
    /// A recovery code's keyed hash, used up.
    RecoveryCode(&'a [u8]),
}

/// What follows the use of a recovery code (`[recovery]` policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryFollowUp<'a> {
    /// Nothing.
    Nothing,
    /// Two-factor is turned off (`use_disables_two_factor`).
    DisableTwoFactor,
    /// This new code replaces the used one (`rotate_on_use`).
    AddCode(&'a [u8]),
}

/// A sign-in to complete in one transaction: spend the factor, consume the challenge,
/// clear the failure counter, start the session, record the events.
#[derive(Debug, Clone, Copy)]
pub struct SignInCompletion<'a> {
    /// The challenge's token digest.
    pub challenge: &'a TokenHash,
    /// The factor to spend.
    pub factor: SpentFactor<'a>,
    /// After a recovery code: the policy's follow-up.
    pub follow_up: RecoveryFollowUp<'a>,
    /// The second-factor failure counter to clear.
    pub throttle_key: &'a str,
    /// How that counter stands.
    pub counter: CounterClaim<'a>,
    /// The session to start (its account is the challenge's).
    pub session: &'a NewSession,
    /// Now.
    pub now: UnixTime,
}

/// How a sign-in completion stands with the second-factor failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterClaim<'a> {
    /// This attempt was counted before the factor was checked: the counter is cleared.
    Counted,
    /// The factor was judged in memory without counting, against the counter read with
    /// the challenge (`None`: no counter). The completion happens only if the counter is
    /// still exactly that (a compare-and-swap to "no failures", so of concurrent attempts
    /// on that counter value only one goes through, as with counting first); otherwise
    /// nothing changes and the answer is [`Completion::CounterMoved`].
    Unchanged(Option<&'a Counter>),
}

/// How completing a sign-in ended. On anything but `SignedIn` nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Signed in.
    SignedIn {
        /// Recovery codes left afterwards.
        recovery_codes_remaining: u32,
    },
    /// The step was already accepted (a reused code), or the recovery code is not (or no
    /// longer) one of the account's.
    FactorRefused,
    /// The challenge was used or expired meanwhile.
    ChallengeGone,
    /// Under [`CounterClaim::Unchanged`]: another attempt changed the counter meanwhile.
    CounterMoved,
}

/// Whether recording `event` queues any delivery on `channels`.
pub fn notifies(event: &NewEvent, channels: Channels) -> bool {
    audience(event.kind).is_some() && channels.enabled().next().is_some()
}

/// Everything the server keeps.
#[async_trait]
pub trait Store: Outbox + Send + Sync + 'static {
    /// Applies the embedded migrations for this backend.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Answers when the database is reachable.
    async fn ping(&self) -> Result<(), StoreError>;
    /// This process starts answering session lookups from memory, kept coherent with
    /// every other node (see `cache.rs`); the server calls it, the CLI does not.
    async fn join_cache(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// This process stops answering from memory and leaves the coherence protocol.
    async fn leave_cache(&self) {}

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

    /// Inserts a session and records the sign-in time on its account.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;
    /// Settles a right password in one transaction (see [`PasswordSettlement`]), appending
    /// `journal`.
    async fn settle_password(
        &self,
        settle: &PasswordSettlement<'_>,
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

    /// The failure counter stored under `key`.
    async fn throttle_counter(&self, key: &str) -> Result<Option<Counter>, StoreError>;
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
    /// Replaces the counter under `key` with `new` if it still equals `expected` (`None`:
    /// no counter yet). False when another request changed it first.
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

    /// Stores a sign-in challenge under the digest of its token.
    async fn create_challenge(
        &self,
        token: &TokenHash,
        account: &AccountId,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The challenge with this token digest.
    async fn challenge(&self, token: &TokenHash) -> Result<Option<Challenge>, StoreError>;
    /// Counts a wrong second factor on the challenge; returns the new count (0 when the
    /// challenge is gone).
    async fn count_challenge_failure(&self, token: &TokenHash) -> Result<u32, StoreError>;
    /// Deletes the challenge; true for exactly one caller (single use).
    async fn consume_challenge(&self, token: &TokenHash) -> Result<bool, StoreError>;
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
    /// for a challenge that was used up meanwhile stays used.
    async fn complete_sign_in(
        &self,
        completion: &SignInCompletion<'_>,
        journal: Journal<'_>,
    ) -> Result<Completion, StoreError>;

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

    /// A named instance secret.
    async fn instance_secret(&self, name: &str) -> Result<Option<Sealed>, StoreError>;
    /// Stores a named instance secret unless one exists (the first node to start wins).
    async fn insert_instance_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError>;
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
    /// The workspace's events, newest first.
    async fn workspace_events(
        &self,
        workspace: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
    /// The instance-wide requirement as stored.
    async fn instance_policy(&self) -> Result<Option<InstancePolicy>, StoreError>;
    /// Stores the instance-wide requirement.
    async fn set_instance_policy(&self, policy: &InstancePolicy) -> Result<(), StoreError>;

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
    /// Open reset requests, oldest first.
    async fn open_reset_requests(&self) -> Result<Vec<ResetRequest>, StoreError>;
    /// Accounts whose e-mail contains `query` (all when `None`), by e-mail, after `after`.
    async fn search_accounts(
        &self,
        query: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountSummary>, StoreError>;
    /// Events matching `filter`, newest first.
    async fn events(&self, filter: &EventFilter, limit: u32) -> Result<Vec<Event>, StoreError>;

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

/// Opens the database named by `url` (`sqlite:…` or `postgres://…`) without migrating,
/// behind the node memory of `cache.rs` (used only once [`Store::join_cache`] is called).
pub async fn connect(url: &str, settings: PoolSettings) -> Result<Arc<dyn Store>, StoreError> {
    let (store, coherence): (Arc<dyn Store>, Arc<dyn cache::Coherence>) =
        if url.starts_with("sqlite:") {
            let store = SqliteStore::connect(url, settings).await?;
            let coherence = store.coherence();
            (Arc::new(store), coherence)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let store = PostgresStore::connect(url, settings).await?;
            let coherence = store.coherence();
            (Arc::new(store), coherence)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
    Ok(Arc::new(cache::CachedStore::new(store, coherence)))
}

/// Row shapes shared by both backends (both decode `i64`, `bool`, `TEXT` and blobs alike).
mod rows {
    use super::*;
    use crate::domain::sealed::KeyId;
    use crate::domain::two_factor::PendingEnrollment;
    use crate::domain::workspace::{Enforcement, InstanceScope, PolicySource};

    #[derive(sqlx::FromRow)]
    pub(super) struct AccountRow {
        pub id: String,
        pub email: String,
        pub name: Option<String>,
        pub password_hash: String,
        pub is_admin: bool,
        pub created_at: i64,
        pub last_sign_in_at: Option<i64>,
    }

    impl From<AccountRow> for Account {
        fn from(row: AccountRow) -> Self {
            Account {
                id: AccountId(row.id),
                email: Email::from_stored(row.email),
                name: row.name,
                password_hash: row.password_hash,
                is_admin: row.is_admin,
                created_at: UnixTime(row.created_at),
                last_sign_in_at: row.last_sign_in_at.map(UnixTime),
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct SessionRow {
        pub id: String,
        pub account_id: String,
        pub created_at: i64,
        pub last_seen_at: i64,
        pub expires_at: i64,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
    }

    impl From<SessionRow> for Session {
        fn from(row: SessionRow) -> Self {
            Session {
                id: SessionId(row.id),
                account_id: AccountId(row.account_id),
                created_at: UnixTime(row.created_at),
                last_seen_at: UnixTime(row.last_seen_at),
                expires_at: UnixTime(row.expires_at),
                ip: row.ip,
                user_agent: row.user_agent,
            }
        }
    }

    /// A session joined with its account (columns of the account prefixed `a_`).
    #[derive(sqlx::FromRow)]
    pub(super) struct SessionAccountRow {
        #[sqlx(flatten)]
        pub session: SessionRow,
        pub a_email: String,
        pub a_name: Option<String>,
        pub a_password_hash: String,
        pub a_is_admin: bool,
        pub a_created_at: i64,
        pub a_last_sign_in_at: Option<i64>,
        pub a_has_two_factor: bool,
        pub t_enabled_at: Option<i64>,
        pub t_pending_until: Option<i64>,
        pub t_recovery_codes: Option<i64>,
    }

    /// A session lookup with a membership (`w_` and `m_role` columns, NULL when none).
    #[derive(sqlx::FromRow)]
    pub(super) struct WorkspaceSessionRow {
        #[sqlx(flatten)]
        pub found: SessionAccountRow,
        pub w_id: Option<String>,
        pub w_name: Option<String>,
        pub w_created_at: Option<i64>,
        pub w_enforcement: Option<String>,
        pub w_grace_period_days: Option<i64>,
        pub w_enforced_since: Option<i64>,
        pub m_role: Option<String>,
    }

    impl From<WorkspaceSessionRow> for WorkspaceSessionLookup {
        fn from(row: WorkspaceSessionRow) -> Self {
            let membership = match (row.w_id, row.w_name, row.w_created_at, row.w_enforcement) {
                (Some(id), Some(name), Some(created_at), Some(enforcement)) => {
                    let workspace = WorkspaceRow {
                        id,
                        name,
                        created_at,
                        enforcement,
                        grace_period_days: row.w_grace_period_days.unwrap_or(0),
                        enforced_since: row.w_enforced_since,
                    };
                    Some(
                        WorkspaceRoleRow {
                            workspace,
                            role: row.m_role.unwrap_or_default(),
                        }
                        .into(),
                    )
                }
                _ => None,
            };
            WorkspaceSessionLookup {
                found: row.found.into(),
                membership,
            }
        }
    }

    impl From<SessionAccountRow> for SessionLookup {
        fn from(row: SessionAccountRow) -> Self {
            let account = Account {
                id: AccountId(row.session.account_id.clone()),
                email: Email::from_stored(row.a_email),
                name: row.a_name,
                password_hash: row.a_password_hash,
                is_admin: row.a_is_admin,
                created_at: UnixTime(row.a_created_at),
                last_sign_in_at: row.a_last_sign_in_at.map(UnixTime),
            };
            SessionLookup {
                session: row.session.into(),
                account,
                has_two_factor: row.a_has_two_factor,
                two_factor: TwoFactorSummary {
                    enabled_at: row.t_enabled_at.map(UnixTime),
                    pending_until: row.t_pending_until.map(UnixTime),
                    recovery_codes_remaining: row
                        .t_recovery_codes
                        .map(|count| u32::try_from(count).unwrap_or(0)),
                },
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct TwoFactorRow {
        pub key_id: Option<String>,
        pub secret: Option<Vec<u8>>,
        pub enabled_at: Option<i64>,
        pub last_step: i64,
        pub pending_key_id: Option<String>,
        pub pending_secret: Option<Vec<u8>>,
        pub pending_expires_at: Option<i64>,
    }

    fn sealed(key_id: Option<String>, blob: Option<Vec<u8>>) -> Option<Sealed> {
        match (key_id, blob) {
            (Some(key_id), Some(blob)) => Some(Sealed {
                key_id: KeyId(key_id),
                blob,
            }),
            _ => None,
        }
    }

    impl From<TwoFactorRow> for TwoFactorRecord {
        fn from(row: TwoFactorRow) -> Self {
            let pending = match (
                sealed(row.pending_key_id, row.pending_secret),
                row.pending_expires_at,
            ) {
                (Some(secret), Some(expires_at)) => Some(PendingEnrollment {
                    secret,
                    expires_at: UnixTime(expires_at),
                }),
                _ => None,
            };
            TwoFactorRecord {
                secret: sealed(row.key_id, row.secret),
                enabled_at: row.enabled_at.map(UnixTime),
                last_step: (row.last_step >= 0).then_some(row.last_step),
                pending,
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct ChallengeRow {
        pub account_id: String,
        pub expires_at: i64,
        pub failures: i64,
    }

    impl From<ChallengeRow> for Challenge {
        fn from(row: ChallengeRow) -> Self {
            Challenge {
                account_id: AccountId(row.account_id),
                expires_at: UnixTime(row.expires_at),
                failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct EventRow {
        pub id: i64,
        pub account_id: Option<String>,
        pub actor_id: Option<String>,
        pub kind: String,
        pub at: i64,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
        pub details: String,
    }

    impl From<EventRow> for Event {
        fn from(row: EventRow) -> Self {
            Event {
                id: row.id,
                account_id: row.account_id.map(AccountId),
                actor_id: row.actor_id.map(AccountId),
                kind: row.kind,
                at: UnixTime(row.at),
                ip: row.ip,
                user_agent: row.user_agent,
                details: serde_json::from_str(&row.details).unwrap_or_default(),
            }
        }
    }

    /// One row of the sealed-secret inventory: slot kind, owner or name, key id, blob.
    #[derive(sqlx::FromRow)]
    pub(super) struct SealedRow {
        pub slot: String,
        pub owner: String,
        pub key_id: String,
        pub blob: Vec<u8>,
    }

    impl SealedRow {
        pub(super) fn into_pair(self) -> Option<(SealedSlot, Sealed)> {
            let slot = match self.slot.as_str() {
                "totp" => SealedSlot::TotpSecret(AccountId(self.owner)),
                "pending" => SealedSlot::PendingSecret(AccountId(self.owner)),
                "instance" => SealedSlot::Instance(self.owner),
                _ => return None,
            };
            Some((
                slot,
                Sealed {
                    key_id: KeyId(self.key_id),
                    blob: self.blob,
                },
            ))
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct WorkspaceRow {
        pub id: String,
        pub name: String,
        pub created_at: i64,
        pub enforcement: String,
        pub grace_period_days: i64,
        pub enforced_since: Option<i64>,
    }

    impl From<WorkspaceRow> for Workspace {
        fn from(row: WorkspaceRow) -> Self {
            Workspace {
                id: row.id,
                name: row.name,
                created_at: UnixTime(row.created_at),
                enforcement: Enforcement::parse(&row.enforcement).unwrap_or(Enforcement::Off),
                grace_period_days: u32::try_from(row.grace_period_days).unwrap_or(0),
                enforced_since: row.enforced_since.map(UnixTime),
            }
        }
    }

    /// A workspace with the account's role (column `role`).
    #[derive(sqlx::FromRow)]
    pub(super) struct WorkspaceRoleRow {
        #[sqlx(flatten)]
        pub workspace: WorkspaceRow,
        pub role: String,
    }

    impl From<WorkspaceRoleRow> for (Workspace, Role) {
        fn from(row: WorkspaceRoleRow) -> Self {
            (
                row.workspace.into(),
                Role::parse(&row.role).unwrap_or(Role::Member),
            )
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct MemberRow {
        pub account_id: String,
        pub email: String,
        pub role: String,
        pub has_two_factor: bool,
    }

    impl From<MemberRow> for Member {
        fn from(row: MemberRow) -> Self {
            Member {
                account_id: AccountId(row.account_id),
                email: row.email,
                role: Role::parse(&row.role).unwrap_or(Role::Member),
                has_two_factor: row.has_two_factor,
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct InvitationRow {
        pub id: String,
        pub workspace_id: String,
        pub email: String,
        pub role: String,
        pub invited_by: String,
        pub created_at: i64,
        pub expires_at: i64,
    }

    impl From<InvitationRow> for Invitation {
        fn from(row: InvitationRow) -> Self {
            Invitation {
                id: row.id,
                workspace_id: row.workspace_id,
                email: row.email,
                role: Role::parse(&row.role).unwrap_or(Role::Member),
                invited_by: AccountId(row.invited_by),
                created_at: UnixTime(row.created_at),
                expires_at: UnixTime(row.expires_at),
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct PolicyRow {
        pub require_two_factor: String,
        pub grace_period_days: i64,
        pub enforced_since: Option<i64>,
        pub source: String,
    }

    impl From<PolicyRow> for InstancePolicy {
        fn from(row: PolicyRow) -> Self {
            InstancePolicy {
                scope: InstanceScope::parse(&row.require_two_factor).unwrap_or(InstanceScope::Off),
                grace_period_days: u32::try_from(row.grace_period_days).unwrap_or(0),
                enforced_since: row.enforced_since.map(UnixTime),
                source: if row.source == "admin" {
                    PolicySource::Admin
                } else {
                    PolicySource::Config
                },
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct ResetRequestRow {
        pub id: String,
        pub account_id: String,
        pub email: String,
        pub message: String,
        pub created_at: i64,
    }

    impl From<ResetRequestRow> for ResetRequest {
        fn from(row: ResetRequestRow) -> Self {
            ResetRequest {
                id: row.id,
                account_id: AccountId(row.account_id),
                email: row.email,
                message: row.message,
                created_at: UnixTime(row.created_at),
            }
        }
    }

    /// An account with `has_two_factor`.
    #[derive(sqlx::FromRow)]
    pub(super) struct AccountSummaryRow {
        #[sqlx(flatten)]
        pub account: AccountRow,
        pub has_two_factor: bool,
        pub pending_until: Option<i64>,
    }

    impl From<AccountSummaryRow> for AccountSummary {
        fn from(row: AccountSummaryRow) -> Self {
            AccountSummary {
                account: row.account.into(),
                two_factor_enabled: row.has_two_factor,
                pending_until: row.pending_until.map(UnixTime),
            }
        }
    }

    /// A challenge with its account, authenticator and failure counter (`k_` columns).
    #[derive(sqlx::FromRow)]
    pub(super) struct ChallengeContextRow {
        #[sqlx(flatten)]
        pub challenge: ChallengeRow,
        #[sqlx(flatten)]
        pub account: AccountRow,
        #[sqlx(flatten)]
        pub two_factor: TwoFactorRow,
        pub k_failures: Option<i64>,
        pub k_window_start: Option<i64>,
        pub k_locked_until: Option<i64>,
        pub recovery_codes_remaining: i64,
    }

    impl From<ChallengeContextRow> for ChallengeContext {
        fn from(row: ChallengeContextRow) -> Self {
            let counter =
                CounterRow::joined(row.k_failures, row.k_window_start, row.k_locked_until);
            ChallengeContext {
                challenge: row.challenge.into(),
                account: row.account.into(),
                record: row.two_factor.into(),
                counter,
                recovery_codes_remaining: u32::try_from(row.recovery_codes_remaining).unwrap_or(0),
            }
        }
    }

    #[derive(sqlx::FromRow)]
    pub(super) struct CounterRow {
        pub failures: i64,
        pub window_start: i64,
        pub locked_until: i64,
    }

    impl CounterRow {
        /// The counter of a `LEFT JOIN`: none when the join found no row.
        pub fn joined(
            failures: Option<i64>,
            window_start: Option<i64>,
            locked_until: Option<i64>,
        ) -> Option<Counter> {
            match (failures, window_start, locked_until) {
                (Some(failures), Some(window_start), Some(locked_until)) => Some(
                    CounterRow {
                        failures,
                        window_start,
                        locked_until,
                    }
                    .into(),
                ),
                _ => None,
            }
        }
    }

    impl From<CounterRow> for Counter {
        fn from(row: CounterRow) -> Self {
            Counter {
                failures: u32::try_from(row.failures).unwrap_or(u32::MAX),
                window_start: UnixTime(row.window_start),
                locked_until: UnixTime(row.locked_until),
            }
        }
    }

    /// Maps a unique violation to the named constraint the caller expected.
    pub(super) fn conflict_as(error: sqlx::Error, constraint: Constraint) -> StoreError {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(constraint)
            }
            _ => StoreError::Backend(error),
        }
    }
}
