//! The requests the store takes and the outcomes it answers, in domain words.

use std::time::Duration;

use crate::domain::account::{Account, Session};
use crate::domain::email::Email;
use crate::domain::event::NewEvent;
use crate::domain::ids::{AccountId, TokenHash};
use crate::domain::notification::Channels;
use crate::domain::throttle::Counter;
use crate::domain::time::UnixTime;
use crate::domain::two_factor::{TwoFactorRecord, TwoFactorSummary};
use crate::domain::workspace::{Role, SecondFactors, Workspace};

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Its id.
    pub id: AccountId,
    /// Normalized e-mail.
    pub email: Email,
    /// Display name.
    pub name: Option<String>,
    /// argon2id PHC string; `None` for an account without a password.
    pub password_hash: Option<String>,
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
    /// How it was signed in, as RFC 8176 method values (`pwd`, `email`, `otp`) separated
    /// by spaces: the factors of the step that starts it. Completing a challenge records the
    /// challenge's first factor before these (`otp`), in the completing statement.
    pub amr: String,
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
    /// The account's second factors (two-factor is on when it has any).
    pub factors: SecondFactors,
    /// The account's authenticator, as `/me` shows it.
    pub two_factor: TwoFactorSummary,
}

/// The columns of an account (decoded by `AccountRow`), for queries naming `accounts a`; the
/// one list every read of an account selects, directly or through [`ACCOUNT_COLUMNS`].
macro_rules! account_columns {
    () => {
        "a.id, a.email, a.name, a.password_hash, a.is_admin, a.created_at, \
         a.email_verified_at, a.suspended_at"
    };
}
pub(crate) use account_columns;

/// The account columns (`account_columns!`) as a constant.
pub(crate) const ACCOUNT_COLUMNS: &str = account_columns!();

/// The account behind a credential with its two-factor summary (decoded by `OwnerRow`), for
/// queries joining `accounts a` and `LEFT JOIN two_factor t` (add [`RECOVERY_COUNT_COLUMN`]
/// or `NULL AS t_recovery_codes`).
macro_rules! owner_columns {
    () => {
        "a.id AS a_id, a.email AS a_email, a.name AS a_name, \
         a.password_hash AS a_password_hash, a.is_admin AS a_is_admin, \
         a.created_at AS a_created_at, \
         a.email_verified_at AS a_email_verified_at, a.suspended_at AS a_suspended_at, \
         (t.secret IS NOT NULL) AS a_has_totp, \
         EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.account_id = a.id) \
             AS a_has_webauthn, \
         COALESCE(t.enabled_at, (SELECT MIN(w.created_at) FROM webauthn_credentials w \
             WHERE w.account_id = a.id)) AS t_enabled_at, \
         t.pending_expires_at AS t_pending_until"
    };
}

/// The owner columns (`owner_columns!`) as a constant.
pub(crate) const OWNER_COLUMNS: &str = owner_columns!();

/// The columns of a [`SessionLookup`] (decoded by `SessionAccountRow`), for queries over
/// `sessions s JOIN accounts a LEFT JOIN two_factor t` (add [`RECOVERY_COUNT_COLUMN`] or
/// `NULL AS t_recovery_codes`).
pub(crate) const SESSION_LOOKUP_COLUMNS: &str = concat!(
    "s.id, s.account_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, ",
    owner_columns!()
);

/// The account's unused recovery codes, for a credential lookup. Forward-auth leaves it out:
/// on PostgreSQL the extra sub-plan cost a fifth of the query.
pub(crate) const RECOVERY_COUNT_COLUMN: &str =
    "(SELECT COUNT(*) FROM recovery_codes r WHERE r.account_id = a.id) AS t_recovery_codes";

/// The columns of an [`AccountSummary`] (decoded by `AccountSummaryRow`), for queries over
/// `accounts a LEFT JOIN two_factor t`. The last sign-in is the time of the account's newest
/// `sign_in_succeeded` event, which every way of signing in records in the commit that starts
/// its session: read backwards along `security_events_by_account`, it stops at the first
/// sign-in it meets, and no sign-in writes the account's row.
pub(crate) const ACCOUNT_SUMMARY_COLUMNS: &str = concat!(
    account_columns!(),
    ", (t.secret IS NOT NULL OR EXISTS (SELECT 1 FROM webauthn_credentials w \
                                      WHERE w.account_id = a.id)) AS has_two_factor, \
     t.pending_expires_at AS pending_until, \
     (SELECT e.at FROM security_events e \
      WHERE e.account_id = a.id AND e.kind = 'sign_in_succeeded' \
      ORDER BY e.id DESC LIMIT 1) AS last_sign_in_at"
);

/// The membership columns of a forward-auth lookup (decoded by `MembershipRow`), for queries
/// joining `LEFT JOIN memberships m LEFT JOIN workspaces w ON w.id = m.workspace_id`.
pub(crate) const MEMBERSHIP_COLUMNS: &str = "w.id AS w_id, w.name AS w_name, \
    w.created_at AS w_created_at, w.enforcement AS w_enforcement, \
    w.grace_period_days AS w_grace_period_days, w.enforced_since AS w_enforced_since, \
    w.required_factor AS w_required_factor, m.role AS m_role";

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
    /// When the link e-mailed to the account's address confirmed it, if it did.
    pub email_confirmed_at: Option<UnixTime>,
    /// The owners who vouched for it, in the order they did.
    pub vouches: Vec<Vouch>,
}

/// An owner's word that a reset request is legitimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouch {
    /// The owner's account.
    pub account_id: AccountId,
    /// The owner's e-mail.
    pub email: String,
    /// The workspace they own that the person belongs to.
    pub workspace_id: String,
    /// When.
    pub at: UnixTime,
}

/// An owner vouching for a member's open reset request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVouch<'a> {
    /// The request.
    pub request_id: &'a str,
    /// The workspace the owner vouches as an owner of.
    pub workspace_id: &'a str,
    /// The owner.
    pub owner: &'a AccountId,
    /// When.
    pub at: UnixTime,
}

/// What vouching did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VouchOutcome {
    /// Recorded now, with its event.
    Vouched,
    /// This owner had vouched for the request already, at this time; nothing changed.
    Already(UnixTime),
    /// The request is not open, its account is not a member of the workspace, or the
    /// voucher is not (or no longer) its owner: nothing changed.
    Refused,
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
    /// When the account last signed in: its newest `sign_in_succeeded` event
    /// ([`ACCOUNT_SUMMARY_COLUMNS`]).
    pub last_sign_in_at: Option<UnixTime>,
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
        /// The sealed secret's bytes ([`crate::domain::sealed::Sealed::blob`]).
        secret: &'a [u8],
    },
    /// A recovery code's keyed hash, used up.
    RecoveryCode(&'a [u8]),
    /// A WebAuthn assertion of the account's credential `credential` (its id here) and its
    /// ceremony, accepted only if its signature `counter` moves the
    /// credential's counter forward (or both are zero).
    WebAuthn {
        /// The credential's id.
        credential: &'a str,
        /// The assertion's signature counter.
        counter: u32,
        /// The key of its ceremony (of purpose `second_factor`, the account's, live), which
        /// the completion deletes: only one completion finds it. `None` is refused.
        ceremony: Option<&'a TokenHash>,
    },
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
    /// the challenge (`None`: no failures, as with [`crate::store::Store::swap_counter`]:
    /// no counter, or one that counts none). The completion happens only if the counter
    /// still reads so; otherwise nothing changes and the answer is
    /// [`Completion::CounterMoved`]. From a value, the counter is swapped to "no failures"
    /// by compare-and-swap, so of concurrent attempts on that value only one goes through,
    /// as with counting first; from no failures nothing is written, so a failure counted
    /// meanwhile by another attempt stays counted.
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
    /// A judged failure ([`crate::store::Store::count_judged_failure`]) was counted.
    FailureCounted,
}
