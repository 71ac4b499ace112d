//! The sign-in flow, shared by every way of signing in: a first factor, then a second one
//! when the account has two-factor, then a session. No HTTP and no SQL here: the JSON API
//! and the pages are thin adapters over [`SignIn`], and the store persists each step's
//! outcome in one transaction.
//!
//! One state machine, in the manner of an authentication session: each step takes the
//! flow's state (nothing yet, or an open challenge read from the store), one credential and
//! `now`, and answers [`Step::Continue`] (a challenge, naming the second factors that may
//! come next), [`Step::Success`] (a session) or an [`Error::Denied`] with its reason. The
//! decisions (what follows a first factor, when a challenge is voided, what follows a used
//! recovery code, which proofs count) are pure functions in [`crate::domain::sign_in`].
//!
//! The factors are units, each in its own module, behind one shape: judged in memory
//! against what was read, then spent by the store with one conditional statement.
//! - [`password`]: the first factor, throttled per address and per client.
//! - [`passkey`]: a passkey with user verification, which signs in alone.
//! - [`email`]: the other first factor, a link or code e-mailed to an account without a
//!   password; and e-mailed tokens for every other purpose, and the `email_code` proof.
//! - [`factor`]: the second factors, an authenticator code, a recovery code and a
//!   security key or passkey ([`webauthn_factor`]; registering one is [`webauthn`]).
//! - [`challenge`]: answering a challenge with a second factor, and completing the sign-in.
//! - [`proof`]: a factor given again to confirm a sensitive change.
//! - [`attempts`]: counting attempts against throttle counters (compare-and-swap).
//!
//! Security: every attempt is counted before its factor is judged, except a right second
//! factor, which claims the counter value it read in the completing transaction (see
//! [`crate::store::CounterClaim`]); so of the attempts that find one counter value only one
//! goes through, on any number of nodes. A database that fails answers
//! [`Error::Store`], never a refusal: a failure is not a wrong password.

pub mod attempts;
pub mod challenge;
pub mod email;
pub mod factor;
pub mod passkey;
pub mod password;
pub mod proof;
pub mod reset_confirm;
pub mod ticket;
pub mod webauthn;
pub mod webauthn_factor;

use std::sync::Arc;

use crate::config::Config;
use crate::domain::account::Session;
use crate::domain::event::{ClientInfo, EventKind, NewEvent};
use crate::domain::ids::{AccountId, SessionId, Token};
use crate::domain::sign_in::Method;
use crate::domain::time::UnixTime;
use crate::keyring::{Keyring, SealError};
use crate::notify::Notifier;
use crate::password_pool::PasswordPool;
use crate::store::{NewSession, Store, StoreError};

/// Why a step refused, in words the adapters turn into answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// Unknown e-mail or wrong password (deliberately indistinguishable).
    InvalidCredentials,
    /// Throttled; retry after this many seconds.
    TooManyAttempts {
        /// Seconds until another attempt is allowed.
        retry_after: u64,
    },
    /// The challenge is unknown, used, voided or expired.
    InvalidChallenge,
    /// A wrong or malformed authenticator code.
    InvalidCode,
    /// An authenticator code whose step was already accepted.
    CodeReused,
    /// A wrong, malformed or used recovery code.
    InvalidRecoveryCode,
    /// The account has no authenticator to check a code against.
    NotEnabled,
    /// An e-mailed link that is not a live token of its purpose (unknown, used, voided by a
    /// newer one, or expired).
    InvalidEmailLink,
    /// An e-mailed code that did not match a live token (or a malformed address or code).
    InvalidEmailCode,
    /// The account is suspended. Said only to someone who gave its right password (or
    /// answered its challenge), so it reveals nothing to anyone else.
    AccountSuspended,
    /// A WebAuthn answer that names no live ceremony of its purpose (unknown, used, or
    /// lapsed): the ceremony must start again.
    InvalidCeremony,
    /// A WebAuthn answer refused: not from this origin, an unknown or removed credential,
    /// a signature that does not verify, no user verification where it is required, or a
    /// signature counter that did not move forward.
    InvalidWebAuthn,
}

/// How a step can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credential was refused.
    #[error("denied: {0:?}")]
    Denied(Denial),
    /// A proof for a sensitive change was refused: the message says why, and that nothing
    /// changed.
    #[error("proof refused")]
    ProofRefused(String),
    /// An address to send to that is not an e-mail address.
    #[error("invalid e-mail address")]
    InvalidEmail,
    /// The flow sends an e-mail and this instance has no SMTP (`[notify] smtp_url`).
    #[error("e-mail is not configured")]
    EmailUnavailable,
    /// WebAuthn needs `public_url` to name a host by its domain name.
    #[error("WebAuthn is not available")]
    WebAuthnUnavailable,
    /// The database failed or could not be reached: nothing was judged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed secret could not be opened (a wrong or missing master key).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Something that must hold did not: a stored secret of the wrong length, or a store
    /// answer that cannot be.
    #[error("broken invariant: {0}")]
    Invariant(&'static str),
}

impl From<Denial> for Error {
    fn from(denial: Denial) -> Self {
        Error::Denied(denial)
    }
}

/// A second factor is due: the challenge to answer.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Single-use challenge token, shown once.
    pub token: Token,
    /// When it lapses.
    pub expires_at: UnixTime,
    /// The second factors that may answer it.
    pub methods: Vec<Method>,
}

/// A completed sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session's bearer token, shown once.
    pub token: Token,
    /// The session.
    pub session: Session,
    /// Unused recovery codes left, when a second factor was answered.
    pub recovery_codes_remaining: Option<u32>,
    /// Whether using a recovery code turned two-factor off.
    pub two_factor_disabled: bool,
    /// The replacement for a used recovery code, shown once.
    pub new_recovery_code: Option<String>,
}

/// Where the flow stands after a step.
#[derive(Debug, Clone)]
pub enum Step {
    /// A second factor is due.
    Continue(Challenge),
    /// Signed in.
    Success(SignedIn),
}

/// The sign-in flow and what it needs; cheap to clone.
#[derive(Clone)]
pub struct SignIn {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    passwords: PasswordPool,
    keys: Arc<Keyring>,
    recovery_key: Arc<[u8; 32]>,
    notifier: Notifier,
    relying_party: Option<Arc<webauthn::RelyingParty>>,
}

impl SignIn {
    /// The flow over these parts.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        passwords: PasswordPool,
        keys: Arc<Keyring>,
        recovery_key: Arc<[u8; 32]>,
        notifier: Notifier,
    ) -> SignIn {
        let relying_party =
            webauthn::RelyingParty::for_public_url(config.public_url.as_str()).map(Arc::new);
        SignIn {
            relying_party,
            config,
            store,
            passwords,
            keys,
            recovery_key,
            notifier,
        }
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A new session for `account` and its token (shown once), not stored yet; `amr` names
    /// the factors of the step that starts it (see [`NewSession::amr`]).
    fn new_session(
        &self,
        account: &AccountId,
        amr: &str,
        client: &ClientInfo,
        now: UnixTime,
    ) -> SessionStart {
        let token = Token::generate();
        let session = Session {
            id: SessionId::generate(),
            account_id: account.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at: self.config.sessions.absolute_end(now),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        };
        let token_hash = token.hash();
        SessionStart {
            token,
            new: NewSession {
                session,
                token_hash,
                amr: amr.to_owned(),
            },
        }
    }

    /// Records an event about `account` done from `client`, waking the outbox workers when
    /// it notifies anyone.
    async fn record(
        &self,
        account: &AccountId,
        kind: EventKind,
        client: &ClientInfo,
        now: UnixTime,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let event = NewEvent::by_owner(account, kind, client, now, details);
        self.notifier.record(self.store(), &event).await
    }

    /// Records an event off the request path. Security: so that a refusal for a real
    /// account answers as fast as one for an unknown address (an insert would wait on the
    /// disk).
    fn record_later(&self, event: NewEvent, what: &'static str) {
        let flow = self.clone();
        tokio::spawn(async move {
            if let Err(error) = flow.notifier.record(flow.store(), &event).await {
                tracing::warn!(?error, "could not record {what}");
            }
        });
    }
}

/// A session about to start, with its token.
struct SessionStart {
    token: Token,
    new: NewSession,
}

impl SessionStart {
    fn signed_in(self) -> SignedIn {
        SignedIn {
            token: self.token,
            session: self.new.session,
            recovery_codes_remaining: None,
            two_factor_disabled: false,
            new_recovery_code: None,
        }
    }
}
